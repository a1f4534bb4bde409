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

from ctrlplane.provider.events import StepFinished, StepStarted, Subscriber, UnitStarted, emit
from ctrlplane.provider.nomad.status import alloc_replica

__all__ = ["Steps", "UnitReporter", "started_units"]

JSON = dict[str, Any]


class Steps:
    """The step an operation is at, reported to an optional subscriber."""

    def __init__(self, instance_id: str, events: Subscriber | None) -> None:
        self.instance_id = instance_id
        self.events = events
        self.current = ""
        self._open = False

    async def enter(self, step: str, detail: str = "") -> None:
        """Finish the open step (successfully), then start ``step``."""
        await self.finish()
        self.current, self._open = step, True
        await emit(self.events, StepStarted(instance_id=self.instance_id, step=step, detail=detail))

    async def finish(self, detail: str = "") -> None:
        """Finish the open step successfully (no-op when none is open)."""
        await self._close(ok=True, detail=detail)

    async def fail(self, detail: str) -> None:
        """Finish the open step as failed; ``detail`` says why (never a secret value)."""
        await self._close(ok=False, detail=detail or "failed")

    async def _close(self, *, ok: bool, detail: str) -> None:
        if not self._open:
            return
        self._open = False
        await emit(
            self.events,
            StepFinished(instance_id=self.instance_id, step=self.current, ok=ok, detail=detail),
        )


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
