"""Live progress for people, on standard error, and what state an instance was left in
after Ctrl-C (:func:`run_on_instance` runs a command's work on an existing instance and
says it).

``up``, ``deploy``, ``rollback`` (and ``scale``, ``start``, ``stop``, ``restart``, which
show their own steps) pass a :class:`ProgressView` as the operation's ``events``. It
prints one line per step, started or removed unit, traffic switch and roll-back. Health
probes are not repeated line after line: on a terminal one live line counts down to the
next probe of the unit being gated (``probe web[0] http :8080/ attempt 2: unhealthy
(HTTP 503); next in 3s``); piped, a probe line is printed only when what the probe saw
changes, and once when it turns healthy. A failed step's line says only ``FAILED``: the
error that follows gives the reason once, with the failing probe's evidence and the last
log lines of the new unit (captured while it was failing, secret values redacted). In
JSON mode nothing extra is printed (stdout stays one JSON document, stderr quiet).
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from ctrlplane.cli.context import resolve_instance, run
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
from ctrlplane.provider.health import ProbeResult

if TYPE_CHECKING:
    from rich.live import Live

    from ctrlplane.provider.redaction import Redactor

__all__ = [
    "LOG_LINES_ON_FAILURE",
    "STATE_TIMEOUT",
    "ProgressView",
    "event_line",
    "left_state",
    "progress_subscriber",
    "provision_with_progress",
    "report_interrupted",
    "run_on_instance",
]

T = TypeVar("T")

LOG_LINES_ON_FAILURE = 10
"""How many log lines of a failing new unit a failed deploy shows."""


def _rel(release_id: str) -> str:
    return f" ({release_id})" if release_id else ""


def probe_line(r: ProbeResult) -> str:
    """One line for a probe result."""
    verdict = "healthy" if r.healthy else "unhealthy"
    return (
        f"  probe {r.service}[{r.replica}] {r.kind} {r.target} "
        f"attempt {r.attempt}: {verdict} ({r.observed})"
    )


def event_line(event: ProgressEvent) -> str:
    """One concise human line for a progress event (never a secret: events carry none).

    A failed step and a roll-back say no reason: the error printed at the end says it.
    """
    match event:
        case StepStarted():
            return f"- {event.step}..." + (f" {event.detail}" if event.detail else "")
        case StepFinished():
            return f"- {event.step}: " + ("done" if event.ok else "FAILED")
        case UnitStarted():
            return f"  started {event.service}[{event.replica}]{_rel(event.release_id)}"
        case UnitRemoved():
            return f"  removed {event.service}[{event.replica}]{_rel(event.release_id)}"
        case ProbeObserved():
            return probe_line(event.result)
        case TrafficSwitched():
            return f"- traffic switched {event.from_release or '-'} -> {event.to_release}"
        case RolledBack():
            return f"- rolled back to {event.to_release}"
    return f"- {event.kind}"  # pragma: no cover - every kind is matched above


class _Countdown:
    """The live probe line: re-rendered by rich a few times a second."""

    def __init__(self, result: ProbeResult, interval: float | None) -> None:
        self.result = result
        self.interval = interval
        self.seen = time.monotonic()

    def __rich__(self) -> str:
        line = probe_line(self.result)
        if self.result.healthy:
            return line
        if self.interval:
            left = max(0.0, self.interval - (time.monotonic() - self.seen))
            return f"{line}; next in {left:.0f}s"
        return f"{line}; waiting {time.monotonic() - self.seen:.0f}s"


class ProgressView:
    """Draws progress events (see the module docs); a :data:`Subscriber`.

    ``intervals`` are the probe intervals per service (for the countdown);
    :meth:`watch_logs` lets it capture the log lines of a unit whose probes fail.
    """

    def __init__(self, *, intervals: Mapping[str, float] | None = None, tty: bool | None = None):
        self.intervals = dict(intervals or {})
        self.tty = sys.stderr.isatty() if tty is None else tty
        self._last_probe: dict[tuple[str, int, str], tuple[bool, str]] = {}
        self._unit_started: dict[tuple[str, int], datetime] = {}
        self._live: Live | None = None
        self._countdown: _Countdown | None = None
        self._provider: Provider | None = None
        self._instance_id = ""
        self._redactor: Redactor | None = None
        self.failure_logs: dict[tuple[str, int], list[str]] = {}

    def watch_logs(self, provider: Provider, instance_id: str, redactor: Redactor | None) -> None:
        """Capture the last log lines of units whose probes fail (shown if the deploy fails)."""
        self._provider, self._instance_id, self._redactor = provider, instance_id, redactor

    def line(self, text: str) -> None:
        """Print one line (above the live probe line on a terminal)."""
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            click.echo(text, err=True)

    async def __call__(self, event: ProgressEvent) -> None:
        if isinstance(event, ProbeObserved):
            await self._probe(event.result)
            return
        if isinstance(event, UnitStarted):
            self._unit_started[(event.service, event.replica)] = event.at
        if isinstance(event, StepFinished | TrafficSwitched | RolledBack):
            self._stop_live()
        self.line(event_line(event))

    async def _probe(self, r: ProbeResult) -> None:
        key = (r.service, r.replica, r.target)
        if not r.healthy:
            await self._capture_logs(r)
        if self.tty:
            self._show_live(r)
            if r.healthy:
                self._stop_live()
            return
        seen = (r.healthy, r.observed)
        if self._last_probe.get(key) != seen:
            self._last_probe[key] = seen
            self.line(probe_line(r))

    def _show_live(self, r: ProbeResult) -> None:
        countdown = _Countdown(r, self.intervals.get(r.service))
        if self._live is None:
            from rich.live import Live

            from ctrlplane.cli.output import stderr_console

            self._countdown = countdown
            self._live = Live(countdown, console=stderr_console(), refresh_per_second=4)
            self._live.start()
        else:
            self._countdown = countdown
            self._live.update(countdown)

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def close(self) -> None:
        """End the live line (call when the operation ends, however it ends)."""
        self._stop_live()

    async def _capture_logs(self, r: ProbeResult) -> None:
        if self._provider is None:
            return
        from ctrlplane.provider import LogOptions

        since = self._unit_started.get((r.service, r.replica))
        opts = LogOptions(
            service_name=r.service, replica=r.replica, tail=LOG_LINES_ON_FAILURE, since=since
        )
        try:
            async with asyncio.timeout(5):
                async with self._provider.logs(self._instance_id, opts) as records:
                    lines = [rec.line async for rec in records]
        except (CtrlplaneError, TimeoutError):
            return
        if self._redactor is not None:
            lines = [self._redactor.text(line) for line in lines]
        self.failure_logs[(r.service, r.replica)] = lines

    def annotate(self, exc: BaseException, evidence: list[Any]) -> None:
        """Add the captured log lines of the failing unit to ``exc`` (as notes)."""
        failing = [e for e in evidence if isinstance(e, ProbeResult) and not e.healthy]
        keys = [(e.service, e.replica) for e in failing[-1:]] or list(self.failure_logs)[-1:]
        for key in keys:
            lines = self.failure_logs.get(key)
            if lines:
                body = "\n".join(f"    {line}" for line in lines)
                exc.add_note(f"  last log lines of {key[0]}[{key[1]}] (new release):\n{body}")


def progress_subscriber(
    json_mode: bool, *, intervals: Mapping[str, float] | None = None
) -> ProgressView | None:
    """A :class:`ProgressView` printing on stderr; ``None`` in JSON mode."""
    if json_mode:
        return None
    return ProgressView(intervals=intervals)


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


def run_on_instance(
    provider: Provider, instance: str, tenant: str, work: Callable[[str], Awaitable[T]]
) -> tuple[str, T]:
    """Resolve ``instance`` (an ID or a name of ``tenant``) and run ``work(instance_id)``
    to completion: the ID and what ``work`` returned. Ctrl-C (the work's cleanup has run)
    says what state the instance was left in, or that nothing was changed before it was
    resolved, and exits 130 (:func:`report_interrupted`)."""
    resolved: list[str] = []

    async def go() -> tuple[str, T]:
        iid, _ = await resolve_instance(provider, instance, tenant)
        resolved.append(iid)
        return iid, await work(iid)

    try:
        return run(go())
    except KeyboardInterrupt:
        report_interrupted(provider, resolved[0] if resolved else "", nothing="nothing was changed")
