"""Typed progress events of long operations (provision, deploy, rollback, scale).

Beyond Go. A caller passes a :data:`Subscriber` (a plain or async callable) to an
operation; the provider calls it with each event as the work proceeds. The CLI draws
them. A subscriber that raises is logged and ignored: it never breaks the operation.
Events carry no secret values.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import Field

from ctrlplane.provider._wire import Timestamp, WireModel
from ctrlplane.provider.health import ProbeResult

__all__ = [
    "ProbeObserved",
    "ProgressEvent",
    "RolledBack",
    "StepFinished",
    "StepStarted",
    "Subscriber",
    "TrafficSwitched",
    "UnitRemoved",
    "UnitStarted",
    "emit",
]

log = logging.getLogger("ctrlplane.events")


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
