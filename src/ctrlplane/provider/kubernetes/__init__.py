"""The Kubernetes backend: :class:`KubernetesProvider` on one cluster, via ``lightkube``.

Install with ``pip install 'ctrlplane[kubernetes]'``; importing this package without
``lightkube`` raises :class:`~ctrlplane.errors.MissingExtra` naming that command.

Configuration is :class:`KubernetesConfig` (every field overridable as
``CTRLPLANE_K8S_<FIELD>``). The backend follows the floor plan of
``docs/architecture.md``: :mod:`~ctrlplane.provider.kubernetes.client` (the only module
that talks to the API server, through lightkube), :mod:`~ctrlplane.provider.kubernetes.render`
(pure: spec -> manifests), :mod:`~ctrlplane.provider.kubernetes.observe` (pure: what the
server returned -> our results), :mod:`~ctrlplane.provider.kubernetes.limits` (what it
refuses, and why), the operation modules (``provisioning``, ``lifecycle``, ``inspection``,
``deploys`` with ``strategies`` and ``recovery``, ``usage``, ``logs``, ``execution``) taking a
:class:`~ctrlplane.provider.kubernetes.context.Context`, and the thin facade
:mod:`~ctrlplane.provider.kubernetes.provider`. See ``docs/kubernetes.md``.
"""

from __future__ import annotations

from ctrlplane.errors import MissingExtra

try:
    import lightkube as _lightkube  # noqa: F401
    import lightkube.models as _models  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingExtra("kubernetes", "lightkube") from None

from ctrlplane.provider.kubernetes.config import (
    KubernetesConfig,
    LogStreams,
    ServiceType,
    SidecarMode,
)
from ctrlplane.provider.kubernetes.provider import CAPABILITIES, KubernetesProvider

__all__ = [
    "CAPABILITIES",
    "KubernetesConfig",
    "KubernetesProvider",
    "LogStreams",
    "ServiceType",
    "SidecarMode",
]
