"""Health checks run by ctrlplane's own probe engine (:mod:`ctrlplane.provider.health`),
for jobs whose agent has no check provider for them (I/O).

A job shaped with ``Health.PROBES`` (:mod:`~ctrlplane.provider.nomad.render.shape`: no
Consul and no native checks, or exec checks without Consul) has ``health_check =
"manual"`` in its update stanza: Nomad waits for someone to report each new
allocation's health. :class:`ProbeGate` does: once an allocation of the deployment
runs, it probes every health check of the spec on it (http and tcp on the
allocation's published host port, exec through the allocation's exec session) with the
check's interval, timeout and retries (:func:`~ctrlplane.provider.health.run_gate`,
bounded by ``healthy_deadline``), and reports the allocation healthy or unhealthy to
the deployment (Nomad then rolls on, or fails the deployment and reverts). Every result
is evidence, and a ``ProbeObserved`` event. :meth:`ProbeGate.watch` keeps probing
allocations already found healthy (canaries under observation) and trips after
``retries`` failures in a row. :func:`probe_once` runs each check once (``status``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.events import ProbeObserved, Subscriber, emit
from ctrlplane.provider.health import (
    GateOutcome,
    ProbeKind,
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
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.context import NomadContext
from ctrlplane.provider.nomad.observe.allocations import alloc_replica
from ctrlplane.provider.nomad.render.names import check_name, port_label
from ctrlplane.provider.nomad.render.services import DEFAULT_RETRIES
from ctrlplane.provider.spec import HealthCheckSpec, ProvisionRequest, ServiceSpec

__all__ = ["Check", "ProbeGate", "checks_of", "probe_once"]

_DEFAULTS = ProbePolicy(interval=10.0, timeout=2.0, retries=DEFAULT_RETRIES)
"""What an unset interval, timeout or retries means (as for Nomad's checks)."""
_FOREVER = 2**31
"""A success threshold never reached: the gate returns only when the check fails."""

Probe = Callable[[], Awaitable[ProbeOutcome]]


@dataclass(frozen=True)
class Check:
    """One health check of one long-lived service of the spec."""

    service: ServiceSpec
    spec: HealthCheckSpec

    @property
    def kind(self) -> ProbeKind:
        return probe_kind(self.spec)

    @property
    def policy(self) -> ProbePolicy:
        return _DEFAULTS.apply(self.spec)

    @property
    def name(self) -> str:
        return check_name(self.service.name)


def checks_of(req: ProvisionRequest) -> list[Check]:
    """The health checks of the long-lived services of ``req``."""
    return [
        Check(s, s.health_check)
        for s in req.services
        if s.health_check is not None and s.role is not ServiceRole.INIT
    ]


def _address(full: Mapping[str, Any], label: str) -> tuple[str, int] | None:
    """The host address of an allocation's port ``label``."""
    resources = full.get("AllocatedResources")
    shared = (resources.get("Shared") if isinstance(resources, Mapping) else None) or {}
    for port in shared.get("Ports") or []:
        if port.get("Label") == label and port.get("Value"):
            return str(port.get("HostIP") or "127.0.0.1"), int(port["Value"])
    return None


def _probe(ctx: NomadContext, check: Check, alloc_id: str, full: Mapping[str, object]) -> Probe:
    hc = check.spec
    timeout = check.policy.timeout

    async def exec_probe() -> ProbeOutcome:
        try:
            out = await ctx.api.exec(alloc_id, check.service.name, list(hc.command), b"", False)
        except CtrlplaneError as exc:
            return ProbeOutcome(False, f"exec failed: {exc}")
        text = excerpt(out.stdout + out.stderr)
        observed = f"exit code {out.exit_code}" + (f": {text}" if text else "")
        return ProbeOutcome(out.exit_code == 0, observed, exit_code=out.exit_code)

    async def network_probe() -> ProbeOutcome:
        address = _address(full, port_label(check.service.name, hc.port))
        if address is None:
            return ProbeOutcome(False, f"port {hc.port} is not published by the allocation")
        host, port = address
        if hc.path:
            return await http_probe(host, port, hc.path, timeout)
        return await tcp_probe(host, port, timeout)

    return exec_probe if hc.command else network_probe


def _gate(
    ctx: NomadContext,
    check: Check,
    full: Mapping[str, Any],
    policy: ProbePolicy,
    *,
    deadline: float | None = None,
    on_result: Callable[[ProbeResult], Awaitable[None]] | None = None,
) -> Awaitable[GateOutcome]:
    """:func:`~ctrlplane.provider.health.run_gate` of ``check`` on one allocation."""
    return run_gate(
        _probe(ctx, check, str(full.get("ID", "")), full),
        policy,
        service=check.service.name,
        replica=alloc_replica(full),
        kind=check.kind,
        target=probe_target(check.spec),
        deadline=deadline,
        on_result=on_result,
    )


async def probe_once(
    ctx: NomadContext, req: ProvisionRequest, full: Mapping[str, Any]
) -> dict[str, JSON]:
    """Each check of ``req`` run once on one allocation, as check results in the shape
    of Nomad's checks endpoint (``Check``, ``Task``, ``Status``, ``Output``)."""
    out: dict[str, JSON] = {}
    for check in checks_of(req):
        once = ProbePolicy(interval=0.0, timeout=check.policy.timeout, retries=1)
        outcome = await _gate(ctx, check, full, once)
        out[check.name] = {
            "Check": check.name,
            "Task": check.service.name,
            "Status": "success" if outcome.passed else "failure",
            "Output": outcome.last.observed if outcome.last is not None else "",
        }
    return out


@dataclass
class ProbeGate:
    """The health of one deployment's allocations, from ctrlplane's probes (module docs).

    ``evidence`` receives every result; ``events`` a ``ProbeObserved`` per result;
    ``failure`` is set (with the failing results in ``evidence``) once an allocation is
    found unhealthy. Close it (:meth:`close`) when the wait ends.
    """

    ctx: NomadContext
    req: ProvisionRequest
    instance_id: str
    evidence: list[ProbeResult] = field(default_factory=list)
    events: Subscriber | None = None
    failure: str = ""
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    @property
    def checks(self) -> list[Check]:
        return checks_of(self.req)

    async def _record(self, result: ProbeResult) -> None:
        self.evidence.append(result)
        await emit(self.events, ProbeObserved(instance_id=self.instance_id, result=result))

    def _start(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        if key not in self._tasks:
            self._tasks[key] = asyncio.ensure_future(work())

    def poll(self, dep_id: str, allocs: Sequence[JSON]) -> None:
        """Start gating the allocations of ``allocs`` that run and whose health is not
        known yet (each once)."""
        for alloc in allocs:
            running = alloc.get("ClientStatus") == "running"
            status = alloc.get("DeploymentStatus") or {}
            if running and status.get("Healthy") is None:
                self._start(str(alloc["ID"]), functools.partial(self._gate, dep_id, alloc))

    def watch(self, allocs: Sequence[JSON]) -> None:
        """Keep probing ``allocs`` (found healthy) until closed; :attr:`failure` once a
        check fails ``retries`` times in a row."""
        for alloc in allocs:
            self._start(f"watch-{alloc['ID']}", functools.partial(self._watch, alloc))

    async def _gate(self, dep_id: str, alloc: JSON) -> None:
        alloc_id = str(alloc["ID"])
        replica = alloc_replica(alloc)
        try:
            full = await jobs.allocation(self.ctx, alloc_id)
            deadline = time.monotonic() + seconds(self.ctx.config.healthy_deadline)
            outcomes = await asyncio.gather(
                *(
                    _gate(self.ctx, c, full, c.policy, deadline=deadline, on_result=self._record)
                    for c in self.checks
                )
            )
            failed = [o for o in outcomes if not o.passed]
            if failed:
                self.failure = self.failure or (
                    f"replica {replica} is unhealthy: {failed[0].reason}"
                )
                await jobs.set_health(self.ctx, dep_id, unhealthy=[alloc_id])
            else:
                await jobs.set_health(self.ctx, dep_id, healthy=[alloc_id])
        except CtrlplaneError as exc:
            self.failure = self.failure or f"probing replica {replica} failed: {exc}"

    async def _watch(self, alloc: JSON) -> None:
        """Probe until a check fails ``retries`` times in a row (a gate that never passes:
        its success threshold is never reached)."""
        replica = alloc_replica(alloc)
        try:
            full = await jobs.allocation(self.ctx, str(alloc["ID"]))
        except CtrlplaneError as exc:
            self.failure = self.failure or f"probing replica {replica} failed: {exc}"
            return
        watches = [
            _gate(
                self.ctx,
                c,
                full,
                replace(c.policy, success_threshold=_FOREVER),
                on_result=self._record,
            )
            for c in self.checks
        ]
        for done in asyncio.as_completed(watches):
            outcome = await done
            self.failure = self.failure or f"replica {replica} became unhealthy: {outcome.reason}"
            return

    async def close(self) -> None:
        """Stop every probe."""
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
