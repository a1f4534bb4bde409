"""One instance's job on the agent: the small reads and writes every operation is built
from (I/O through the context's client; what the answers mean is
:mod:`~ctrlplane.provider.nomad.observe`'s).

A job the agent does not have, or one ctrlplane did not register, is
:class:`~ctrlplane.errors.InstanceNotFound`; an allocation's checks that the client no
longer knows are none.
"""

from __future__ import annotations

from collections.abc import Mapping

from ctrlplane.errors import BackendError, InstanceNotFound
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.config import BACKEND
from ctrlplane.provider.nomad.context import NomadContext
from ctrlplane.provider.nomad.observe.allocations import current_allocs
from ctrlplane.provider.nomad.observe.history import (
    is_ours,
    live_release,
    releases_from_versions,
)
from ctrlplane.provider.nomad.render.names import job_id
from ctrlplane.provider.releases import Release

__all__ = [
    "allocation",
    "allocation_stats",
    "allocations",
    "checks",
    "current",
    "deployment",
    "deployments",
    "evaluations",
    "fail_deployment",
    "find_job",
    "history",
    "promote",
    "purge",
    "read_job",
    "register",
    "restart_allocation",
    "stop_job",
    "versions",
    "write_variable",
]


async def find_job(ctx: NomadContext, iid: str) -> JSON | None:
    """The instance's job (its current version), or ``None`` when there is none."""
    try:
        return await read_job(ctx, iid)
    except InstanceNotFound:
        return None


async def read_job(ctx: NomadContext, iid: str) -> JSON:
    """The instance's job (its current version); :class:`InstanceNotFound` if none."""
    job = await ctx.api.get(f"/v1/job/{job_id(iid)}", missing_ok=True)
    if not is_ours(job):
        raise InstanceNotFound(iid, provider=BACKEND)
    return dict(job)


async def allocations(ctx: NomadContext, iid: str) -> list[JSON]:
    """Every allocation of the job (all versions, stubs)."""
    return list(await ctx.api.get(f"/v1/job/{job_id(iid)}/allocations") or [])


async def current(ctx: NomadContext, iid: str, job: Mapping[str, object]) -> list[JSON]:
    """The allocations of ``job``'s current version that are meant to run, by replica."""
    return current_allocs(job, await allocations(ctx, iid))


async def allocation(ctx: NomadContext, alloc_id: str) -> JSON:
    """One allocation in full (its allocated resources: the published ports)."""
    return dict(await ctx.api.get(f"/v1/allocation/{alloc_id}") or {})


async def allocation_stats(ctx: NomadContext, alloc_id: str) -> JSON:
    """Resource usage of an allocation's tasks, as its client measures it."""
    return dict(await ctx.api.get(f"/v1/client/allocation/{alloc_id}/stats") or {})


async def restart_allocation(ctx: NomadContext, alloc_id: str) -> None:
    """Restart the running tasks of an allocation in place."""
    await ctx.api.put(f"/v1/client/allocation/{alloc_id}/restart", {})


async def checks(ctx: NomadContext, alloc_id: str) -> JSON:
    """The latest result of each check of an allocation (empty once it is gone)."""
    found = await ctx.api.get(f"/v1/client/allocation/{alloc_id}/checks", missing_ok=True)
    return dict(found or {})


async def versions(ctx: NomadContext, iid: str) -> list[JSON]:
    """The job versions the server retains (newest first)."""
    found = await ctx.api.get(f"/v1/job/{job_id(iid)}/versions")
    return list((found or {}).get("Versions") or [])


async def history(ctx: NomadContext, iid: str) -> list[tuple[Release, int]]:
    """The retained releases, newest first, each with the newest job version carrying
    it (at most ``release_history``)."""
    job = await read_job(ctx, iid)
    found = await versions(ctx, iid)
    return releases_from_versions(found, live_release(job), ctx.config.release_history)


async def deployment(ctx: NomadContext, iid: str) -> JSON | None:
    """The job's newest deployment, or ``None`` when it has none."""
    found = await ctx.api.get(f"/v1/job/{job_id(iid)}/deployment")
    return found if isinstance(found, dict) else None


async def deployments(ctx: NomadContext, iid: str) -> list[JSON]:
    """Every deployment of the job the server retains."""
    return list(await ctx.api.get(f"/v1/job/{job_id(iid)}/deployments") or [])


async def evaluations(ctx: NomadContext, iid: str) -> list[JSON]:
    """The job's evaluations (placement failures are recorded there)."""
    return list(await ctx.api.get(f"/v1/job/{job_id(iid)}/evaluations") or [])


async def register(ctx: NomadContext, job: JSON) -> None:
    """Register ``job`` (a new job version)."""
    await ctx.api.put("/v1/jobs", {"Job": job})


async def stop_job(ctx: NomadContext, iid: str) -> None:
    """Stop the job (a new version with ``Stop`` set; its allocations stop)."""
    await ctx.api.delete(f"/v1/job/{job_id(iid)}")


async def write_variable(ctx: NomadContext, path: str, items: Mapping[str, str]) -> None:
    """Write the Variable at ``path`` (a task's secrets)."""
    body = {"Namespace": ctx.config.namespace, "Path": path, "Items": dict(items)}
    await ctx.api.put(f"/v1/var/{path}", body)


async def purge(ctx: NomadContext, iid: str) -> None:
    """Purge the job (its allocations stop, its versions go) and delete its Variables.
    Nothing there is fine."""
    await ctx.api.delete(f"/v1/job/{job_id(iid)}", missing_ok=True, purge="true")
    prefix = f"{ctx.config.variables_prefix}/{job_id(iid)}/"
    for var in await ctx.api.get("/v1/vars", prefix=prefix) or []:
        await ctx.api.delete(f"/v1/var/{var['Path']}")


async def promote(ctx: NomadContext, dep: str) -> None:
    """Promote every canary of deployment ``dep`` (the rest of the job rolls)."""
    await ctx.api.post(f"/v1/deployment/promote/{dep}", {"DeploymentID": dep, "All": True})


async def fail_deployment(ctx: NomadContext, dep: str) -> None:
    """Mark deployment ``dep`` failed (Nomad then auto-reverts); already ended is fine."""
    try:
        await ctx.api.post(f"/v1/deployment/fail/{dep}", {"DeploymentID": dep})
    except BackendError as exc:
        if exc.status != 400:
            raise
