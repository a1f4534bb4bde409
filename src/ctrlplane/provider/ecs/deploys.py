"""Deploying and rolling back (I/O): the release plan, its revision, its rollout.

A deploy plans the release with the core (:func:`~ctrlplane.provider.releases.plan_deploy`
against the live request and the retained release IDs; a rollback
:func:`~ctrlplane.provider.releases.plan_rollback`, rolled out as a new rolling
release), refuses what the merged spec cannot run (:func:`~.limits.spec_refusals`),
resolves and stores the secrets again, registers the new revision (which records the
release) and rolls it out (:mod:`~ctrlplane.provider.ecs.strategies`). Afterwards the
history is pruned to ``release_history`` releases: older revisions are deregistered and
deleted (never one a service runs).
"""

from __future__ import annotations

from datetime import UTC, datetime

from ctrlplane.provider.ecs import secrets, strategies
from ctrlplane.provider.ecs.context import EcsContext, task_definition
from ctrlplane.provider.ecs.inspection import releases
from ctrlplane.provider.ecs.instances import instance_services, require
from ctrlplane.provider.ecs.limits import spec_refusals
from ctrlplane.provider.ecs.observe.history import surplus
from ctrlplane.provider.ecs.observe.instance import Instance
from ctrlplane.provider.ecs.removal import remove_definitions
from ctrlplane.provider.ecs.render import (
    ReleaseInfo,
    task_size,
)
from ctrlplane.provider.ecs.render import (
    task_definition as render_definition,
)
from ctrlplane.provider.ecs.render.names import family
from ctrlplane.provider.ecs.repair import repair
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.releases import DEPLOYED, ReleasePlan, plan_deploy, plan_rollback
from ctrlplane.provider.results import DeployResult
from ctrlplane.provider.spec import DeployRequest

__all__ = ["deploy", "prune", "register", "rollback"]


async def register(ctx: EcsContext, op: Operation, inst: Instance, plan: ReleasePlan) -> str:
    """Store the new release's secrets and register its revision; the revision's ARN."""
    after = inst.request.model_copy(update={"services": plan.after})
    ctx.preflight.refuse(spec_refusals(after, ctx.config), subject="deploy request")
    references: secrets.References = {}
    if any(s.secrets for s in after.services):
        references = await secrets.store(ctx, after, await secrets.resolve(op, after))
    release = ReleaseInfo(
        plan.release_id,
        datetime.now(UTC),
        strategy=str(plan.strategy),
        rollback_of=plan.rollback_of,
        created_at=inst.release.created_at,
    )
    body = render_definition(
        after,
        release,
        ctx.config,
        region=ctx.region,
        references=references,
        size=task_size(after.services, ctx.config),
    )
    return str((await ctx.api.register_task_definition(body))["taskDefinitionArn"])


async def _roll(ctx: EcsContext, op: Operation, inst: Instance, plan: ReleasePlan) -> DeployResult:
    await op.note(phase=f"{plan.strategy} deploy", release_id=plan.release_id)
    new = await register(ctx, op, inst, plan)
    if plan.strategy is DeployStrategy.ROLLING:
        await strategies.rolling(ctx, op, inst, plan, new)
    else:
        await strategies.beside(ctx, op, inst, plan, new)
    await prune(ctx, inst.instance_id)
    live = await require(ctx, inst.instance_id)
    return DeployResult(provider_ref=live.arn, status=DEPLOYED, release_id=plan.release_id)


async def deploy(ctx: EcsContext, op: Operation, req: DeployRequest) -> DeployResult:
    """Deploy ``req`` (see the module docs); the preflight already ran."""
    await repair(ctx, op)
    inst = await require(ctx, req.instance_id)
    known = [r.release_id for r in await releases(ctx, inst)]
    plan = plan_deploy(req, inst.request.services, known)
    return await _roll(ctx, op, inst, plan)


async def rollback(
    ctx: EcsContext, op: Operation, instance_id: str, release_id: str
) -> DeployResult:
    """Restore ``release_id``'s snapshot as a new release; ``ReleaseNotFound`` when it is
    not retained (nothing changes)."""
    await repair(ctx, op)
    inst = await require(ctx, instance_id)
    plan = plan_rollback(instance_id, release_id, inst.request.services, await releases(ctx, inst))
    return await _roll(ctx, op, inst, plan)


async def prune(ctx: EcsContext, instance_id: str) -> None:
    """Deregister and delete the revisions beyond the retained history."""
    running = {
        str(s.get("taskDefinition"))
        for s in await instance_services(ctx, instance_id)
        if s.get("status") != "INACTIVE"
    }
    definitions = []
    for arn in await ctx.api.task_definition_arns(family(ctx.config, instance_id), "ACTIVE"):
        found = await task_definition(ctx, arn)
        if found is not None:
            definitions.append(found)
    await remove_definitions(ctx, surplus(definitions, running, ctx.config.release_history))
