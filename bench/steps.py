"""Where an operation's time goes, from its progress events.

:class:`StepClock` is a progress subscriber (``provision(req, events=clock.record)``):
it notes when each ``StepStarted``/``StepFinished`` arrives (steps never nest) and
``UnitStarted`` events, and sums the seconds per step name, plus the time before the
first step and after the last one (validation, opening the session, returning). Within a
step, each unit's start is also timed from the previous unit's (or the step's start).
"""

from __future__ import annotations

import time
from typing import Any

from ctrlplane.provider.events import ProgressEvent, StepFinished, StepStarted, UnitStarted

__all__ = ["StepClock"]


class StepClock:
    """Times the steps of one operation (see the module docstring)."""

    def __init__(self) -> None:
        self._started = 0.0
        self._stopped = 0.0
        self._open: tuple[str, float] | None = None
        self._first = 0.0
        self._last = 0.0
        self._spans: list[tuple[str, float, float, bool]] = []
        self._units: list[tuple[str, float]] = []
        self._unit_gaps: dict[str, float] = {}
        self._extra: list[tuple[str, float]] = []

    def start(self) -> None:
        """The operation is called now."""
        self._started = time.monotonic()

    def stop(self) -> None:
        """The operation returned now."""
        self._stopped = time.monotonic()

    def record(self, event: ProgressEvent) -> None:
        """The subscriber: note ``event`` with the time it arrived."""
        now = time.monotonic() - self._started
        if isinstance(event, StepStarted):
            self._open = (event.step, now)
            if not self._spans and not self._first:
                self._first = now
        elif isinstance(event, StepFinished) and self._open is not None:
            name, began = self._open
            self._spans.append((name, began, now - began, event.ok))
            self._open = None
            self._last = now
        elif isinstance(event, UnitStarted):
            self._units.append((event.service, now))
            step_began = self._open[1] if self._open is not None else 0.0
            since = max([step_began] + [at for _, at in self._units[:-1] if at >= step_began])
            key = f"unit started: {event.service} (after the previous one)"
            self._unit_gaps[key] = self._unit_gaps.get(key, 0.0) + (now - since)

    def total(self) -> float:
        """Seconds from :meth:`start` to :meth:`stop`."""
        return self._stopped - self._started

    def add_wait(self, name: str, seconds: float) -> None:
        """A phase outside the operation (e.g. waiting for the endpoint), kept with it."""
        self._extra.append((name, seconds))

    def metrics(self) -> dict[str, float]:
        """Seconds per step name (``step: <name>``), summed over repeats, plus the gaps."""
        out: dict[str, float] = {"step: (before the first step)": self._first}
        for name, _, seconds, _ in self._spans:
            key = f"step: {name}"
            out[key] = out.get(key, 0.0) + seconds
        out["step: (after the last step)"] = max(self.total() - self._last, 0.0)
        for name, seconds in self._extra:
            out[f"step: {name}"] = seconds
        out.update(self._unit_gaps)
        return out

    def timeline(self) -> list[dict[str, Any]]:
        """The steps in order with their start offsets, and when each unit started."""
        spans: list[dict[str, Any]] = [
            {"step": name, "at_s": round(at, 4), "seconds": round(sec, 4), "ok": ok}
            for name, at, sec, ok in self._spans
        ]
        spans += [{"unit_started": svc, "at_s": round(at, 4)} for svc, at in self._units]
        return sorted(spans, key=lambda s: float(s["at_s"]))
