"""The Kubernetes backend: :class:`KubernetesProvider` on one cluster, via ``lightkube``.

Install with ``pip install 'ctrlplane[kubernetes]'``; importing this package without
``lightkube`` raises :class:`~ctrlplane.errors.MissingExtra` naming that command.

Configuration is :class:`KubernetesConfig` (every field overridable as
``CTRLPLANE_K8S_<FIELD>``). The pure translation from specs to manifests lives in
:mod:`~ctrlplane.provider.kubernetes.render` (from ``metadata``, ``materials``,
``containers`` and ``workloads``); reading pods back in
:mod:`~ctrlplane.provider.kubernetes.podstate`; the shared I/O in
:mod:`~ctrlplane.provider.kubernetes.session`; the operations in their own modules
(``provisioning``, ``lifecycle``, ``status``, ``deploys`` with ``rollout`` and ``recovery``,
``usage``, ``logs``, ``execution``) behind the thin
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
