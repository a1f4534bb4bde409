"""What a Nomad agent's version can run (pure; no I/O).

- Variables (secrets) and native service checks need Nomad 1.4;
- native service discovery (``service_provider = nomad``) needs 1.3;
- the ``*`` datacenter wildcard needs 1.5;
- ``per_alloc`` volumes (``stateful_set`` with persistent volumes) need 1.1 for CSI
  volumes and 1.5 for host volumes (hashicorp/nomad#15780).

:func:`check_version` raises :class:`~ctrlplane.errors.NotSupported` naming the feature
and the version, before anything is registered. An unknown version (``""``) passes.
"""

from __future__ import annotations

import re

from ctrlplane.errors import NotSupported
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.nomad.config import NomadConfig, ServiceProvider, VolumeSourceType
from ctrlplane.provider.nomad.volumes import per_alloc, persistent_names, source_of
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["check_version", "parse_version"]


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``"1.7.7"`` (or ``"1.7.7+ent"``, ``"v1.4.0-beta.1"``) as a tuple; ``None`` if unknown."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def _refuse(feature: str, needs: str, version: str) -> NotSupported:
    return NotSupported(
        "nomad",
        Capability.PROVISION.value,
        detail=f"{feature} needs Nomad {needs} or newer; the agent runs {version}",
    )


def check_version(req: ProvisionRequest, cfg: NomadConfig, version: str) -> None:
    """Raise :class:`NotSupported` when the agent's ``version`` lacks a feature ``req``
    (with ``cfg``) needs."""
    parsed = parse_version(version)
    if parsed is None:
        return
    if parsed < (1, 4, 0) and any(s.secrets for s in req.services):
        raise _refuse("secrets (Nomad Variables)", "1.4", version)
    native = cfg.service_provider == ServiceProvider.NOMAD
    if native and parsed < (1, 3, 0) and any(s.ports or s.health_check for s in req.services):
        raise _refuse("native service discovery", "1.3", version)
    if native and parsed < (1, 4, 0) and any(s.health_check for s in req.services):
        raise _refuse("native service checks", "1.4", version)
    if parsed < (1, 5, 0) and "*" in cfg.datacenters:
        raise _refuse('the "*" datacenter (set datacenters explicitly)', "1.5", version)
    if per_alloc(req):
        kinds = {source_of(cfg, name).type for name in persistent_names(req)}
        if parsed < (1, 5, 0) and VolumeSourceType.HOST in kinds:
            raise _refuse("per-replica host volumes (per_alloc) of a stateful_set", "1.5", version)
        if parsed < (1, 1, 0):
            raise _refuse("per-replica CSI volumes (per_alloc) of a stateful_set", "1.1", version)
