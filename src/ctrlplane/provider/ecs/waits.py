"""Waiting for a service's deployment to settle, watching its tasks (I/O).

:func:`settle` polls the service (every ``poll_interval``) until its primary deployment,
of the expected task definition, is the only one and ECS reports it ``COMPLETED`` (the
desired count runs, healthy). It fails fast (``RolloutFailed``, with the probe evidence)
when a task of the deployment fails (it did not start, an essential container exited,
its health checks failed), when the deployment circuit breaker fails or rolls back the
deployment, when the :class:`HealthGate` sees a gated container turn ``UNHEALTHY``, or
the :class:`~.targets.TargetGate` (with a target group) a target turn ``unhealthy``.
Each task of the deployment is reported once when it runs (``on_started``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.ecs.context import EcsContext, task_definition
from ctrlplane.provider.ecs.instances import current_tasks
from ctrlplane.provider.ecs.observe.tasks import container, failed, failure, ordered
from ctrlplane.provider.ecs.targets import TargetGate, keep_evidence
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.health import ProbeResult, probe_kind, probe_target
from ctrlplane.provider.native import JSON
from ctrlplane.provider.rollouts import ProbeSink
from ctrlplane.provider.spec import ServiceSpec

__all__ = ["HealthGate", "OnStarted", "TaskFailed", "gone", "settle", "stopped"]

OnStarted = Callable[[JSON, int], Awaitable[None]]
"""Told of each task of the deployment once it runs, with its replica number."""


class TaskFailed(RolloutFailed):
    """A task of the deployment failed: ``task`` is what ECS said of it, ``container`` the
    container at fault (``""`` when none is)."""

    def __init__(
        self, step: str, reason: str, evidence: Sequence[ProbeResult], task: JSON, container: str
    ) -> None:
        super().__init__(step, reason, evidence)
        self.task = task
        self.container = container


class HealthGate:
    """Watches the ECS health status of ``services``' containers (those with a health
    check) in tasks; every change is a probe result (sent to ``on_probe``)."""

    def __init__(self, services: Sequence[ServiceSpec], on_probe: ProbeSink | None = None) -> None:
        self.services = [
            s for s in services if s.health_check is not None and s.role is not ServiceRole.INIT
        ]
        self.on_probe = on_probe
        self.results: list[ProbeResult] = []
        self._seen: dict[tuple[str, str], str] = {}
        self._attempts: dict[tuple[str, str], int] = {}

    async def _record(
        self, svc: ServiceSpec, replica: int, key: tuple[str, str], healthy: bool, observed: str
    ) -> ProbeResult:
        hc = svc.health_check
        assert hc is not None
        self._attempts[key] = self._attempts.get(key, 0) + 1
        result = ProbeResult(
            service=svc.name,
            replica=replica,
            kind=probe_kind(hc),
            target=probe_target(hc),
            attempt=self._attempts[key],
            healthy=healthy,
            observed=observed,
            at=datetime.now(UTC),
        )
        await keep_evidence(result, self.results, self.on_probe)
        return result

    async def observe(self, task: JSON, replica: int) -> bool:
        """Record what ECS says of ``task``'s gated containers; true when every one is
        ``HEALTHY``. ``RolloutFailed`` when one is ``UNHEALTHY`` or the task failed."""
        arn = str(task.get("taskArn"))
        passed = True
        for svc in self.services:
            key = (arn, svc.name)
            c = container(task, svc.name) or {}
            status = str(c.get("healthStatus") or "UNKNOWN")
            if failed(task):
                reason = str(task.get("stoppedReason") or "stopped")
                await self._record(svc, replica, key, False, f"task stopped: {reason}")
                raise RolloutFailed(
                    f"health gate of {svc.name} (replica {replica})",
                    f"the task of {svc.name} stopped: {reason}",
                    self.results,
                )
            if status != self._seen.get(key) and status != "UNKNOWN":
                self._seen[key] = status
                await self._record(
                    svc, replica, key, status == "HEALTHY", f"ECS container health: {status}"
                )
            if status == "UNHEALTHY":
                hc = svc.health_check
                assert hc is not None
                raise RolloutFailed(
                    f"health gate of {svc.name} (replica {replica})",
                    f"{svc.name} is UNHEALTHY: its container health check ({probe_target(hc)}) "
                    "failed every retry",
                    self.results,
                )
            passed = passed and status == "HEALTHY"
        return passed


async def _deployment_tasks(ctx: EcsContext, service: str, deployment: str) -> list[JSON]:
    arns = await ctx.api.task_arns_started_by(deployment, "STOPPED")
    return await ctx.api.describe_tasks(arns) if arns else []


async def settle(
    ctx: EcsContext,
    service: str,
    *,
    target: str,
    step: str,
    inits: Sequence[str] = (),
    gate: HealthGate | None = None,
    targets: TargetGate | None = None,
    on_started: OnStarted | None = None,
) -> None:
    """Wait until ``service``'s deployment of task definition ``target`` completed (see
    the module docs). The caller bounds the wait (a deadline around it)."""
    seen: set[str] = set()
    poll = seconds(ctx.config.poll_interval)
    while True:
        found = await ctx.api.describe_services([service])
        live = next((s for s in found if s.get("status") == "ACTIVE"), None)
        if live is None:
            raise RolloutFailed(step, f"service {service} is gone")
        deployments = list(live.get("deployments") or [])
        primary: JSON = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
        if primary.get("taskDefinition") != target:
            reason = str(primary.get("rolloutStateReason") or "another deployment took over")
            raise RolloutFailed(
                step,
                f"the deployment of {target} was replaced: {reason}",
                gate.results if gate else (),
            )
        dep_id = str(primary.get("id", ""))
        running = [t for t in await current_tasks(ctx, service) if t.get("startedBy") == dep_id]
        stopped = await _deployment_tasks(ctx, service, dep_id)
        for task in [*running, *stopped]:
            if failed(task):
                evidence = gate.results if gate else []
                if gate is not None:
                    try:
                        await gate.observe(task, 0)
                    except RolloutFailed as exc:
                        evidence = exc.evidence
                if targets is not None:
                    await targets.stopped(task, 0)
                    evidence = [*evidence, *targets.results]
                why = failure(task, inits)
                raise TaskFailed(step, why.reason, evidence, task, why.container)
        if primary.get("rolloutState") == "FAILED":
            raise RolloutFailed(
                step, str(primary.get("rolloutStateReason") or "the deployment failed")
            )
        definition = await task_definition(ctx, target)
        checked = {
            str(c["name"])
            for c in (definition or {}).get("containerDefinitions") or []
            if c.get("healthCheck") and c.get("essential", True)
        }
        healthy = True
        for replica, task in enumerate(ordered(running)):
            if task.get("lastStatus") != "RUNNING":
                healthy = False
                continue
            if on_started is not None and task["taskArn"] not in seen:
                seen.add(task["taskArn"])
                await on_started(task, replica)
            if gate is not None:
                healthy = await gate.observe(task, replica) and healthy
            statuses = [(container(task, name) or {}).get("healthStatus") for name in checked]
            healthy = healthy and all(status == "HEALTHY" for status in statuses)
        if targets is not None:
            up = [
                (r, t) for r, t in enumerate(ordered(running)) if t.get("lastStatus") == "RUNNING"
            ]
            try:
                healthy = await targets.observe(up) and healthy
            except RolloutFailed as exc:
                evidence = [*(gate.results if gate else []), *exc.evidence]
                raise RolloutFailed(exc.step, exc.reason, evidence) from None
        complete = primary.get("rolloutState") == "COMPLETED" and len(deployments) == 1
        if complete and healthy and len(running) == int(live.get("desiredCount") or 0):
            return
        await asyncio.sleep(poll)


async def stopped(ctx: EcsContext, service: str) -> None:
    """Wait until no task of ``service`` runs or stops any more (the caller bounds it)."""
    poll = seconds(ctx.config.poll_interval)
    while True:
        running = await current_tasks(ctx, service)
        stopping = [t for t in await _stopping(ctx, service) if t.get("lastStatus") != "STOPPED"]
        if not running and not stopping:
            return
        await asyncio.sleep(poll)


async def _stopping(ctx: EcsContext, service: str) -> list[JSON]:
    arns = await ctx.api.task_arns(service, "STOPPED")
    return await ctx.api.describe_tasks(arns) if arns else []


async def gone(ctx: EcsContext, names: Sequence[str]) -> None:
    """Wait until the services ``names`` are inactive (deleted, their tasks stopped)."""
    poll = seconds(ctx.config.poll_interval)
    while True:
        found = await ctx.api.describe_services(list(names))
        if all(s.get("status") == "INACTIVE" for s in found):
            return
        await asyncio.sleep(poll)
