"""Health probes of Docker services, on the shared probe engine (:mod:`ctrlplane.provider.health`).

- HTTP and TCP probes connect to the unit's address on the instance network (the
  namespace owner's IP), so the provider must run on the engine's host (the usual local
  setup; a remote engine's bridge addresses are not reachable).
- exec probes run the check's ``command`` inside the service's container via the
  engine's exec API; exit 0 is healthy.

Timing: the check's non-zero ``interval``, ``timeout`` and ``retries`` win over
:data:`DEFAULT_POLICY` (1 s, 1 s, 3). The gate passes at the first healthy probe and
fails after ``retries`` consecutive failures; every attempt is kept as evidence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.docker.client import DockerClient
from ctrlplane.provider.health import (
    GateOutcome,
    ProbeOutcome,
    ProbePolicy,
    ProbeResult,
    excerpt,
    http_probe,
    probe_kind,
    probe_target,
    run_gate,
    tcp_probe,
)
from ctrlplane.provider.spec import HealthCheckSpec

__all__ = ["DEFAULT_POLICY", "OnProbe", "gate_service"]

DEFAULT_POLICY = ProbePolicy(interval=1.0, timeout=1.0, retries=3)

OnProbe = Callable[[ProbeResult], Awaitable[None]]
"""Called with every probe result of a gate or an observation."""


async def gate_service(
    client: DockerClient,
    hc: HealthCheckSpec,
    *,
    service: str,
    replica: int,
    address: str,
    container: str,
    deadline: float | None = None,
    start_period: float = 0.0,
    on_result: OnProbe | None = None,
) -> GateOutcome:
    """Probe one service replica until it is healthy or the gate fails; the first probe
    waits ``start_period`` seconds (a just-started unit's grace period)."""
    policy = replace(DEFAULT_POLICY.apply(hc), start_period=start_period)
    kind = probe_kind(hc)

    async def probe() -> ProbeOutcome:
        if kind == "http":
            return await http_probe(address, hc.port, hc.path, policy.timeout)
        if kind == "tcp":
            return await tcp_probe(address, hc.port, policy.timeout)
        try:
            out = await client.exec(container, list(hc.command), stdin=None, tty=False)
        except CtrlplaneError as exc:
            return ProbeOutcome(False, str(exc))
        text = excerpt(out.stdout + out.stderr)
        observed = f"exit code {out.exit_code}" + (f": {text}" if text else "")
        return ProbeOutcome(out.exit_code == 0, observed, exit_code=out.exit_code)

    return await run_gate(
        probe,
        policy,
        service=service,
        replica=replica,
        kind=kind,
        target=probe_target(hc),
        deadline=deadline,
        on_result=on_result,
    )
