"""Reading instances back from the engine: the engine's health, status (with one probe
round, the operation lease, and scrubbed of the instance's secret values), the unit rows,
the instance list and resource usage. The I/O half of these answers; the pure reading of
inspects and stats samples is in :mod:`.observe`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence

from ctrlplane.errors import CtrlplaneError, InstanceNotFound
from ctrlplane.provider.docker.config import BACKEND
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.frames import DockerFrames
from ctrlplane.provider.docker.fronts import inspect_fronts, unresolved_fronts
from ctrlplane.provider.docker.gate import gate_service
from ctrlplane.provider.docker.history import read_history
from ctrlplane.provider.docker.instances import inspect_all, inspect_holders, load
from ctrlplane.provider.docker.materials import held_secret_values
from ctrlplane.provider.docker.observe.fronts import with_fronts
from ctrlplane.provider.docker.observe.leases import repair_plan
from ctrlplane.provider.docker.observe.state import instance_status
from ctrlplane.provider.docker.observe.units import unit_rows
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
from ctrlplane.provider.docker.render.naming import RETIRING_SUFFIX
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.health import GateOutcome, ProbeResult
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.native import JSON
from ctrlplane.provider.operations import Operation, interrupted_message, lease_metadata
from ctrlplane.provider.reporting import measured_health
from ctrlplane.provider.results import (
    HealthStatus,
    InstanceStatus,
    InstanceSummary,
    ResourceUsage,
    UnitStatus,
)

__all__ = [
    "engine_health",
    "list_summaries",
    "list_units",
    "read_status",
    "resource_usage",
]


async def engine_health(frames: DockerFrames) -> HealthStatus:
    """Ping the engine on a fresh client: healthy with the engine's version, or not
    (never raises; every request is bounded by the client's timeouts)."""
    began = time.monotonic()
    healthy, message = True, ""
    try:
        async with frames.client() as client:
            began = time.monotonic()  # the ping alone, once connected
            await client.ping()
            message = f"Docker engine {frames.engine_version} (API {frames.api_version})"
    except CtrlplaneError as exc:
        healthy, message = False, str(exc)
    return measured_health(healthy, message, began)


async def read_status(ctx: DockerContext, op: Operation, lease: Lease | None) -> InstanceStatus:
    """Per-service state (worst-of over replicas), worst-of aggregate, endpoints;
    ``PROVISIONING`` while the network (or a provision's lease) exists without containers
    (``DESTROYING`` during a deprovision). The operation ``lease`` (running or
    interrupted) is reported in ``metadata``; an interrupted one in the message too, with
    what the next mutating call will do about it. Texts quoting container output are
    scrubbed of the secret values the instance's containers hold."""
    instance_id = op.instance_id
    inspects = await inspect_all(ctx, instance_id)
    if inspects:
        wl = workload_from_containers(ctx.labels, inspects)
        op.redactor.add(await held_secret_values(ctx, wl, inspects))
        probes = await _probe_running(ctx, wl, inspects)
        fronts = await inspect_fronts(ctx, instance_id)
        status = instance_status(
            [s.name for s in wl.services],
            {s.name: s.role for s in wl.services},
            inspects,
            {(r.service, r.replica): r for i, r in probes.items() if i not in _retiring(inspects)},
            label_prefix=ctx.config.label_prefix,
            endpoints=endpoints(ctx.config, wl, fronts),
            metadata=instance_metadata(ctx.names, wl, len(units(ctx.labels, inspects))),
        )
        unresolved = await unresolved_fronts(ctx, wl, fronts) if status.ready else set()
        status = with_fronts(ctx.config, wl, fronts, status, unresolved)
    elif lease is not None or await ctx.client.list_networks(
        ctx.labels.instance_filter(instance_id)
    ):
        removing = lease is not None and lease.operation == "deprovision"
        status = InstanceStatus(
            state=InstanceState.DESTROYING if removing else InstanceState.PROVISIONING,
            message="no containers yet" if not removing else "being removed",
        )
    else:
        raise InstanceNotFound(instance_id, provider=BACKEND)
    if lease is not None:
        status = await _with_lease(ctx, instance_id, status, lease)
    return op.redactor.status(status)


async def _with_lease(
    ctx: DockerContext, instance_id: str, status: InstanceStatus, lease: Lease
) -> InstanceStatus:
    """``status`` with the operation ``lease`` reported (see :func:`read_status`)."""
    metadata = {**status.metadata, **lease_metadata(lease)}
    update: dict[str, object] = {"metadata": metadata}
    if lease.expired():
        history = await read_history(ctx, instance_id)
        plan = repair_plan(lease, history[0].release_id if history else "")
        metadata["operation_next"] = plan
        update["message"] = "; ".join(
            m for m in (interrupted_message(lease), f"next: {plan}", status.message) if m
        )
    return status.model_copy(update=update)


async def list_units(ctx: DockerContext, op: Operation) -> list[UnitStatus]:
    """One row per container of the instance (see :mod:`.observe.units`);
    :class:`InstanceNotFound` when it has none. Messages are scrubbed like status."""
    wl, inspects = await load(ctx, op.instance_id)
    op.redactor.add(await held_secret_values(ctx, wl, inspects))
    fronts = await inspect_fronts(ctx, op.instance_id)
    rows = unit_rows(ctx.config, wl, inspects, await _probe_running(ctx, wl, inspects), fronts)
    return [r.model_copy(update={"message": op.redact(r.message)}) for r in rows]


def _retiring(inspects: Sequence[JSON]) -> set[str]:
    return {str(i["Id"]) for i in inspects if str(i.get("Name", "")).endswith(RETIRING_SUFFIX)}


async def _probe_running(
    ctx: DockerContext, wl: Workload, inspects: Sequence[JSON]
) -> dict[str, ProbeResult]:
    """One probe of every running long-lived container whose service has a health
    check (concurrently), by container ID: a service is ready only while its check
    passes."""
    keys = ctx.labels
    network = ctx.names.network(wl.instance_id)
    holders = await inspect_holders(ctx, wl.instance_id)
    jobs: dict[str, Awaitable[GateOutcome]] = {}
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
        jobs[str(info["Id"])] = gate_service(
            ctx.client,
            svc.health_check.model_copy(update={"retries": 1}),
            service=name,
            replica=replica,
            address=unit_address(keys, network, holders, replica),
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
    """CPU (100 = one core), memory and network summed over running service containers
    (sampled concurrently: the engine takes about a second per sample); a unit's network
    traffic is its namespace holder's (only that is counted of a holder)."""
    _, inspects = await load(ctx, instance_id)
    inspects += await inspect_holders(ctx, instance_id)
    running = [i for i in inspects if (i.get("State") or {}).get("Running")]
    stats = await asyncio.gather(*(ctx.client.stats(i["Id"]) for i in running))
    samples = []
    for info, sample in zip(running, stats, strict=True):
        if sample is None:
            continue
        labels = info["Config"]["Labels"]
        if ctx.labels.pod in labels:
            samples.append(({"networks": sample.get("networks") or {}}, 0, True))
            continue
        configured = int((info.get("HostConfig") or {}).get("Memory") or 0)
        samples.append((sample, configured, labels.get(ctx.labels.netns) == "own"))
    return sum_usage(samples)
