"""Typed progress events of long operations (provision, deploy, rollback, scale).

Beyond Go. A caller passes a :data:`Subscriber` (a plain or async callable) to an
operation; the provider calls it with each event as the work proceeds. The CLI draws
them. A subscriber that raises is logged and ignored: it never breaks the operation.
Events carry no secret values.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import Field

from ctrlplane.provider._wire import Timestamp, WireModel
from ctrlplane.provider.failures import describe_failure
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.liblog import library_logger

__all__ = [
    "ProbeObserved",
    "ProgressEvent",
    "RolledBack",
    "StepFinished",
    "StepStarted",
    "StepTracker",
    "Subscriber",
    "TrafficSwitched",
    "UnitRemoved",
    "UnitStarted",
    "describe_failure",
    "emit",
]

log = library_logger("ctrlplane.events")


def _now() -> datetime:
    return datetime.now(UTC)


class _Event(WireModel):
    instance_id: str
    at: Timestamp = Field(default_factory=_now)


class StepStarted(_Event):
    """A named step began (``pull-images``, ``run-inits``, ``gate``, ``switch-traffic``...)."""

    kind: Literal["step_started"] = "step_started"
    step: str
    detail: str = ""


class StepFinished(_Event):
    """A named step ended; ``ok`` false means it failed (``detail`` says why)."""

    kind: Literal["step_finished"] = "step_finished"
    step: str
    ok: bool = True
    detail: str = ""


class UnitStarted(_Event):
    """A service replica (container, pod, allocation) of a release started."""

    kind: Literal["unit_started"] = "unit_started"
    service: str
    replica: int = 0
    release_id: str = ""


class UnitRemoved(_Event):
    """A service replica was stopped and removed (retired, surplus, or cleaned up)."""

    kind: Literal["unit_removed"] = "unit_removed"
    service: str
    replica: int = 0
    release_id: str = ""


class ProbeObserved(_Event):
    """A health probe finished, healthy or not."""

    kind: Literal["probe"] = "probe"
    result: ProbeResult


class TrafficSwitched(_Event):
    """Service names and published endpoints now route to ``to_release``."""

    kind: Literal["traffic_switched"] = "traffic_switched"
    from_release: str = ""
    to_release: str


class RolledBack(_Event):
    """The instance was returned to ``to_release`` because of ``reason``."""

    kind: Literal["rolled_back"] = "rolled_back"
    to_release: str
    reason: str


ProgressEvent = Annotated[
    StepStarted
    | StepFinished
    | UnitStarted
    | UnitRemoved
    | ProbeObserved
    | TrafficSwitched
    | RolledBack,
    Field(discriminator="kind"),
]
"""Any progress event; ``kind`` tells which."""

Subscriber = Callable[[ProgressEvent], Awaitable[None] | None]


async def emit(subscriber: Subscriber | None, event: ProgressEvent) -> None:
    """Deliver ``event`` to ``subscriber`` (if any); a failing subscriber is only logged."""
    if subscriber is None:
        return
    try:
        result = subscriber(event)
        if result is not None:
            await result
    except Exception:
        log.exception("progress subscriber failed on %s event; ignored", event.kind)


class StepTracker:
    """The open step of one operation, reported to an optional subscriber as
    ``StepStarted``/``StepFinished`` pairs that never nest: entering a step finishes
    the open one (successfully); :meth:`fail` finishes it with ``ok`` false and a
    detail saying why. ``current`` names the last step entered (for error messages)."""

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

    async def finish(self, *, ok: bool = True, detail: str = "") -> None:
        """Finish the open step, if any; ``ok`` false with ``detail`` saying why."""
        if not self._open:
            return
        self._open = False
        await emit(
            self.events,
            StepFinished(instance_id=self.instance_id, step=self.current, ok=ok, detail=detail),
        )

    async def fail(self, detail: str) -> None:
        """Finish the open step as failed; ``detail`` says why (never a secret value)."""
        await self.finish(ok=False, detail=detail or "failed")

    @contextlib.asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run a block; an exception (or cancellation) escaping it fails the open step
        with :func:`describe_failure` of it."""
        try:
            yield
        except BaseException as exc:
            await self.fail(describe_failure(exc))
            raise
