"""ctrlplane volumes as Nomad group volumes, task mounts and docker tmpfs mounts (pure).

- ``persistent``: a group ``volume`` (API ``TaskGroup.Volumes[<name>]``) of the type and
  source that ``NomadConfig.volume_sources`` maps the name to (default: the host volume
  of the same name), mounted into each task that lists it by a ``volume_mount``
  (``VolumeMounts``). Services naming the same volume share it. For ``stateful_set``
  workloads the group volume is ``per_alloc``: allocation ``N`` mounts ``<source>[N]``, so
  every replica has its own data (one volume per replica, created by the operator under
  that name). For ``deployment`` workloads every allocation mounts ``<source>``: the
  allocations on one node share its host directory. Nomad cannot size host volumes and
  CSI volumes are sized when registered, so ``size_mb`` of a persistent volume is the
  operator's volume's business (as with Docker named volumes).
- ``tmpfs``: a docker driver ``mount`` of type ``tmpfs`` at the mount path, limited to
  ``size_mb`` (``tmpfs_options.size`` in bytes; 0: no limit), private to the task and
  emptied when the task's container is recreated (restart, new allocation).

What Nomad cannot mount is refused by :mod:`~ctrlplane.provider.nomad.limits`; the one
refusal that depends on the deploy (canaries with ``per_alloc`` volumes) is
:func:`canary_conflict`, which the translation also guards.
"""

from __future__ import annotations

from ctrlplane.provider.enums import VolumeType, WorkloadKind
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.config import NomadConfig, VolumeSource, VolumeSourceType
from ctrlplane.provider.spec import ProvisionRequest, ServiceSpec

__all__ = [
    "canary_conflict",
    "docker_mounts",
    "group_volumes",
    "per_alloc",
    "persistent_names",
    "source_of",
    "volume_mounts",
]

_MIB = 1024 * 1024


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


def canary_conflict(req: ProvisionRequest, canary: int) -> str:
    """Why ``canary`` > 0 canaries cannot run ``req`` (its volumes are ``per_alloc``,
    which Nomad rejects in jobs with canaries); empty when they can."""
    if canary <= 0 or not per_alloc(req):
        return ""
    return (
        "canary and blue-green deploys place extra allocations beside the old ones, "
        "but a stateful_set's volumes are per allocation (per_alloc), which Nomad "
        "does not allow with canaries: deploy this instance with the rolling strategy"
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
