"""Reading instances back from the engine: status (with one probe round), the instance
list and resource usage. The I/O half of these answers; the pure reading of inspects and
stats samples is in :mod:`.observe`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

from ctrlplane.errors import InstanceNotFound
from ctrlplane.provider.docker.config import BACKEND
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.gate import gate_service
from ctrlplane.provider.docker.instances import inspect_all, load
from ctrlplane.provider.docker.observe.state import instance_status
from ctrlplane.provider.docker.observe.usage import sum_usage
from ctrlplane.provider.docker.observe.workload import (
    endpoints,
    instance_metadata,
    replica_of,
    summaries,
    unit_address,
    units,
    workload_from_containers,
)
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.health import GateOutcome, ProbeResult
from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import InstanceStatus, InstanceSummary, ResourceUsage

__all__ = ["list_summaries", "read_status", "resource_usage"]


async def read_status(ctx: DockerContext, instance_id: str) -> InstanceStatus:
    """Per-service state (worst-of over replicas), worst-of aggregate, endpoints;
    ``PROVISIONING`` while the network exists without containers."""
    inspects = await inspect_all(ctx, instance_id)
    if not inspects:
        if await ctx.client.list_networks(ctx.labels.instance_filter(instance_id)):
            return InstanceStatus(state=InstanceState.PROVISIONING, message="no containers yet")
        raise InstanceNotFound(instance_id, provider=BACKEND)
    wl = workload_from_containers(ctx.labels, inspects)
    probes = await _probe_running(ctx, wl, inspects)
    return instance_status(
        [s.name for s in wl.services],
        {s.name: s.role for s in wl.services},
        inspects,
        probes,
        label_prefix=ctx.config.label_prefix,
        endpoints=endpoints(ctx.config, wl, inspects),
        metadata=instance_metadata(ctx.names, wl, len(units(ctx.labels, inspects))),
    )


async def _probe_running(
    ctx: DockerContext, wl: Workload, inspects: Sequence[JSON]
) -> dict[tuple[str, int], ProbeResult]:
    """One probe of every running long-lived container whose service has a health
    check (concurrently): a service is ready only while its check passes."""
    keys = ctx.labels
    network = ctx.names.network(wl.instance_id)
    jobs: dict[tuple[str, int], Awaitable[GateOutcome]] = {}
    for info in inspects:
        if not (info.get("State") or {}).get("Running"):
            continue
        name = info["Config"]["Labels"].get(keys.service, "")
        try:
            svc = wl.service(name)
        except KeyError:
            continue
        if svc.health_check is None or svc.role is ServiceRole.INIT:
            continue
        replica = replica_of(keys, info)
        jobs[(name, replica)] = gate_service(
            ctx.client,
            svc.health_check.model_copy(update={"retries": 1}),
            service=name,
            replica=replica,
            address=unit_address(keys, network, inspects, replica),
            container=str(info["Id"]),
        )
    outcomes = await asyncio.gather(*jobs.values())
    return {
        key: outcome.results[-1]
        for key, outcome in zip(jobs, outcomes, strict=True)
        if outcome.results
    }


async def list_summaries(ctx: DockerContext, tenant_id: str | None) -> list[InstanceSummary]:
    """Every instance on the engine (of ``tenant_id``), oldest first; one list call."""
    found = await ctx.client.list_containers(ctx.labels.managed_filter(tenant_id))
    return summaries(ctx.labels, found)


async def resource_usage(ctx: DockerContext, instance_id: str) -> ResourceUsage:
    """CPU (100 = one core), memory and network summed over running containers (sampled
    concurrently: the engine takes about a second per sample)."""
    _, inspects = await load(ctx, instance_id)
    running = [i for i in inspects if (i.get("State") or {}).get("Running")]
    stats = await asyncio.gather(*(ctx.client.stats(i["Id"]) for i in running))
    samples = []
    for info, sample in zip(running, stats, strict=True):
        if sample is None:
            continue
        configured = int((info.get("HostConfig") or {}).get("Memory") or 0)
        owns = info["Config"]["Labels"].get(ctx.labels.netns) in ("owner", "own")
        samples.append((sample, configured, owns))
    return sum_usage(samples)
