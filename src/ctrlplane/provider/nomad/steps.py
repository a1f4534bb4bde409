"""Progress reporting of long Nomad operations: step pairs and started units.

:class:`Steps` reports ``StepStarted``/``StepFinished`` pairs that never nest: entering a
step finishes the open one (successfully), and :meth:`Steps.fail` finishes it with
``ok`` false and a detail saying why. :func:`started_units` (pure) picks the tasks of
allocations that have started and were not reported yet, so a provision reports one
``UnitStarted`` per service per replica (the allocation index), and nothing for
allocations that already existed before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ctrlplane.provider.events import Subscriber, UnitStarted, emit
from ctrlplane.provider.nomad.status import alloc_replica

__all__ = ["UnitReporter", "started_units"]

JSON = dict[str, Any]


def started_units(
    allocs: Iterable[Mapping[str, Any]], skip: set[str], seen: set[tuple[str, str]]
) -> list[tuple[str, str, int]]:
    """``(alloc ID, task, replica)`` of every task that has started (a ``Started`` task
    event) in ``allocs``, except allocations in ``skip`` and pairs already in ``seen``
    (which this adds to)."""
    out: list[tuple[str, str, int]] = []
    for alloc in allocs:
        alloc_id = str(alloc.get("ID", ""))
        if alloc_id in skip:
            continue
        for task, state in sorted((alloc.get("TaskStates") or {}).items()):
            events = (state or {}).get("Events") or []
            if not any(e.get("Type") == "Started" for e in events):
                continue
            if (alloc_id, task) in seen:
                continue
            seen.add((alloc_id, task))
            out.append((alloc_id, task, alloc_replica(alloc)))
    return out


class UnitReporter:
    """Reports ``UnitStarted`` for tasks of allocations created after it was made."""

    def __init__(
        self, instance_id: str, release_id: str, events: Subscriber | None, existing: set[str]
    ) -> None:
        self.instance_id = instance_id
        self.release_id = release_id
        self.events = events
        self.existing = existing
        self.seen: set[tuple[str, str]] = set()

    async def observe(self, allocs: Iterable[Mapping[str, Any]]) -> None:
        """Report the tasks of ``allocs`` that started since the last call."""
        if self.events is None:
            return
        for _, task, replica in started_units(allocs, self.existing, self.seen):
            await emit(
                self.events,
                UnitStarted(
                    instance_id=self.instance_id,
                    service=task,
                    replica=replica,
                    release_id=self.release_id,
                ),
            )
