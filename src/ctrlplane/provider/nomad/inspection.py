"""Reading an instance and the agent (I/O): status, the instance list, resource usage,
releases, and the agent's health. What the answers mean is
:mod:`~ctrlplane.provider.nomad.observe`'s.

Readiness comes from the checks that decide the job's health: Nomad's native check
results, or, for jobs health-checked by ctrlplane's probes, one probe of each check
(:func:`~ctrlplane.provider.nomad.probes.probe_once`). Consul's check results are not in
Nomad's API, so with Consul a running task counts as ready.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad import jobs, repair
from ctrlplane.provider.nomad.context import NomadContext, agent_version
from ctrlplane.provider.nomad.observe.allocations import current_allocs, running
from ctrlplane.provider.nomad.observe.history import request_from_job
from ctrlplane.provider.nomad.observe.listing import (
    candidates,
    lacks_meta,
    list_filter,
    summaries,
)
from ctrlplane.provider.nomad.observe.status import instance_status as status_of
from ctrlplane.provider.nomad.observe.status import resource_usage
from ctrlplane.provider.nomad.observe.units import has_native_checks, live_allocs, unit_rows
from ctrlplane.provider.nomad.probes import probe_once
from ctrlplane.provider.nomad.waits import probed
from ctrlplane.provider.operations import interrupted_message, lease_metadata
from ctrlplane.provider.redaction import Redactor
from ctrlplane.provider.releases import Release
from ctrlplane.provider.reporting import measured_health
from ctrlplane.provider.results import (
    HealthStatus,
    InstanceStatus,
    InstanceSummary,
    ResourceUsage,
    UnitStatus,
)
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "health",
    "instance_status",
    "list_instances",
    "releases",
    "resources",
    "units",
    "with_operation",
]


async def _check_results(
    ctx: NomadContext, job: JSON, req: ProvisionRequest, allocs: Sequence[JSON]
) -> dict[str, JSON] | None:
    """The latest result of each check of each of ``allocs`` (running, with their
    allocated resources), by allocation ID: one probe of each check where ctrlplane's
    probes decide health (http and tcp reach the published port, not the agent; an
    exec check is one exec session), Nomad's native results (one request per
    allocation: Nomad keeps them on the allocation's client and lists them nowhere
    else, see docs/nomad.md), none without checks, and ``None`` when the checks are
    Consul's (Nomad's API cannot see them)."""
    if probed(job):
        return {str(a["ID"]): await probe_once(ctx, req, a) for a in allocs}
    if has_native_checks(job):
        return {str(a["ID"]): await jobs.checks(ctx, str(a["ID"])) for a in allocs}
    checked = any(s.health_check is not None for s in req.services)
    return None if checked else {}


async def instance_status(
    ctx: NomadContext, iid: str, redactor: Redactor | None = None
) -> InstanceStatus:
    """From the allocations of the current job version only, with the check results and
    published ports of the running ones (:mod:`~ctrlplane.provider.nomad.observe.status`):
    the job, its allocations listed with their resources, and the check results of
    those that run where Nomad keeps them per allocation (:func:`_check_results`).
    ``redactor`` learns the instance's secret values when a message could quote them
    (its spec has secrets and the status has a message)."""
    job = await jobs.read_job(ctx, iid)
    req = request_from_job(job)
    allocs = await jobs.listed_allocations(ctx, iid)
    checks: dict[str, JSON] = {}
    full: list[JSON] = []
    if not job.get("Stop"):
        full = await jobs.with_resources(ctx, running(current_allocs(job, allocs)))
        checks = await _check_results(ctx, job, req, full) or {}
    status = status_of(req, job, allocs, checks, full)
    if redactor is not None and any(s.secrets for s in req.services) and _messages(status):
        redactor.add(await jobs.secret_values(ctx, iid))
    return status


def _messages(status: InstanceStatus) -> bool:
    """Whether ``status`` says anything a task could have written."""
    return bool(status.message or any(s.message for s in status.services.values()))


async def units(ctx: NomadContext, iid: str) -> list[UnitStatus]:
    """One row per task of every allocation meant to run
    (:mod:`~ctrlplane.provider.nomad.observe.units`): the job, its allocations listed
    with their resources, the job versions only when some allocation runs an older one
    (a rollout), and the check results of the running ones (:func:`_check_results`)."""
    job = await jobs.read_job(ctx, iid)
    live = live_allocs(await jobs.listed_allocations(ctx, iid))
    live = await jobs.with_resources(ctx, live)
    older: dict[int, JSON] = {}
    if any(a.get("JobVersion") != job.get("Version") for a in live):
        wanted = {a.get("JobVersion") for a in live}
        older = {
            int(v["Version"]): v
            for v in await jobs.versions(ctx, iid)
            if v.get("Version") in wanted
        }
    req = request_from_job(job)
    checks = await _check_results(ctx, job, req, running(live))
    return unit_rows(job, live, checks, older)


async def with_operation(
    ctx: NomadContext, iid: str, status: InstanceStatus, lease: Lease
) -> InstanceStatus:
    """``status`` with the operation ``lease`` records: its metadata, and for one whose
    holder died (interrupted) the message and what the next mutating call will do."""
    metadata = {**status.metadata, **lease_metadata(lease)}
    update: dict[str, object] = {"metadata": metadata}
    if lease.expired():
        plan = await repair.planned(ctx, iid, lease)
        metadata["operation_repair"] = plan.description
        update["message"] = interrupted_message(lease, plan.description)
    return status.model_copy(update=update)


async def list_instances(ctx: NomadContext, tenant_id: str | None) -> list[InstanceSummary]:
    """Every instance in the namespace (of ``tenant_id``, if given), oldest first: one
    ``/v1/jobs`` call that the agent filters on the jobs' meta (Nomad 1.4+). An agent
    that ignores ``meta`` and ``filter`` (before 1.4: stubs without ``Meta``) gets the
    jobs whose ID can be an instance ID read in full instead."""
    stubs = await jobs.list_jobs(ctx, meta="true", filter=list_filter(tenant_id))
    if lacks_meta(stubs):
        found = [await jobs.find_job(ctx, jid) for jid in candidates(stubs)]
        stubs = [job for job in found if job is not None]
    return summaries(stubs, tenant_id)


async def resources(ctx: NomadContext, iid: str) -> ResourceUsage:
    """Allocation stats of the running current allocations, summed."""
    job = await jobs.read_job(ctx, iid)
    samples = [
        (alloc, await jobs.allocation_stats(ctx, str(alloc["ID"])))
        for alloc in running(await jobs.current(ctx, iid, job))
    ]
    return resource_usage(job, samples)


async def releases(ctx: NomadContext, iid: str) -> list[Release]:
    """The retained releases, newest first (only versions the server still holds)."""
    return [release for release, _ in await jobs.history(ctx, iid)]


async def health(ctx: NomadContext) -> HealthStatus:
    """``/v1/agent/health`` and the version from ``/v1/agent/self``, within
    ``request_timeout`` for both; never raises for the agent's errors (unhealthy, with
    the reason)."""
    started = time.monotonic()
    limit = seconds(ctx.config.request_timeout)
    try:
        async with asyncio.timeout(limit):
            answer = await ctx.api.get("/v1/agent/health")
            latency = time.monotonic() - started
            version = await agent_version(ctx, refresh=True)
    except (CtrlplaneError, TimeoutError) as exc:
        why = str(exc) if isinstance(exc, CtrlplaneError) else f"no answer within {limit:g}s"
        return measured_health(False, f"Nomad agent at {ctx.config.address}: {why}", started)
    parts = [f"{k}: {v.get('message', '')}" for k, v in (answer or {}).items()]
    return HealthStatus(
        healthy=all(v.get("ok") for v in (answer or {}).values()),
        message=f"Nomad {version}; " + ", ".join(parts),
        latency=timedelta(seconds=latency),
        checked_at=datetime.now(UTC),
    )
