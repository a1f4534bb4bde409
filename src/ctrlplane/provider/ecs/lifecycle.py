"""Stopping, starting, restarting and scaling an instance (I/O).

- ``stop``: the live service's desired count goes to 0 (the count is remembered in the
  ``ctrlplane:replicas`` tag) and the call waits until every task stopped; no-op when
  already 0.
- ``start``: the remembered count comes back and the call waits until the deployment
  runs it, healthy; no-op when the instance runs. A task that fails on the way raises
  ``BackendError`` (ECS keeps replacing it; status shows why).
- ``restart``: a new deployment of the same revision (``forceNewDeployment``): new tasks
  start, healthy, before the old ones stop; a stopped instance is started.
- ``scale``: replicas are the desired count; ``cpu_millis``/``memory_mb``/``disk_mb`` of
  the main service need a new revision of the same release (ECS's rolling update to it,
  back to the previous revision if it fails). Not a release: the live release stays.
"""

from __future__ import annotations

from ctrlplane.errors import BackendError
from ctrlplane.provider.deadlines import Deadline, cleanup
from ctrlplane.provider.ecs import secrets
from ctrlplane.provider.ecs.config import BACKEND
from ctrlplane.provider.ecs.context import EcsContext
from ctrlplane.provider.ecs.deploys import prune
from ctrlplane.provider.ecs.instances import require
from ctrlplane.provider.ecs.limits import spec_refusals
from ctrlplane.provider.ecs.observe.instance import Instance
from ctrlplane.provider.ecs.render import task_definition, task_size
from ctrlplane.provider.ecs.render.names import TAG_REPLICAS
from ctrlplane.provider.ecs.render.service import DEPLOYMENT_CONFIGURATION
from ctrlplane.provider.ecs.repair import repair
from ctrlplane.provider.ecs.strategies import revert
from ctrlplane.provider.ecs.targets import target_gate
from ctrlplane.provider.ecs.waits import settle, stopped
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.spec import ResourceSpec

__all__ = ["restart", "scale", "start", "stop"]


async def _run(ctx: EcsContext, inst: Instance, target: str, what: str) -> None:
    """Wait until ``inst``'s deployment of ``target`` completed; ``BackendError`` (naming
    the failing service) when it fails."""
    inits = [s.name for s in inst.request.services if s.role is ServiceRole.INIT]
    try:
        async with Deadline(ctx.config.deploy_timeout, f"{what} of {inst.instance_id}").timeout():
            await settle(
                ctx,
                inst.name,
                target=target,
                step=what,
                inits=inits,
                targets=target_gate(ctx, inst.request.main),
            )
    except RolloutFailed as exc:
        raise BackendError(
            f"{what} of {inst.instance_id!r} failed: {exc.reason}", backend=BACKEND
        ) from None
    except TimeoutError:
        raise BackendError(
            f"{what} of {inst.instance_id!r} did not finish within "
            f"{ctx.config.deploy_timeout.total_seconds():g}s",
            backend=BACKEND,
        ) from None


async def stop(ctx: EcsContext, op: Operation, instance_id: str) -> None:
    await repair(ctx, op)
    inst = await require(ctx, instance_id)
    if inst.desired > 0:
        await ctx.api.tag(inst.arn, {TAG_REPLICAS: str(inst.desired)})
        await ctx.api.update_service(inst.name, desiredCount=0)
    async with Deadline(ctx.config.deploy_timeout, f"stop of {instance_id}").timeout():
        await stopped(ctx, inst.name)


async def start(ctx: EcsContext, op: Operation, instance_id: str) -> None:
    await repair(ctx, op)
    inst = await require(ctx, instance_id)
    if inst.desired == 0:
        await ctx.api.update_service(inst.name, desiredCount=inst.remembered)
    await _run(ctx, inst, inst.definition_arn, "start")


async def restart(ctx: EcsContext, op: Operation, instance_id: str) -> None:
    await repair(ctx, op)
    inst = await require(ctx, instance_id)
    if inst.desired == 0:
        await ctx.api.update_service(inst.name, desiredCount=inst.remembered)
    else:
        await ctx.api.update_service(inst.name, forceNewDeployment=True)
    await _run(ctx, inst, inst.definition_arn, "restart")


async def scale(ctx: EcsContext, op: Operation, instance_id: str, spec: ResourceSpec) -> None:
    await repair(ctx, op)
    inst = await require(ctx, instance_id)
    req = inst.request
    main = req.main
    sized = main.resources.model_copy(
        update={
            name: getattr(spec, name)
            for name in ("cpu_millis", "memory_mb", "disk_mb")
            if getattr(spec, name)
        }
    )
    replicas = spec.replicas or None
    if replicas is not None:
        sized = sized.model_copy(update={"replicas": replicas})
    services = [
        s.model_copy(update={"resources": sized}) if s.name == main.name else s
        for s in req.services
    ]
    after = req.model_copy(update={"services": services})
    await op.note(phase="scale")
    if replicas is not None:
        await ctx.api.tag(inst.arn, {TAG_REPLICAS: str(replicas)})
    resized = sized.model_copy(update={"replicas": 0}) != main.resources.model_copy(
        update={"replicas": 0}
    )
    desired = inst.desired if replicas is None or inst.desired == 0 else replicas
    if not resized:
        if replicas is not None and inst.desired > 0:
            await ctx.api.update_service(inst.name, desiredCount=desired)
            await _run(ctx, inst, inst.definition_arn, "scale")
        return
    ctx.preflight.refuse(spec_refusals(after, ctx.config), subject="scale request")
    references: secrets.References = {}
    if any(s.secrets for s in after.services):
        references = await secrets.store(ctx, after, await secrets.resolve(op, after))
    body = task_definition(
        after,
        inst.release,
        ctx.config,
        region=ctx.region,
        references=references,
        size=task_size(services, ctx.config),
    )
    new = str((await ctx.api.register_task_definition(body))["taskDefinitionArn"])
    await ctx.api.update_service(
        inst.name,
        taskDefinition=new,
        desiredCount=desired,
        deploymentConfiguration=DEPLOYMENT_CONFIGURATION,
    )
    try:
        await _run(ctx, inst, new, "scale")
    except BaseException as exc:
        left = await cleanup(
            revert(ctx, inst, new),
            ctx.config.deploy_timeout,
            "restoring the previous revision",
        )
        if left and isinstance(exc, BackendError):
            raise BackendError(f"{exc}; {left}", backend=BACKEND) from None
        raise
    await prune(ctx, instance_id)
