"""How deploys roll out (I/O): ECS's rolling update, or the core engine over two services.

**Rolling** (and every rollback) is ECS's own rolling update of the live service to the
new revision (at most 200% of the tasks, never below 100% healthy, the deployment
circuit breaker with its rollback on), gated by us: every new task's changed services
with a health check must turn ``HEALTHY`` (ECS's container health status); a container
turning ``UNHEALTHY``, a new task failing, the circuit breaker failing the deployment,
the deadline or a cancellation makes the service go back to the previous revision (and
the new one is deregistered), then ``DeployFailed`` carries the health observations.

**Canary** and **blue-green** use the core rollout engine
(:func:`ctrlplane.provider.rollouts.roll_out`) over :class:`BesideUnits`: the new
revision runs in the instance's second service (``<prefix><instance>-b``, or back to the
first name), one task per unit of the live service. A unit's new version is the new
service's next task (its desired count goes up by one); it is gated on its ECS health
status; the canary is observed; "switching" a unit makes the new service take traffic
(its tasks are listed as endpoints); retiring one lowers the old service's desired
count; once recorded, the new service is the live one and the old service is deleted.
An undo deletes the new service and gives the old one back its count and traffic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ctrlplane.errors import DeployFailed
from ctrlplane.provider.deadlines import Deadline, cleanup, finish, first_error, seconds
from ctrlplane.provider.ecs.context import EcsContext
from ctrlplane.provider.ecs.instances import current_tasks, stopped_tasks
from ctrlplane.provider.ecs.observe.instance import Instance
from ctrlplane.provider.ecs.observe.tasks import failed, failure, ordered
from ctrlplane.provider.ecs.removal import remove_definitions
from ctrlplane.provider.ecs.render.names import (
    TAG_RELEASE,
    TAG_REPLICAS,
    TAG_ROLE,
    TAG_TRAFFIC,
    other_slot,
)
from ctrlplane.provider.ecs.render.service import DEPLOYMENT_CONFIGURATION, create_service
from ctrlplane.provider.ecs.render.tags import service_tags
from ctrlplane.provider.ecs.targets import target_gate
from ctrlplane.provider.ecs.units import reporter
from ctrlplane.provider.ecs.waits import HealthGate, gone, settle
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.events import ProbeObserved, RolledBack, TrafficSwitched, emit
from ctrlplane.provider.failures import RolloutFailed, describe_failure
from ctrlplane.provider.health import GateOutcome, ProbeResult
from ctrlplane.provider.native import JSON
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.releases import ReleasePlan
from ctrlplane.provider.rollouts import ProbeSink, RolloutShape, roll_out
from ctrlplane.provider.spec import ServiceSpec

__all__ = ["BesideUnits", "beside", "revert", "rolling"]


def _gated(plan: ReleasePlan) -> list[ServiceSpec]:
    return [
        plan.service_after(name)
        for name in sorted(plan.changed)
        if plan.service_after(name).health_check is not None
        and plan.service_after(name).role is not ServiceRole.INIT
    ]


async def revert(ctx: EcsContext, inst: Instance, new: str) -> None:
    """Put ``inst``'s service back on the revision it ran and wait; deregister ``new``."""
    await ctx.api.update_service(inst.name, taskDefinition=inst.definition_arn)
    async with Deadline(ctx.config.deploy_timeout, f"restoring {inst.name}").timeout():
        await settle(
            ctx,
            inst.name,
            target=inst.definition_arn,
            step="restore the previous revision",
            targets=target_gate(ctx, inst.request.main),
        )
    await remove_definitions(ctx, [new])


async def rolling(
    ctx: EcsContext, op: Operation, inst: Instance, plan: ReleasePlan, new: str
) -> None:
    """Roll ``plan`` out with ECS's rolling update of the live service to revision
    ``new`` (see the module docs)."""
    iid = inst.instance_id
    previous = inst.release.release_id

    async def probed(result: ProbeResult) -> None:
        await emit(op.events, ProbeObserved(instance_id=iid, result=result))

    gate = HealthGate(_gated(plan), probed)
    targets = target_gate(ctx, inst.request.main, probed)
    deadline = Deadline(ctx.config.deploy_timeout, f"{plan.strategy} deploy of {iid}")
    revision = new.rsplit(":", 1)[-1]
    step = f"roll out revision {revision}"
    await op.steps.enter("roll-out", f"{inst.name} to revision {revision}")
    try:
        async with deadline.timeout():
            await ctx.api.update_service(
                inst.name, taskDefinition=new, deploymentConfiguration=DEPLOYMENT_CONFIGURATION
            )
            await settle(
                ctx,
                inst.name,
                target=new,
                step=step,
                inits=[s.name for s in plan.after if s.role is ServiceRole.INIT],
                gate=gate,
                targets=targets,
                on_started=reporter(iid, plan.release_id, op.events),
            )
    except BaseException as exc:
        err = first_error(exc)
        seen = [*gate.results, *(targets.results if targets else [])]
        evidence = err.evidence if isinstance(err, RolloutFailed) and err.evidence else seen
        if isinstance(err, RolloutFailed):
            step, reason = err.step or step, err.reason
        elif isinstance(err, TimeoutError) and deadline.expired():
            reason = f"the deploy did not finish within its deadline ({deadline.seconds:g}s)"
        else:
            reason = describe_failure(err)
        left = await cleanup(
            revert(ctx, inst, new),
            ctx.config.deploy_timeout,
            "restoring the previous revision",
        )
        await op.steps.fail(reason)
        if not left:
            await emit(op.events, RolledBack(instance_id=iid, to_release=previous, reason=reason))
        if isinstance(err, asyncio.CancelledError):
            raise
        if left:
            reason = f"{reason}; {left}"
        raise DeployFailed(
            iid,
            strategy=str(plan.strategy),
            step=step,
            reason=reason,
            evidence=evidence,
            rolled_back=not left,
        ) from None
    await finish(ctx.api.tag(inst.arn, {TAG_RELEASE: plan.release_id}))
    await op.steps.finish()
    await emit(
        op.events,
        TrafficSwitched(instance_id=iid, from_release=previous, to_release=plan.release_id),
    )


class BesideUnits:
    """:class:`~ctrlplane.provider.rollouts.UnitPrimitives` over the instance's two
    services (see the module docs)."""

    def __init__(self, ctx: EcsContext, inst: Instance, plan: ReleasePlan, new: str) -> None:
        self.ctx = ctx
        self.inst = inst
        self.plan = plan
        self.new_revision = new
        self.old = inst.name
        self.new = other_slot(ctx.config, inst.instance_id, inst.name)
        self.count = inst.desired
        self.old_desired = inst.desired
        self.new_desired = 0
        self.assigned: dict[int, str] = {}
        self.gated = _gated(plan)
        self.new_arn = ""
        self.recorded = False
        self.switched = False
        self.withdrawn = False
        self._lock = asyncio.Lock()
        self._poll = seconds(ctx.config.poll_interval)
        self._inits = [s.name for s in plan.after if s.role is ServiceRole.INIT]

    async def create(self) -> None:
        """Create the new service (no task yet, not serving)."""
        req = self.inst.request.model_copy(update={"services": self.plan.after})
        tags = service_tags(
            req,
            self.plan.release_id,
            role="candidate",
            traffic=False,
            replicas=self.count,
            state="ready",
        )
        body = create_service(
            self.ctx.config,
            name=self.new,
            task_definition=self.new_revision,
            desired=0,
            tags=tags,
            main=req.main,
        )
        self.new_arn = str((await self.ctx.api.create_service(body))["serviceArn"])

    async def _describe(self, arn: str) -> JSON:
        found = await self.ctx.api.describe_tasks([arn])
        return (
            found[0]
            if found
            else {"taskArn": arn, "desiredStatus": "STOPPED", "stoppedReason": "gone"}
        )

    async def start(self, replica: int, *, beside: bool) -> None:
        async with self._lock:
            self.new_desired += 1
            await self.ctx.api.update_service(self.new, desiredCount=self.new_desired)
        step = f"start the new version of unit {replica}"
        while True:
            for task in await stopped_tasks(self.ctx, self.new):
                if failed(task):
                    raise RolloutFailed(step, failure(task, self._inits).reason)
            async with self._lock:
                taken = set(self.assigned.values())
                for task in ordered(await current_tasks(self.ctx, self.new)):
                    if task["taskArn"] not in taken and task.get("lastStatus") == "RUNNING":
                        self.assigned[replica] = str(task["taskArn"])
                        return
            await asyncio.sleep(self._poll)

    async def gate(self, replica: int, on_probe: ProbeSink) -> GateOutcome | None:
        targets = target_gate(
            self.ctx, self.plan.service_after(self.inst.request.main.name), on_probe
        )
        if not self.gated and targets is None:
            return None
        gate = HealthGate(self.gated, on_probe)
        while True:
            task = await self._describe(self.assigned[replica])
            try:
                healthy = await gate.observe(task, replica)
                if targets is not None:
                    healthy = await targets.observe([(replica, task)]) and healthy
                if healthy:
                    return GateOutcome(
                        True, [*gate.results, *(targets.results if targets else [])], "healthy"
                    )
            except RolloutFailed as exc:
                return GateOutcome(False, [*gate.results, *exc.evidence], exc.reason)
            await asyncio.sleep(self._poll)

    async def observe(self, replicas: Sequence[int], on_probe: ProbeSink) -> list[ProbeResult]:
        results: list[ProbeResult] = []
        for replica in replicas:
            task = await self._describe(self.assigned[replica])
            if task.get("lastStatus") != "RUNNING" or task.get("desiredStatus") != "RUNNING":
                reason = failure(task, self._inits).reason if failed(task) else "the canary stopped"
                raise RolloutFailed(f"canary of unit {replica}", reason, results)
            gate = HealthGate(self.gated, on_probe)
            targets = target_gate(
                self.ctx, self.plan.service_after(self.inst.request.main.name), on_probe
            )
            try:
                await gate.observe(task, replica)
                if targets is not None:
                    await targets.observe([(replica, task)])
            except RolloutFailed as exc:
                raise RolloutFailed(exc.step, exc.reason, [*results, *exc.evidence]) from None
            results += [*gate.results, *(targets.results if targets else [])]
        return results

    async def switch(self, replica: int) -> None:
        if not self.switched:
            await self.ctx.api.tag(self.new_arn, {TAG_TRAFFIC: "on"})
            self.switched = True

    async def withdraw(self, replica: int) -> None:
        if not self.withdrawn:
            await self.ctx.api.tag(self.inst.arn, {TAG_TRAFFIC: "off"})
            self.withdrawn = True

    async def retire(self, replica: int, *, withdrawn: bool) -> None:
        async with self._lock:
            self.old_desired -= 1
            desired = self.old_desired
            await self.ctx.api.update_service(self.old, desiredCount=desired)
        while True:
            if len(await current_tasks(self.ctx, self.old)) <= desired:
                break
            await asyncio.sleep(self._poll)
        if desired == 0 and self.recorded:
            await self._delete_old()

    async def _delete_old(self) -> None:
        await self.ctx.api.delete_service(self.old)
        await gone(self.ctx, [self.old])

    async def undo(self, touched: Sequence[int], beside: Sequence[int]) -> str:
        problems: list[str] = []
        try:
            async with Deadline(self.ctx.config.deploy_timeout, "undo").timeout():
                await self.ctx.api.delete_service(self.new)
                await self.ctx.api.update_service(self.old, desiredCount=self.count)
                await self.ctx.api.tag(
                    self.inst.arn,
                    {TAG_ROLE: "live", TAG_TRAFFIC: "on", TAG_REPLICAS: str(self.count)},
                )
                await gone(self.ctx, [self.new])
                await settle(
                    self.ctx,
                    self.old,
                    target=self.inst.definition_arn,
                    step="restore the old service",
                )
                await remove_definitions(self.ctx, [self.new_revision])
        except Exception as exc:  # undo reports what it could not restore; it never raises
            problems.append(describe_failure(exc))
        return "; ".join(problems)

    async def record(self) -> None:
        await self.ctx.api.tag(
            self.new_arn, {TAG_ROLE: "live", TAG_TRAFFIC: "on", TAG_RELEASE: self.plan.release_id}
        )
        await self.ctx.api.tag(self.inst.arn, {TAG_ROLE: "retiring"})
        self.recorded = True
        if self.old_desired == 0:
            await self._delete_old()


async def beside(
    ctx: EcsContext, op: Operation, inst: Instance, plan: ReleasePlan, new: str
) -> None:
    """Roll ``plan`` out with the core engine over :class:`BesideUnits` (canary or
    blue-green)."""
    cfg = ctx.config
    units = BesideUnits(ctx, inst, plan, new)
    try:
        await units.create()
    except BaseException as exc:
        left = await cleanup(
            remove_definitions(ctx, [new]), cfg.deploy_timeout, "deregistering the new revision"
        )
        if isinstance(exc, asyncio.CancelledError):
            raise
        reason = describe_failure(exc) + (f"; {left}" if left else "")
        raise DeployFailed(
            inst.instance_id,
            strategy=str(plan.strategy),
            step=f"create service {units.new}",
            reason=reason,
            rolled_back=True,
        ) from None
    observation = seconds(cfg.canary_observation)
    shape = RolloutShape(
        instance_id=inst.instance_id,
        backend="ecs",
        strategy=plan.strategy,
        release_id=plan.release_id,
        previous_release=inst.release.release_id,
        units=list(range(inst.desired)),
        services=[s.name for s in plan.after],
        deadline=Deadline(cfg.deploy_timeout, f"{plan.strategy} deploy of {inst.instance_id}"),
        beside=True,
        batch=1,
        canary=cfg.canary_count,
        observation=observation,
        interval=max(min(observation / 4, seconds(cfg.poll_interval)), 0.01),
        retire_delay=seconds(cfg.retire_delay),
    )
    await roll_out(shape, units, op.events)
