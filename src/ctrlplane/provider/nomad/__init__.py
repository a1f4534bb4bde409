"""The Nomad backend: :class:`NomadProvider` on a Nomad cluster's HTTP API, via ``httpx``.

Install with ``pip install 'ctrlplane[nomad]'``; importing this package without ``httpx``
(or ``httpx-ws``) raises :class:`~ctrlplane.errors.MissingExtra` naming that command.

Quick use::

    from ctrlplane.provider.nomad import NomadConfig, NomadProvider

    provider = NomadProvider(NomadConfig(address="http://127.0.0.1:4646"))
    result = await provider.provision(request)

Configuration is :class:`NomadConfig` (``CTRLPLANE_NOMAD_<FIELD>``, and Nomad's own
``NOMAD_ADDR``, ``NOMAD_TOKEN``, ``NOMAD_NAMESPACE``, ``NOMAD_REGION``).

The floor plan (``docs/architecture.md``): :mod:`.provider` is the facade; the pure
translation from specs to job JSON is :mod:`.render`, the pure reading of what the agent
answered :mod:`.observe`, what the backend cannot do :mod:`.limits`; the HTTP client
(the only user of httpx) :mod:`.client`; the operations are plain async functions of a
:mod:`.context` in :mod:`.provisioning`, :mod:`.lifecycle`, :mod:`.inspection`,
:mod:`.deploys` (with :mod:`.strategies` and :mod:`.waits`), :mod:`.logs` and
:mod:`.execution`, over the small reads and writes of :mod:`.jobs`. See
``docs/nomad.md``.
"""

from __future__ import annotations

# The client is the only module that imports httpx and httpx-ws: importing it first
# raises MissingExtra (naming the pip install) when either is missing.
from ctrlplane.provider.nomad import client as _client  # noqa: F401
from ctrlplane.provider.nomad.config import (
    DependencyHealth,
    NetworkMode,
    NomadConfig,
    ServiceProvider,
    VolumeSource,
    VolumeSourceType,
)
from ctrlplane.provider.nomad.provider import NomadProvider
from ctrlplane.provider.nomad.render import translate

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
