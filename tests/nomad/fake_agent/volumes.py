"""The fake agent's volumes: host volumes of its one client node and registered CSI volumes.

Like Nomad, the scheduler places an allocation only on a node that has every group
volume it requests (:meth:`NodeVolumes.unplaceable` returns the scheduler's constraint
text otherwise: ``missing compatible host volumes`` / ``missing CSI Volume <id>``), with
``per_alloc`` requests resolved to ``<source>[<index>]``. Each volume's files are one
store that outlives allocations, so data written by one allocation is seen by the next
one mounting the same volume (restart, redeploy, stop and start), and per-allocation
sources keep replicas apart. Tests seed and read the stores through :meth:`data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CSIVolume", "NodeVolumes", "claim_problems", "source_id"]

_SINGLE_NODE = ("single-node-reader-only", "single-node-writer")


def source_id(request: Mapping[str, Any], index: int) -> str:
    """The volume an allocation of ``index`` mounts for group volume ``request``."""
    source = str(request.get("Source", ""))
    return f"{source}[{index}]" if request.get("PerAlloc") else source


@dataclass(frozen=True)
class CSIVolume:
    """A registered CSI volume: its one capability (access and attachment mode)."""

    access_mode: str = "single-node-writer"
    attachment_mode: str = "file-system"


@dataclass
class NodeVolumes:
    """Host volumes of the client node (name -> read only) and CSI volumes per namespace."""

    host: dict[str, bool] = field(default_factory=dict)
    csi: dict[tuple[str, str], CSIVolume] = field(default_factory=dict)
    _stores: dict[tuple[str, ...], dict[str, bytes]] = field(default_factory=dict)

    def declare_host(self, name: str, *, read_only: bool = False) -> None:
        """Declare ``host_volume "<name>"`` on the client node."""
        self.host[name] = read_only

    def register_csi(self, namespace: str, volume_id: str, volume: CSIVolume) -> None:
        """Register CSI volume ``volume_id`` in ``namespace``."""
        self.csi[(namespace, volume_id)] = volume

    def _key(self, namespace: str, request: Mapping[str, Any], index: int) -> tuple[str, ...]:
        vid = source_id(request, index)
        if request.get("Type") == "csi":
            return ("csi", namespace, vid)
        return ("host", vid)

    def unplaceable(self, namespace: str, request: Mapping[str, Any], index: int) -> str | None:
        """The constraint that filters the node for ``request`` at allocation ``index``,
        or ``None`` when the node can mount it."""
        vid = source_id(request, index)
        writable = not request.get("ReadOnly")
        if request.get("Type") == "csi":
            vol = self.csi.get((namespace, vid))
            if vol is None:
                return f"missing CSI Volume {vid}"
            wanted = (request.get("AccessMode"), request.get("AttachmentMode"))
            if wanted != (vol.access_mode, vol.attachment_mode):
                return f"CSI volume {vid} does not have the requested capability"
            return None
        read_only = self.host.get(vid)
        if read_only is None or (read_only and writable):
            return "missing compatible host volumes"
        return None

    def store(
        self, namespace: str, request: Mapping[str, Any], index: int
    ) -> dict[str, bytes] | None:
        """The files of the volume allocation ``index`` mounts (``None``: not on the node)."""
        if self.unplaceable(namespace, request, index) is not None:
            return None
        return self._stores.setdefault(self._key(namespace, request, index), {})

    def data(self, kind: str, *name: str) -> dict[str, bytes]:
        """The files of a volume, for tests: ``data("host", "pg[1]")`` or
        ``data("csi", namespace, "pg[1]")`` (paths relative to the mount point)."""
        return self._stores.setdefault((kind, *name), {})


def claim_problems(group: Mapping[str, Any]) -> list[str]:
    """Registration errors of a group's volume claims that Nomad reports at submit time:
    a single-node CSI volume cannot be claimed by more than one allocation."""
    problems: list[str] = []
    count = int(group.get("Count", 1))
    for name, req in sorted((group.get("Volumes") or {}).items()):
        if not isinstance(req, Mapping) or req.get("Type") != "csi":
            continue
        single = req.get("AccessMode") in _SINGLE_NODE
        if single and count > 1 and not req.get("PerAlloc") and not req.get("ReadOnly"):
            problems.append(
                f"volume {name!r}: volume with {req.get('AccessMode')} access mode allows "
                "only one writer"
            )
    return problems
