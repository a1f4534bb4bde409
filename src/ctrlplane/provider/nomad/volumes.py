"""ctrlplane volumes as Nomad group volumes, task mounts and docker tmpfs mounts (pure).

- ``persistent``: a group ``volume`` (API ``TaskGroup.Volumes[<name>]``) of the type and
  source that ``NomadConfig.volume_sources`` maps the name to (default: the host volume
  of the same name), mounted into each task
  that lists it by a ``volume_mount`` (``VolumeMounts``). Services naming the same volume
  share it. For ``stateful_set`` workloads the group volume is ``per_alloc``: allocation
  ``N`` mounts ``<source>[N]``, so every replica has its own data (one volume per replica,
  created by the operator under that name). For ``deployment`` workloads every allocation
  mounts ``<source>``: the allocations on one node share its host directory. Nomad cannot
  size host volumes and CSI volumes are sized when registered, so ``size_mb`` of a
  persistent volume is the operator's volume's business (as with Docker named volumes).
- ``tmpfs``: a docker driver ``mount`` of type ``tmpfs`` at the mount path, limited to
  ``size_mb`` (``tmpfs_options.size`` in bytes; 0: no limit), private to the task and
  emptied when the task's container is recreated (restart, new allocation).

Refused with :class:`~ctrlplane.errors.NotSupported` (before any side effect):
``tmpfs`` with a driver other than docker; a CSI volume with ``single-node-writer``
access on a ``deployment`` of more than one replica (one writer claim cannot serve
several allocations: use ``stateful_set`` or a multi-node access mode); canaries with
``per_alloc`` volumes (Nomad rejects ``per_alloc`` in jobs with canaries, so
``canary``/``blue-green`` deploys of a ``stateful_set`` with persistent volumes are refused).
"""

from __future__ import annotations

from typing import Any

from ctrlplane.errors import NotSupported
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import VolumeType, WorkloadKind
from ctrlplane.provider.nomad.config import (
    CSIAccessMode,
    NomadConfig,
    VolumeSource,
    VolumeSourceType,
)
from ctrlplane.provider.spec import ProvisionRequest, ServiceSpec

__all__ = [
    "check_canaries",
    "check_volumes",
    "docker_mounts",
    "group_volumes",
    "per_alloc",
    "persistent_names",
    "source_of",
    "volume_hint",
    "volume_mounts",
]

JSON = dict[str, Any]
_MIB = 1024 * 1024


def _refuse(detail: str, capability: Capability = Capability.VOLUMES) -> NotSupported:
    return NotSupported("nomad", capability.value, detail=detail)


def source_of(cfg: NomadConfig, name: str) -> VolumeSource:
    """The Nomad volume behind ctrlplane volume ``name`` (``source`` filled in)."""
    found = cfg.volume_sources.get(name, VolumeSource())
    return found if found.source else found.model_copy(update={"source": name})


def persistent_names(req: ProvisionRequest) -> list[str]:
    """The persistent volume names of ``req``, each once, in first-use order."""
    names: dict[str, None] = {}
    for svc in req.services:
        for vol in svc.volumes:
            if vol.type is VolumeType.PERSISTENT:
                names.setdefault(vol.name)
    return list(names)


def per_alloc(req: ProvisionRequest) -> bool:
    """Whether the group volumes are ``per_alloc`` (a ``stateful_set`` with persistent
    volumes: allocation ``N`` mounts ``<source>[N]``)."""
    return req.kind is WorkloadKind.STATEFUL_SET and bool(persistent_names(req))


def check_volumes(req: ProvisionRequest, cfg: NomadConfig) -> None:
    """Raise :class:`NotSupported` for volumes this backend cannot mount (module docs)."""
    replicas = max(req.main.resources.replicas, 1)
    for svc in req.services:
        for vol in svc.volumes:
            if vol.type is VolumeType.TMPFS and cfg.driver != "docker":
                raise _refuse(
                    f"tmpfs volume {vol.name!r} of {svc.name!r}: tmpfs mounts are written as "
                    f"docker driver mount blocks, not for driver {cfg.driver!r}"
                )
    if req.kind is WorkloadKind.STATEFUL_SET:
        return
    for name in persistent_names(req):
        src = source_of(cfg, name)
        single = src.access_mode is CSIAccessMode.SINGLE_NODE_WRITER
        if src.type is VolumeSourceType.CSI and single and replicas > 1:
            raise _refuse(
                f"volume {name!r} is CSI volume {src.source!r} with access mode "
                f"single-node-writer, which one allocation can claim, but the deployment "
                f"has {replicas} replicas: use kind stateful_set (one volume per replica, "
                f"{src.source!r}[N]) or register the volume with a multi-node access mode "
                f"and set volume_sources[{name!r}].access_mode"
            )


def check_canaries(req: ProvisionRequest, canary: int) -> None:
    """Raise :class:`NotSupported` when ``canary`` > 0 and the volumes are ``per_alloc``
    (Nomad rejects ``per_alloc`` in jobs that use canaries)."""
    if canary > 0 and per_alloc(req):
        raise _refuse(
            "canary and blue-green deploys place extra allocations beside the old ones, "
            "but a stateful_set's volumes are per allocation (per_alloc), which Nomad "
            "does not allow with canaries: deploy this instance with the rolling strategy",
            Capability.DEPLOY,
        )


def group_volumes(req: ProvisionRequest, cfg: NomadConfig) -> JSON:
    """The group's ``Volumes`` (API JSON), keyed by ctrlplane volume name; empty when
    there are no persistent volumes."""
    out: JSON = {}
    alloc = per_alloc(req)
    for name in persistent_names(req):
        src = source_of(cfg, name)
        entry: JSON = {
            "Name": name,
            "Type": str(src.type),
            "Source": src.source,
            "ReadOnly": False,
            "PerAlloc": alloc,
        }
        if src.type is VolumeSourceType.CSI:
            entry["AccessMode"] = str(src.access_mode)
            entry["AttachmentMode"] = src.attachment_mode
        out[name] = entry
    return out


def volume_mounts(svc: ServiceSpec) -> list[JSON]:
    """The task's ``VolumeMounts`` for its persistent volumes."""
    return [
        {"Volume": vol.name, "Destination": vol.mount_path, "ReadOnly": False}
        for vol in svc.volumes
        if vol.type is VolumeType.PERSISTENT
    ]


def docker_mounts(svc: ServiceSpec) -> list[JSON]:
    """The docker driver ``mount`` blocks for the task's tmpfs volumes (``size`` in
    bytes when ``size_mb`` is set)."""
    mounts: list[JSON] = []
    for vol in svc.volumes:
        if vol.type is not VolumeType.TMPFS:
            continue
        mount: JSON = {"type": "tmpfs", "target": vol.mount_path, "readonly": False}
        if vol.size_mb:
            mount["tmpfs_options"] = [{"size": vol.size_mb * _MIB}]
        mounts.append(mount)
    return mounts


def volume_hint(req: ProvisionRequest, cfg: NomadConfig) -> str:
    """What the operator must provide so the allocations of ``req`` can be placed: each
    persistent volume's Nomad volume (per replica names for ``stateful_set``) and how to
    create it or map another one. Empty without persistent volumes."""
    names = persistent_names(req)
    if not names:
        return ""
    replicas = max(req.main.resources.replicas, 1)
    alloc = per_alloc(req)
    parts: list[str] = []
    for name in names:
        src = source_of(cfg, name)
        wanted = [f"{src.source}[{i}]" for i in range(replicas)] if alloc else [src.source]
        listed = ", ".join(repr(w) for w in wanted)
        if src.type is VolumeSourceType.HOST:
            parts.append(
                f"volume {name!r} needs host volume {listed} on a client node of datacenters "
                f"{list(cfg.datacenters)}: declare host_volume {wanted[0]!r} in the client "
                "configuration (or create a dynamic host volume of that name, Nomad 1.10+)"
            )
        else:
            parts.append(
                f"volume {name!r} needs CSI volume {listed} registered in namespace "
                f"{cfg.namespace!r} with capability access_mode={src.access_mode}, "
                f"attachment_mode={src.attachment_mode} (nomad volume register / create)"
            )
    parts.append(
        "or map the volume names to existing Nomad volumes with NomadConfig.volume_sources "
        "(CTRLPLANE_NOMAD_VOLUME_SOURCES)"
    )
    return "; ".join(parts)
