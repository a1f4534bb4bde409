"""Starting, stopping, restarting and scaling an instance (I/O).

Every change is a job version: ``stop`` registers the job stopped, ``start`` the full
last version again with ``Stop = false``, ``scale`` the same release with a new group
count and main-task resources. ``restart`` restarts the running tasks in place. Waits
are bounded by ``deploy_timeout`` (:class:`~ctrlplane.errors.OperationTimeout` past it).
"""

from __future__ import annotations

from ctrlplane.provider.deadlines import bounded
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.context import NomadContext
from ctrlplane.provider.nomad.observe.allocations import running
from ctrlplane.provider.nomad.observe.history import created_at, release_meta, request_from_job
from ctrlplane.provider.nomad.render import started, translate
from ctrlplane.provider.nomad.waits import settle, wait_stopped
from ctrlplane.provider.spec import ProvisionRequest, ResourceSpec

__all__ = ["restart", "scale", "scaled", "start", "stop"]


async def stop(ctx: NomadContext, iid: str) -> None:
    """Stop the job (``DELETE`` without purge) and wait until its allocations stopped.
    No-op when stopped."""
    job = await jobs.read_job(ctx, iid)
    if not job.get("Stop"):
        await jobs.stop_job(ctx, iid)
    await bounded(wait_stopped(ctx, iid), ctx.config.deploy_timeout, "stop")


async def start(ctx: NomadContext, iid: str) -> None:
    """Register the full last job version again with ``Stop = false`` and wait until it
    is healthy. No-op when running."""
    job = await jobs.read_job(ctx, iid)
    if job.get("Stop"):
        await jobs.register(ctx, started(job))
    await bounded(settle(ctx, iid, "start"), ctx.config.deploy_timeout, "start")


async def restart(ctx: NomadContext, iid: str) -> None:
    """Restart the running tasks of every current allocation (in place)."""
    job = await jobs.read_job(ctx, iid)
    for alloc in running(await jobs.current(ctx, iid, job)):
        await jobs.restart_allocation(ctx, str(alloc["ID"]))


def scaled(req: ProvisionRequest, spec: ResourceSpec) -> ProvisionRequest:
    """``req`` with the main service's replicas, CPU, memory and disk from ``spec`` (a 0
    leaves that setting unchanged)."""
    changes = {
        k: v
        for k, v in (
            ("replicas", spec.replicas),
            ("cpu_millis", spec.cpu_millis),
            ("memory_mb", spec.memory_mb),
            ("disk_mb", spec.disk_mb),
        )
        if v
    }
    resources = req.main.resources.model_copy(update=changes)
    services = [
        s.model_copy(update={"resources": resources}) if s.role is ServiceRole.MAIN else s
        for s in req.services
    ]
    return req.model_copy(update={"services": services})


async def scale(ctx: NomadContext, iid: str, spec: ResourceSpec) -> None:
    """Register the live release again with the scaled spec (not a new release) and wait
    until it is healthy; the preflight's limits refuse a scaled spec Nomad cannot run
    before anything changes."""
    job = await jobs.read_job(ctx, iid)
    new = scaled(request_from_job(job), spec)
    ctx.preflight.refuse(ctx.preflight.limits.provision(new), subject="scale request")
    body = translate(new, release_meta(job), ctx.config, created=created_at(job))
    await jobs.register(ctx, body)
    await bounded(settle(ctx, iid, "scale"), ctx.config.deploy_timeout, "scale")
