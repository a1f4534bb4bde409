"""Live progress for people: one line per library progress event on stderr, and what
state an instance was left in after Ctrl-C.

``up``, ``deploy`` and ``rollback`` pass :func:`progress_subscriber` as the operation's
``events``. In JSON mode nothing extra is printed (stdout stays one JSON document,
stderr quiet).
"""

from __future__ import annotations

import asyncio
import inspect
from typing import NoReturn

import click

from ctrlplane.errors import CtrlplaneError, InstanceNotFound
from ctrlplane.provider import Provider, ProvisionRequest, ProvisionResult, ReleaseHistory
from ctrlplane.provider.events import (
    ProbeObserved,
    ProgressEvent,
    RolledBack,
    StepFinished,
    StepStarted,
    Subscriber,
    TrafficSwitched,
    UnitRemoved,
    UnitStarted,
)

__all__ = [
    "STATE_TIMEOUT",
    "event_line",
    "left_state",
    "progress_subscriber",
    "provision_with_progress",
    "report_interrupted",
]


def _rel(release_id: str) -> str:
    return f" ({release_id})" if release_id else ""


def event_line(event: ProgressEvent) -> str:
    """One concise human line for a progress event (never a secret: events carry none)."""
    match event:
        case StepStarted():
            return f"- {event.step}..." + (f" {event.detail}" if event.detail else "")
        case StepFinished():
            verdict = "done" if event.ok else "FAILED"
            return f"- {event.step}: {verdict}" + (f" ({event.detail})" if event.detail else "")
        case UnitStarted():
            return f"  started {event.service}[{event.replica}]{_rel(event.release_id)}"
        case UnitRemoved():
            return f"  removed {event.service}[{event.replica}]{_rel(event.release_id)}"
        case ProbeObserved():
            r = event.result
            verdict = "healthy" if r.healthy else "unhealthy"
            return (
                f"  probe {r.service}[{r.replica}] {r.kind} {r.target} "
                f"attempt {r.attempt}: {verdict} ({r.observed})"
            )
        case TrafficSwitched():
            return f"- traffic switched {event.from_release or '-'} -> {event.to_release}"
        case RolledBack():
            return f"- rolled back to {event.to_release}: {event.reason}"
    return f"- {event.kind}"  # pragma: no cover - every kind is matched above


def progress_subscriber(json_mode: bool) -> Subscriber | None:
    """A subscriber printing :func:`event_line` to stderr; ``None`` in JSON mode."""
    if json_mode:
        return None

    def show(event: ProgressEvent) -> None:
        click.echo(event_line(event), err=True)

    return show


def _takes_events(method: object) -> bool:
    try:
        params = inspect.signature(method).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return any(p.name == "events" or p.kind is p.VAR_KEYWORD for p in params)


async def provision_with_progress(
    provider: Provider, req: ProvisionRequest, events: Subscriber | None
) -> ProvisionResult:
    """``provider.provision(req, events=events)``; a provider written before ``events``
    existed (a third-party one) is called without it, and shows no progress."""
    if events is not None and _takes_events(provider.provision):
        return await provider.provision(req, events=events)
    return await provider.provision(req)


STATE_TIMEOUT = 15.0
"""Seconds :func:`report_interrupted` waits for the backend to say what state is left."""


async def left_state(provider: Provider, instance_id: str, within: float = STATE_TIMEOUT) -> str:
    """After an interrupted operation: a sentence saying what state the instance is in.

    The status and release reads together get at most ``within`` seconds (an
    unreachable backend must not keep an interrupted command from exiting).
    """
    try:
        async with asyncio.timeout(within):
            return await _left_state(provider, instance_id)
    except TimeoutError:
        return (
            f"state of instance {instance_id} unknown: "
            f"the backend did not answer within {within:g}s"
        )


async def _left_state(provider: Provider, instance_id: str) -> str:
    try:
        status = await provider.status(instance_id)
    except InstanceNotFound:
        return f"instance {instance_id} does not exist (nothing was left behind)"
    except CtrlplaneError as exc:
        return f"state of instance {instance_id} unknown: {exc}"
    text = f"instance {instance_id} is {status.state} (ready {'yes' if status.ready else 'no'})"
    if isinstance(provider, ReleaseHistory):
        try:
            history = await provider.releases(instance_id)
        except CtrlplaneError:
            history = []
        live = next((r for r in history if r.live), None)
        if live is not None:
            text += f", running release {live.release_id}"
    return text


def report_interrupted(
    provider: Provider, instance_id: str, *, nothing: str = "nothing was created"
) -> NoReturn:
    """Ctrl-C ended an operation (its cleanup has run): say what state the instance was
    left in, on stderr, and exit 130. ``nothing`` is said when no instance was reached
    yet (``instance_id`` empty)."""
    try:
        text = (
            asyncio.run(left_state(provider, instance_id, STATE_TIMEOUT))
            if instance_id
            else nothing
        )
    except KeyboardInterrupt:
        text = f"state of instance {instance_id} not checked"
    click.echo(f"interrupted; cleanup ran; {text}", err=True)
    raise SystemExit(130)
