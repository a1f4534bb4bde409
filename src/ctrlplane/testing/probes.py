"""Health probes of fake containers, on the shared engine of :mod:`ctrlplane.provider.health`.

A probe follows :class:`~ctrlplane.provider.HealthCheckSpec`: an exec probe (``command``)
runs in the fake shell and is healthy on exit 0; an HTTP probe (``path``) asks the
image's HTTP handler and is healthy on 2xx/3xx; a TCP probe (``port`` only) is healthy
when the container listens on that port. Gates use :func:`~ctrlplane.provider.health.run_gate`
with :data:`FAKE_POLICY` defaults (50 ms interval, 3 retries), every wait multiplied by
the provider's ``time_scale``. ``backend.faults.fail_health(service)`` fails every probe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ctrlplane.provider.health import (
    GateOutcome,
    ProbeOutcome,
    ProbePolicy,
    ProbeResult,
    excerpt,
    probe_kind,
    probe_target,
    run_gate,
)
from ctrlplane.provider.spec import HealthCheckSpec
from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.images import HttpRequest
from ctrlplane.testing.records import FakeContainer
from ctrlplane.testing.shell import run_command

__all__ = ["FAKE_POLICY", "gate", "probe_once", "probe_outcome"]

FAKE_POLICY = ProbePolicy(interval=0.05, timeout=1.0, retries=3)
"""The fake's defaults for the unset fields of a health check."""


async def probe_outcome(
    backend: FakeBackend, c: FakeContainer, hc: HealthCheckSpec
) -> ProbeOutcome:
    """What one probe of ``c`` sees."""
    if not c.running:
        return ProbeOutcome(False, f"container is not running (exit code {c.exit_code})")
    if backend.faults.health_failing(c.service):
        return ProbeOutcome(False, "probe failure injected by FakeBackend.faults.fail_health")
    if hc.command:
        res = await run_command(hc.command, env=c.env, fs=c.files)
        seen = excerpt(res.stdout + res.stderr)
        observed = f"exit code {res.exit_code}" + (f": {seen}" if seen else "")
        return ProbeOutcome(res.exit_code == 0, observed, exit_code=res.exit_code)
    if not c.image.listens or hc.port not in c.ports:
        return ProbeOutcome(False, "connection refused")
    if not hc.path:
        return ProbeOutcome(True, "connection opened")
    assert c.image.http is not None
    status, _ = c.image.http(
        HttpRequest(hc.path, hc.port, c.service, c.replica, dict(c.env), c.files.read)
    )
    return ProbeOutcome(200 <= status < 400, f"HTTP {status}", status_code=status)


async def probe_once(
    backend: FakeBackend, c: FakeContainer, hc: HealthCheckSpec, attempt: int = 1
) -> ProbeResult:
    """Probe ``c`` once according to ``hc``."""
    outcome = await probe_outcome(backend, c, hc)
    return outcome.stamp(c.service, c.replica, probe_kind(hc), probe_target(hc), attempt)


async def gate(
    backend: FakeBackend,
    c: FakeContainer,
    hc: HealthCheckSpec,
    *,
    time_scale: float = 1.0,
    on_result: Callable[[ProbeResult], Awaitable[None] | None] | None = None,
) -> GateOutcome:
    """Probe until healthy (one success) or ``retries`` consecutive failures."""
    policy = FAKE_POLICY.apply(hc)
    scaled = ProbePolicy(
        interval=policy.interval * time_scale,
        timeout=policy.timeout,
        retries=policy.retries,
        start_period=policy.start_period * time_scale,
    )

    async def probe() -> ProbeOutcome:
        return await probe_outcome(backend, c, hc)

    return await run_gate(
        probe,
        scaled,
        service=c.service,
        replica=c.replica,
        kind=probe_kind(hc),
        target=probe_target(hc),
        on_result=on_result,
    )
