"""Finding an instance and its tasks (I/O): the small reads every operation starts with."""

from __future__ import annotations

from ctrlplane.errors import BackendError, InstanceNotFound
from ctrlplane.provider.ecs.config import BACKEND
from ctrlplane.provider.ecs.context import EcsContext, task_definition
from ctrlplane.provider.ecs.observe.instance import Instance, pick_live
from ctrlplane.provider.ecs.render.names import service_names
from ctrlplane.provider.native import JSON

__all__ = ["current_tasks", "find", "instance_services", "require", "stopped_tasks"]


async def instance_services(ctx: EcsContext, instance_id: str) -> list[JSON]:
    """Every service of the instance ECS still shows (``INACTIVE`` ones too)."""
    return await ctx.api.describe_services(list(service_names(ctx.config, instance_id)))


async def find(ctx: EcsContext, instance_id: str) -> Instance | None:
    """The instance (its live service and revision), or ``None``."""
    live, others = pick_live(await instance_services(ctx, instance_id))
    if live is None:
        return None
    arn = str(live.get("taskDefinition", ""))
    definition = await task_definition(ctx, arn)
    if definition is None:
        raise BackendError(
            f"service {live.get('serviceName')!r} runs task definition {arn!r}, which ECS does "
            "not know",
            backend=BACKEND,
        )
    return Instance(instance_id, live, definition, others)


async def require(ctx: EcsContext, instance_id: str) -> Instance:
    """:func:`find`, or :class:`~ctrlplane.errors.InstanceNotFound`."""
    found = await find(ctx, instance_id)
    if found is None:
        raise InstanceNotFound(instance_id, provider=BACKEND)
    return found


async def current_tasks(ctx: EcsContext, service: str) -> list[JSON]:
    """The tasks of ``service`` meant to run (desired status ``RUNNING``)."""
    arns = await ctx.api.task_arns(service, "RUNNING")
    return await ctx.api.describe_tasks(arns) if arns else []


async def stopped_tasks(ctx: EcsContext, service: str) -> list[JSON]:
    """The tasks of ``service`` that stopped or are stopping (ECS shows them for a while)."""
    arns = await ctx.api.task_arns(service, "STOPPED")
    return await ctx.api.describe_tasks(arns) if arns else []
