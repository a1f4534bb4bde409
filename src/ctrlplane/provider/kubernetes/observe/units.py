"""Which units of an instance started and which went, read from its pods. Pure.

:class:`UnitTracker`, fed the instance's pods at every poll, says which units
(one service of one replica) started since the last poll and which were removed. A unit
starts when its container is first seen running (or having run: a completed init); a unit
is removed when its pod is deleted. Replica numbers are StatefulSet ordinals; pods of a
Deployment are numbered per release and track in the order they appear, reusing the lowest
free number, so the replicas of one release are ``0..n-1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ctrlplane.provider.events import UnitRemoved, UnitStarted
from ctrlplane.provider.kubernetes.observe.pods import replica_order, started_containers
from ctrlplane.provider.kubernetes.render.naming import (
    ANN_RELEASE,
    LABEL_ORDINAL,
    LABEL_TRACK,
    TRACK_STABLE,
)
from ctrlplane.provider.native import JSON

__all__ = ["UnitTracker"]


@dataclass
class _Unit:
    """A pod being tracked: its release, replica number, and the services started in it."""

    release: str
    track: str
    replica: int
    services: set[str] = field(default_factory=set)


class UnitTracker:
    """Which units of an instance started or were removed between polls (pure; see module).

    Events are made for ``instance_id``. :meth:`seed` records the state before an operation
    (nothing is reported for it); :meth:`diff` returns the events since the last call.
    """

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self._units: dict[str, _Unit] = {}

    def seed(self, pods: Sequence[JSON]) -> None:
        """Take ``pods`` as the starting point: their started units are not reported."""
        self.diff(pods)

    def diff(self, pods: Sequence[JSON]) -> list[UnitStarted | UnitRemoved]:
        """Events since the previous call: units removed first, then units started."""
        live = replica_order(pods)
        uids = {str(p["metadata"].get("uid") or p["metadata"]["name"]) for p in live}
        out: list[UnitStarted | UnitRemoved] = []
        for uid in [u for u in self._units if u not in uids]:
            gone = self._units.pop(uid)
            out += [
                UnitRemoved(
                    instance_id=self.instance_id,
                    service=name,
                    replica=gone.replica,
                    release_id=gone.release,
                )
                for name in sorted(gone.services)
            ]
        for pod in live:
            meta = pod["metadata"]
            uid = str(meta.get("uid") or meta["name"])
            unit = self._units.get(uid)
            if unit is None:
                release = str((meta.get("annotations") or {}).get(ANN_RELEASE, ""))
                track = str((meta.get("labels") or {}).get(LABEL_TRACK, TRACK_STABLE))
                unit = _Unit(release, track, self._replica(pod, release, track))
                self._units[uid] = unit
            for name in sorted(started_containers(pod) - unit.services):
                unit.services.add(name)
                out.append(
                    UnitStarted(
                        instance_id=self.instance_id,
                        service=name,
                        replica=unit.replica,
                        release_id=unit.release,
                    )
                )
        return out

    def _replica(self, pod: JSON, release: str, track: str) -> int:
        meta = pod["metadata"]
        if LABEL_ORDINAL in (meta.get("labels") or {}):
            ordinal = str(meta["name"]).rsplit("-", 1)[-1]
            if ordinal.isdigit():
                return int(ordinal)
        taken = {
            u.replica for u in self._units.values() if (u.release, u.track) == (release, track)
        }
        return _lowest_free(taken)


def _lowest_free(taken: Iterable[int]) -> int:
    used = set(taken)
    n = 0
    while n in used:
        n += 1
    return n
