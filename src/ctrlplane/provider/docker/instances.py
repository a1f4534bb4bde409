"""Reading one instance back from the engine: its containers, and the workload their
labels describe. Every call is label-filtered by the instance ID (never a scan of the
whole engine)."""

from __future__ import annotations

import asyncio

from ctrlplane.errors import InstanceNotFound, InvalidSpec, Problem
from ctrlplane.provider.docker.config import BACKEND
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.observe.workload import workload_from_containers
from ctrlplane.provider.docker.render.naming import RETIRING_SUFFIX
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ServiceSpec

__all__ = ["inspect_all", "inspect_holders", "load", "pick_service"]


async def inspect_all(ctx: DockerContext, instance_id: str) -> list[JSON]:
    """``docker inspect`` of every service container of the instance (one filtered list,
    then the inspects concurrently)."""
    found = await ctx.client.list_containers(ctx.labels.service_filter(instance_id))
    inspects = await asyncio.gather(*(ctx.client.inspect_container(c["Id"]) for c in found))
    return [i for i in inspects if i is not None]


async def inspect_holders(ctx: DockerContext, instance_id: str) -> list[JSON]:
    """``docker inspect`` of every namespace holder of the instance's units (the current
    ones first, then ``-retiring`` ones)."""
    found = await ctx.client.list_containers(ctx.labels.holder_filter(instance_id))
    inspects = await asyncio.gather(*(ctx.client.inspect_container(c["Id"]) for c in found))
    present = [i for i in inspects if i is not None]
    return sorted(present, key=lambda i: str(i.get("Name", "")).endswith(RETIRING_SUFFIX))


async def load(ctx: DockerContext, instance_id: str) -> tuple[Workload, list[JSON]]:
    """The workload read back from the labels and its containers' inspects;
    :class:`InstanceNotFound` when the instance has no container."""
    inspects = await inspect_all(ctx, instance_id)
    if not inspects:
        raise InstanceNotFound(instance_id, provider=BACKEND)
    return workload_from_containers(ctx.labels, inspects), inspects


def pick_service(wl: Workload, name: str, *, field: str, subject: str) -> ServiceSpec:
    """The service ``name`` of ``wl``; :class:`InvalidSpec` at ``field`` of ``subject``
    (naming the services there are) when it has none."""
    try:
        return wl.service(name)
    except KeyError:
        known = ", ".join(s.name for s in wl.services)
        raise InvalidSpec(
            [Problem(field, f"no service {name!r} (services: {known})")], subject=subject
        ) from None
