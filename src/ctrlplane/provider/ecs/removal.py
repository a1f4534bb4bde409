"""Removing everything of an instance (I/O): what ``deprovision`` and a failed
``provision`` do.

In order: both of the instance's services are deleted (``force``: their tasks stop) and
waited for until ``INACTIVE``; then its log streams (``<instance>/...``) are deleted (no
task writes to them any more); its task definition revisions deregistered and deleted;
its stored secrets deleted. Each step tolerates what is already gone, so a repeated or
interrupted removal finishes the job.
"""

from __future__ import annotations

from ctrlplane.provider.ecs import secrets
from ctrlplane.provider.ecs.context import EcsContext
from ctrlplane.provider.ecs.render.names import family, service_names, stream_prefix
from ctrlplane.provider.ecs.waits import gone

__all__ = ["remove_definitions", "remove_instance"]


async def remove_definitions(ctx: EcsContext, arns: list[str]) -> None:
    """Deregister and delete the revisions ``arns``."""
    for arn in arns:
        await ctx.api.deregister_task_definition(arn)
    if arns:
        await ctx.api.delete_task_definitions(arns)


async def remove_instance(ctx: EcsContext, instance_id: str) -> None:
    """Remove every service, log stream, revision and secret of ``instance_id``."""
    names = list(service_names(ctx.config, instance_id))
    for service in await ctx.api.describe_services(names):
        if service.get("status") in ("ACTIVE", "DRAINING"):
            await ctx.api.delete_service(str(service["serviceName"]))
    await gone(ctx, names)
    group = ctx.config.log_group
    for stream in await ctx.api.log_streams(group, stream_prefix(instance_id) + "/"):
        await ctx.api.delete_log_stream(group, stream)
    name = family(ctx.config, instance_id)
    for arn in await ctx.api.task_definition_arns(name, "ACTIVE"):
        await ctx.api.deregister_task_definition(arn)
    inactive = await ctx.api.task_definition_arns(name, "INACTIVE")
    if inactive:
        await ctx.api.delete_task_definitions(inactive)
    await secrets.remove(ctx, instance_id)
