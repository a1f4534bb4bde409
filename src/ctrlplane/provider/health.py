"""The health-probe engine shared by every backend.

A :class:`~ctrlplane.provider.HealthCheckSpec` describes one of three probes:

- **http** (``path`` set): ``GET http://host:port/path``; healthy on a 2xx or 3xx answer.
- **tcp** (``port`` only): healthy when a connection opens.
- **exec** (``command`` set): run inside the service; healthy on exit 0.

:func:`http_probe` and :func:`tcp_probe` do the network part (asyncio streams, no client
library); exec probes need the backend's exec and are written by each backend. Every
attempt is recorded as a :class:`ProbeResult`, the evidence a failed gate carries.

:func:`run_gate` applies a :class:`ProbePolicy`: wait ``start_period``, then probe every
``interval`` (each attempt bounded by ``timeout``); pass after ``success_threshold``
consecutive successes, fail after ``retries`` consecutive failures or at the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ctrlplane.provider._wire import Timestamp, WireModel
from ctrlplane.provider.spec import HealthCheckSpec

__all__ = [
    "GateOutcome",
    "Probe",
    "ProbeKind",
    "ProbeOutcome",
    "ProbePolicy",
    "ProbeResult",
    "excerpt",
    "http_probe",
    "probe_kind",
    "probe_target",
    "run_gate",
    "tcp_probe",
]

ProbeKind = Literal["http", "tcp", "exec"]

_EXCERPT = 200


def probe_kind(hc: HealthCheckSpec) -> ProbeKind:
    """Which probe ``hc`` describes: exec if it has a command, http if a path, else tcp."""
    if hc.command:
        return "exec"
    return "http" if hc.path else "tcp"


def probe_target(hc: HealthCheckSpec) -> str:
    """A short description of what is probed (``:8080/healthz``, ``:5432``, the argv)."""
    if hc.command:
        return " ".join(hc.command)
    return f":{hc.port}{hc.path}"


def excerpt(data: bytes | str, limit: int = _EXCERPT) -> str:
    """The last ``limit`` characters of output, decoded leniently and stripped."""
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


class ProbeResult(WireModel):
    """One probe attempt: what was probed, when, which attempt, and what was observed.

    ``observed`` is a one-line account (``HTTP 503``, ``connection refused``,
    ``exit code 1: <output excerpt>``); ``status_code`` and ``exit_code`` are set for
    http and exec probes that got that far.
    """

    service: str
    replica: int = 0
    kind: ProbeKind
    target: str
    attempt: int
    healthy: bool
    observed: str
    status_code: int | None = None
    exit_code: int | None = None
    at: Timestamp

    def __str__(self) -> str:
        verdict = "healthy" if self.healthy else "unhealthy"
        return (
            f"{self.kind} probe {self.target} of {self.service} (replica {self.replica}), "
            f"attempt {self.attempt}: {verdict}: {self.observed}"
        )


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """What one raw probe saw, before it is stamped into a :class:`ProbeResult`."""

    healthy: bool
    observed: str
    status_code: int | None = None
    exit_code: int | None = None

    def stamp(
        self, service: str, replica: int, kind: ProbeKind, target: str, attempt: int
    ) -> ProbeResult:
        """The :class:`ProbeResult` of this outcome: attempt ``attempt`` of the ``kind``
        probe of ``target`` on ``service`` (``replica``), at the current time."""
        return ProbeResult(
            service=service,
            replica=replica,
            kind=kind,
            target=target,
            attempt=attempt,
            healthy=self.healthy,
            observed=self.observed,
            status_code=self.status_code,
            exit_code=self.exit_code,
            at=datetime.now(UTC),
        )


async def http_probe(host: str, port: int, path: str, limit: float) -> ProbeOutcome:
    """``GET path`` on ``host:port`` over HTTP/1.0; healthy on 2xx/3xx within ``limit`` s."""
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                hostname = f"[{host}]" if ":" in host else host
                writer.write(
                    f"GET {path or '/'} HTTP/1.0\r\nHost: {hostname}:{port}\r\n"
                    "User-Agent: ctrlplane-probe\r\nConnection: close\r\n\r\n".encode()
                )
                await writer.drain()
                status_line = await reader.readline()
            finally:
                await _close(writer)
    except TimeoutError:
        return ProbeOutcome(False, f"no answer within {limit:g}s")
    except OSError as exc:
        return ProbeOutcome(False, exc.strerror or type(exc).__name__)
    parts = status_line.decode("latin-1").split()
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return ProbeOutcome(False, f"not an HTTP answer: {excerpt(status_line)!r}")
    code = int(parts[1])
    return ProbeOutcome(200 <= code < 400, f"HTTP {code}", status_code=code)


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close a probe's connection; an error while closing is not the probe's outcome."""
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def tcp_probe(host: str, port: int, limit: float) -> ProbeOutcome:
    """Healthy when a TCP connection to ``host:port`` opens within ``limit`` seconds."""
    try:
        async with asyncio.timeout(limit):
            _, writer = await asyncio.open_connection(host, port)
            await _close(writer)
    except TimeoutError:
        return ProbeOutcome(False, f"no connection within {limit:g}s")
    except OSError as exc:
        return ProbeOutcome(False, exc.strerror or type(exc).__name__)
    return ProbeOutcome(True, "connection opened")


@dataclass(frozen=True, slots=True)
class ProbePolicy:
    """Effective probe timing in seconds, with a backend's defaults for unset fields."""

    interval: float = 10.0
    timeout: float = 5.0
    retries: int = 3
    start_period: float = 0.0
    success_threshold: int = 1

    def apply(self, hc: HealthCheckSpec) -> ProbePolicy:
        """This policy with ``hc``'s non-zero interval, timeout and retries taking over."""
        interval = hc.interval.total_seconds() or self.interval
        timeout = hc.timeout.total_seconds() or min(self.timeout, interval)
        return ProbePolicy(
            interval=interval,
            timeout=timeout,
            retries=hc.retries or self.retries,
            start_period=self.start_period,
            success_threshold=self.success_threshold,
        )


@dataclass(frozen=True, slots=True)
class GateOutcome:
    """The verdict of a gate and every probe result behind it, oldest first."""

    passed: bool
    results: list[ProbeResult]
    reason: str

    @property
    def last(self) -> ProbeResult | None:
        return self.results[-1] if self.results else None


Probe = Callable[[], Awaitable[ProbeOutcome]]


async def run_gate(
    probe: Probe,
    policy: ProbePolicy,
    *,
    service: str,
    replica: int,
    kind: ProbeKind,
    target: str,
    deadline: float | None = None,
    on_result: Callable[[ProbeResult], Awaitable[None] | None] | None = None,
) -> GateOutcome:
    """Probe until the gate passes or fails; never raises for an unhealthy service.

    ``deadline`` is a :func:`time.monotonic` instant after which the gate fails with the
    results so far. ``on_result`` sees every result as it happens (for progress events).
    Cancellation propagates.
    """
    results: list[ProbeResult] = []
    successes = failures = 0
    if policy.start_period > 0:
        await _sleep_until_deadline(policy.start_period, deadline)
    attempt = 0
    while True:
        attempt += 1
        started = time.monotonic()
        try:
            async with asyncio.timeout(policy.timeout):
                outcome = await probe()
        except TimeoutError:
            outcome = ProbeOutcome(False, f"probe did not finish within {policy.timeout:g}s")
        result = outcome.stamp(service, replica, kind, target, attempt)
        results.append(result)
        if on_result is not None:
            maybe = on_result(result)
            if maybe is not None:
                await maybe
        if outcome.healthy:
            successes, failures = successes + 1, 0
            if successes >= policy.success_threshold:
                return GateOutcome(True, results, "healthy")
        else:
            successes, failures = 0, failures + 1
            if failures >= policy.retries:
                return GateOutcome(
                    False, results, f"{failures} consecutive failed probes: {outcome.observed}"
                )
        pause = max(0.0, policy.interval - (time.monotonic() - started))
        if deadline is not None and time.monotonic() + pause >= deadline:
            return GateOutcome(False, results, "health gate deadline passed")
        await asyncio.sleep(pause)


async def _sleep_until_deadline(seconds: float, deadline: float | None) -> None:
    if deadline is not None:
        seconds = min(seconds, max(0.0, deadline - time.monotonic()))
    await asyncio.sleep(seconds)
