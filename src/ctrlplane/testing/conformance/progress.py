"""Checks on progress events that any provider's own tests can reuse."""

from __future__ import annotations

from collections.abc import Sequence

from ctrlplane.provider.events import ProgressEvent, StepFinished, StepStarted

__all__ = ["check_step_pairs"]


def check_step_pairs(events: Sequence[ProgressEvent]) -> list[StepFinished]:
    """Every ``StepStarted`` is followed by its ``StepFinished`` before the next step
    starts; returns the finished events in order."""
    open_step: str | None = None
    finished: list[StepFinished] = []
    for event in events:
        if isinstance(event, StepStarted):
            assert open_step is None, f"step {event.step!r} started inside {open_step!r}"
            open_step = event.step
        elif isinstance(event, StepFinished):
            assert event.step == open_step, f"{event.step!r} finished, {open_step!r} open"
            open_step = None
            finished.append(event)
    assert open_step is None, f"step {open_step!r} never finished"
    return finished
