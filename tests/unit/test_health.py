"""The shared probe engine: raw http/tcp probes on loopback, policies and the gate loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import TypeAdapter

from ctrlplane.provider import HealthCheckSpec
from ctrlplane.provider.events import (
    ProbeObserved,
    ProgressEvent,
    StepStarted,
    TrafficSwitched,
    emit,
)
from ctrlplane.provider.health import (
    ProbeOutcome,
    ProbePolicy,
    ProbeResult,
    http_probe,
    probe_kind,
    probe_target,
    run_gate,
    tcp_probe,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]


async def _serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    return server, port


def _answer(status_line: bytes) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(status_line + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    return handle


@pytest.fixture
async def free_port() -> int:
    """A loopback port with nothing listening on it."""
    server, port = await _serve(_answer(b"HTTP/1.0 200 OK"))
    server.close()
    await server.wait_closed()
    return port


@pytest.mark.parametrize(
    ("status_line", "healthy", "code"),
    [
        (b"HTTP/1.1 200 OK", True, 200),
        (b"HTTP/1.1 204 No Content", True, 204),
        (b"HTTP/1.0 302 Found", True, 302),
        (b"HTTP/1.1 404 Not Found", False, 404),
        (b"HTTP/1.1 503 Service Unavailable", False, 503),
    ],
)
async def test_http_probe_judges_the_status_code(
    status_line: bytes, healthy: bool, code: int
) -> None:
    server, port = await _serve(_answer(status_line))
    async with server:
        outcome = await http_probe("127.0.0.1", port, "/healthz", 2.0)
    assert outcome.healthy is healthy
    assert outcome.status_code == code
    assert outcome.observed == f"HTTP {code}"


async def test_http_probe_sends_the_path() -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.0 200 OK\r\n\r\n")
        writer.close()

    server, port = await _serve(handle)
    async with server:
        assert (await http_probe("127.0.0.1", port, "/ready?x=1", 2.0)).healthy
    assert seen[0].startswith(b"GET /ready?x=1 HTTP/1.0\r\n")


async def test_http_probe_refused_timeout_and_garbage(free_port: int) -> None:
    refused = await http_probe("127.0.0.1", free_port, "/", 2.0)
    assert not refused.healthy
    assert refused.status_code is None

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    server, port = await _serve(silent)
    async with server:
        started = time.monotonic()
        slow = await http_probe("127.0.0.1", port, "/", 0.2)
        assert time.monotonic() - started < 2
    assert not slow.healthy
    assert "0.2s" in slow.observed

    server, port = await _serve(_answer(b"SSH-2.0-OpenSSH"))
    async with server:
        garbage = await http_probe("127.0.0.1", port, "/", 2.0)
    assert not garbage.healthy
    assert "not an HTTP answer" in garbage.observed


async def test_tcp_probe(free_port: int) -> None:
    server, port = await _serve(_answer(b"HTTP/1.0 200 OK"))
    async with server:
        assert (await tcp_probe("127.0.0.1", port, 2.0)).healthy
    assert not (await tcp_probe("127.0.0.1", free_port, 2.0)).healthy


def test_probe_kind_and_target() -> None:
    assert probe_kind(HealthCheckSpec(path="/h", port=80)) == "http"
    assert probe_kind(HealthCheckSpec(port=5432)) == "tcp"
    assert probe_kind(HealthCheckSpec(command=["true"])) == "exec"
    assert probe_target(HealthCheckSpec(path="/h", port=80)) == ":80/h"
    assert probe_target(HealthCheckSpec(command=["cat", "/ok"])) == "cat /ok"


def test_policy_takes_the_spec_values_and_defaults_the_rest() -> None:
    base = ProbePolicy(interval=10, timeout=5, retries=3, start_period=1)
    spec = HealthCheckSpec(port=80, interval=timedelta(seconds=2), retries=7)
    applied = base.apply(spec)
    assert applied.interval == 2
    assert applied.timeout == 2  # never longer than the interval
    assert applied.retries == 7
    assert applied.start_period == 1
    assert base.apply(HealthCheckSpec(port=80)) == base


def _scripted(*healthy: bool) -> Callable[[], object]:
    outcomes = list(healthy)

    async def probe() -> ProbeOutcome:
        ok = outcomes.pop(0)
        return ProbeOutcome(ok, "ok" if ok else "HTTP 503", status_code=200 if ok else 503)

    return probe


FAST = ProbePolicy(interval=0.01, timeout=1, retries=3)


async def test_gate_passes_on_first_success_and_records_attempts() -> None:
    seen: list[ProbeResult] = []
    outcome = await run_gate(
        _scripted(False, False, True),  # type: ignore[arg-type]
        FAST,
        service="web",
        replica=1,
        kind="http",
        target=":80/",
        on_result=seen.append,
    )
    assert outcome.passed
    assert [r.attempt for r in outcome.results] == [1, 2, 3]
    assert [r.healthy for r in outcome.results] == [False, False, True]
    assert seen == outcome.results
    assert outcome.results[0].status_code == 503
    assert outcome.results[0].service == "web"
    assert outcome.results[0].replica == 1


async def test_gate_fails_after_consecutive_failures_only() -> None:
    outcome = await run_gate(
        _scripted(False, False, True, False, False, False),  # type: ignore[arg-type]
        ProbePolicy(interval=0.01, timeout=1, retries=3, success_threshold=2),
        service="web",
        replica=0,
        kind="http",
        target=":80/",
    )
    assert not outcome.passed
    assert len(outcome.results) == 6  # the success in the middle reset the failure count
    assert "3 consecutive failed probes" in outcome.reason
    assert outcome.last is not None
    assert "HTTP 503" in str(outcome.last)


async def test_gate_times_out_slow_probes_and_honours_the_deadline() -> None:
    async def hangs() -> ProbeOutcome:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    outcome = await run_gate(
        hangs,
        ProbePolicy(interval=0.05, timeout=0.05, retries=2),
        service="db",
        replica=0,
        kind="tcp",
        target=":5432",
    )
    assert not outcome.passed
    assert all("did not finish within" in r.observed for r in outcome.results)

    async def unhealthy() -> ProbeOutcome:
        return ProbeOutcome(False, "refused")

    started = time.monotonic()
    outcome = await run_gate(
        unhealthy,
        ProbePolicy(interval=0.2, timeout=0.1, retries=1000),
        service="db",
        replica=0,
        kind="tcp",
        target=":5432",
        deadline=time.monotonic() + 0.5,
    )
    assert not outcome.passed
    assert outcome.reason == "health gate deadline passed"
    assert time.monotonic() - started < 2


async def test_probe_result_json_round_trips() -> None:
    outcome = await run_gate(
        _scripted(True),  # type: ignore[arg-type]
        FAST,
        service="web",
        replica=0,
        kind="http",
        target=":80/",
    )
    result = outcome.results[0]
    assert ProbeResult.model_validate_json(result.to_json()) == result


async def test_events_reach_sync_and_async_subscribers() -> None:
    got: list[ProgressEvent] = []

    async def async_sub(event: ProgressEvent) -> None:
        got.append(event)

    await emit(got.append, StepStarted(instance_id="inst_x", step="gate"))
    await emit(async_sub, TrafficSwitched(instance_id="inst_x", to_release="rel_b"))
    await emit(None, StepStarted(instance_id="inst_x", step="ignored"))
    assert [e.kind for e in got] == ["step_started", "traffic_switched"]


async def test_a_failing_subscriber_never_breaks_the_operation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: ProgressEvent) -> None:
        raise RuntimeError("subscriber bug")

    with caplog.at_level(logging.ERROR, logger="ctrlplane.events"):
        await emit(broken, StepStarted(instance_id="inst_x", step="pull"))
    assert "subscriber failed" in caplog.text


def test_events_parse_back_by_kind() -> None:
    adapter: TypeAdapter[ProgressEvent] = TypeAdapter(ProgressEvent)
    probe = ProbeResult(
        service="web",
        kind="exec",
        target="true",
        attempt=1,
        healthy=True,
        observed="exit code 0",
        exit_code=0,
        at="2026-11-25T09:00:00Z",
    )
    event = ProbeObserved(instance_id="inst_x", result=probe)
    parsed = adapter.validate_json(event.to_json())
    assert isinstance(parsed, ProbeObserved)
    assert parsed.result == probe
