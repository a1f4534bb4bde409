"""The instance's control Machine (pure): what it records and how it is created.

Every instance has one control Machine (``ctrlplane-control``, ``ctrlplane_role`` =
``control``). It is created with ``skip_launch`` and never started (a stopped Machine
costs only its root file system), from ``FlyConfig.control_image``. It exists to hold,
in Fly itself, what a fresh provider object needs:

- its ``metadata``: the instance (tenant, name, kind), the live spec (``ctrlplane_spec``),
  the live release record (``ctrlplane_release_record``) and the Machines serving it
  (``ctrlplane_units``) (:mod:`.meta`);
- its configuration versions: every release is one ``update`` of it, so
  ``GET .../versions`` lists the release history (each version's metadata holds that
  release's record and spec), the source of ``releases()`` and ``rollback``;
- its Machine lease: the instance's operation lease
  (:mod:`~ctrlplane.provider.fly.leases`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from ctrlplane.provider.fly.config import FlyConfig
from ctrlplane.provider.fly.render import meta
from ctrlplane.provider.fly.render.names import CONTROL_NAME
from ctrlplane.provider.native import JSON
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["control_body", "control_config"]


def control_config(
    req: ProvisionRequest,
    release: Release | None,
    config: FlyConfig,
    units: Mapping[str, Sequence[str]] | None = None,
) -> JSON:
    """The control Machine's configuration recording ``req`` (the live spec), the live
    ``release`` (``None``: a provision that has not finished yet) and the Machines that
    serve it (``units``: service -> Machine ID per replica)."""
    metadata = {
        meta.INSTANCE: req.instance_id,
        meta.TENANT: req.tenant_id,
        meta.NAME: req.name,
        meta.KIND: str(req.kind),
        meta.ROLE: meta.CONTROL,
        meta.SPEC: req.model_dump_json(),
    }
    if release is not None:
        metadata[meta.RELEASE] = release.release_id
        metadata[meta.RECORD] = release.model_dump_json()
        metadata[meta.UNITS] = json.dumps(
            {name: list(ids) for name, ids in (units or {}).items()}, separators=(",", ":")
        )
    return {
        "image": config.control_image,
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
        "restart": {"policy": "no"},
        "metadata": metadata,
    }


def control_body(req: ProvisionRequest, config: FlyConfig, region: str) -> JSON:
    """The ``CreateMachineRequest`` of the instance's control Machine (not launched)."""
    return {
        "name": CONTROL_NAME,
        "region": region,
        "skip_launch": True,
        "config": control_config(req, None, config),
    }
