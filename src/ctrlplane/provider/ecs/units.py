"""Reporting started units (I/O of events only): ``UnitStarted`` per service of a task."""

from __future__ import annotations

from ctrlplane.provider.ecs.observe.tasks import units_started
from ctrlplane.provider.ecs.render.names import FILES_CONTAINER
from ctrlplane.provider.ecs.waits import OnStarted
from ctrlplane.provider.events import Subscriber, UnitStarted, emit
from ctrlplane.provider.native import JSON

__all__ = ["reporter"]


def reporter(instance_id: str, release_id: str, events: Subscriber | None) -> OnStarted:
    """An ``on_started`` that reports a ``UnitStarted`` for each service of the task."""

    async def started(task: JSON, replica: int) -> None:
        for name in units_started(task):
            if name == FILES_CONTAINER:
                continue
            await emit(
                events,
                UnitStarted(
                    instance_id=instance_id, service=name, replica=replica, release_id=release_id
                ),
            )

    return started
