"""The Nomad backend: :class:`NomadProvider` on a Nomad cluster's HTTP API, via ``httpx``.

Install with ``pip install 'ctrlplane[nomad]'``; importing this package without ``httpx``
(or ``httpx-ws``) raises :class:`~ctrlplane.errors.MissingExtra` naming that command.

Quick use::

    from ctrlplane.provider.nomad import NomadConfig, NomadProvider

    provider = NomadProvider(NomadConfig(address="http://127.0.0.1:4646"))
    result = await provider.provision(request)

Configuration is :class:`NomadConfig` (``CTRLPLANE_NOMAD_<FIELD>``, and Nomad's own
``NOMAD_ADDR``, ``NOMAD_TOKEN``, ``NOMAD_NAMESPACE``, ``NOMAD_REGION``). The pure
translation from specs to job JSON lives in :mod:`~ctrlplane.provider.nomad.jobspec`
(with :mod:`~ctrlplane.provider.nomad.lifecycle`, :mod:`~ctrlplane.provider.nomad.meta`
and :mod:`~ctrlplane.provider.nomad.volumes`);
the HTTP I/O in :mod:`~ctrlplane.provider.nomad.client`. See ``docs/nomad.md``.
"""

from __future__ import annotations

from ctrlplane.errors import MissingExtra

try:
    import httpx as _httpx  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingExtra("nomad", "httpx") from None
try:
    import httpx_ws as _httpx_ws  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingExtra("nomad", "httpx-ws") from None

from ctrlplane.provider.nomad.config import (
    DependencyHealth,
    NetworkMode,
    NomadConfig,
    ServiceProvider,
    VolumeSource,
    VolumeSourceType,
)
from ctrlplane.provider.nomad.jobspec import translate
from ctrlplane.provider.nomad.provider import NomadProvider

__all__ = [
    "DependencyHealth",
    "NetworkMode",
    "NomadConfig",
    "NomadProvider",
    "ServiceProvider",
    "VolumeSource",
    "VolumeSourceType",
    "translate",
]
