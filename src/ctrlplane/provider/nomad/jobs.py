"""One instance's job on the agent: the small reads and writes every operation is built
from (I/O through the context's client; what the answers mean is
:mod:`~ctrlplane.provider.nomad.observe`'s).

A job the agent does not have, or one ctrlplane did not register, is
:class:`~ctrlplane.errors.InstanceNotFound`; an allocation's checks that the client no
longer knows (or an agent before 1.4, which has no checks endpoint) are none. Nomad
answers promote, fail and allocation health of a deployment that already ended (or that
it does not know) with a 500; :func:`deployment_ended` recognises that answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ctrlplane.errors import BackendError, InstanceNotFound
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.config import BACKEND
from ctrlplane.provider.nomad.context import NomadContext, agent_version, has_variables
from ctrlplane.provider.nomad.observe.allocations import current_allocs
from ctrlplane.provider.nomad.observe.history import (
    is_ours,
    live_release,
    releases_from_versions,
)
from ctrlplane.provider.nomad.render.names import job_id
from ctrlplane.provider.nomad.versions import ALLOC_LIST_FILTER, at_least
from ctrlplane.provider.releases import Release

__all__ = [
    "ENDED_ANSWERS",
    "allocation",
    "allocation_stats",
    "allocations",
    "checks",
    "current",
    "deployment",
    "deployment_ended",
    "deployments",
    "evaluations",
    "fail_deployment",
    "find_job",
    "history",
    "list_jobs",
    "listed_allocations",
    "promote",
    "purge",
    "read_job",
    "register",
    "restart_task",
    "secret_values",
    "set_health",
    "set_stable",
    "stop_job",
    "versions",
    "with_resources",
    "write_variable",
]


ENDED_ANSWERS = ("terminal deployment", "deployment not found")
"""What Nomad says (500) when asked to promote, fail or set the health of a deployment
that ended or that it does not know."""


def deployment_ended(exc: BackendError) -> bool:
    """Whether ``exc`` is Nomad's answer for a deployment that already ended (or that it
    does not know): 500 on 1.1 (a 400 on some versions)."""
    return exc.status in (400, 500) and any(a in str(exc) for a in ENDED_ANSWERS)


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


async def listed_allocations(ctx: NomadContext, iid: str) -> list[JSON]:
    """Every allocation of the job (stubs), with ``AllocatedResources`` where the agent
    lists them: one ``/v1/allocations`` call the agent filters on the job, with
    ``resources=true`` (Nomad 1.3+, whose allocation list filters); older agents ignore
    the filter, so they get the job's allocation stubs (without resources) instead."""
    if not at_least(await agent_version(ctx), ALLOC_LIST_FILTER):
        return await allocations(ctx, iid)
    jid = job_id(iid)
    found = await ctx.api.get("/v1/allocations", filter=f'JobID == "{jid}"', resources="true")
    return [dict(a) for a in found or [] if a.get("JobID") == jid]


async def with_resources(ctx: NomadContext, allocs: Sequence[JSON]) -> list[JSON]:
    """``allocs`` with their ``AllocatedResources`` (published ports): those listed
    without them are read in full, one request each."""
    return [
        dict(a) if a.get("AllocatedResources") else await allocation(ctx, str(a["ID"]))
        for a in allocs
    ]


async def current(ctx: NomadContext, iid: str, job: Mapping[str, object]) -> list[JSON]:
    """The allocations of ``job``'s current version that are meant to run, by replica."""
    return current_allocs(job, await allocations(ctx, iid))


async def allocation(ctx: NomadContext, alloc_id: str) -> JSON:
    """One allocation in full (its allocated resources: the published ports)."""
    return dict(await ctx.api.get(f"/v1/allocation/{alloc_id}") or {})


async def allocation_stats(ctx: NomadContext, alloc_id: str) -> JSON:
    """Resource usage of an allocation's tasks, as its client measures it."""
    return dict(await ctx.api.get(f"/v1/client/allocation/{alloc_id}/stats") or {})


async def restart_task(ctx: NomadContext, alloc_id: str, task: str) -> None:
    """Restart one running task of an allocation in place (by name: an empty body asks
    for every task, and Nomad answers 500 ``Task not running`` when one finished)."""
    await ctx.api.put(f"/v1/client/allocation/{alloc_id}/restart", {"TaskName": task})


async def checks(ctx: NomadContext, alloc_id: str) -> JSON:
    """The latest result of each native check of an allocation (empty once it is gone,
    and on agents before 1.4, which have no checks endpoint)."""
    if not await has_variables(ctx):
        return {}
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
    """Every deployment of the job the server retains, newest first (Nomad lists them
    in no particular order)."""
    found = list(await ctx.api.get(f"/v1/job/{job_id(iid)}/deployments") or [])
    return sorted(found, key=lambda d: int(d.get("CreateIndex") or 0), reverse=True)


async def evaluations(ctx: NomadContext, iid: str) -> list[JSON]:
    """The job's evaluations (placement failures are recorded there)."""
    return list(await ctx.api.get(f"/v1/job/{job_id(iid)}/evaluations") or [])


async def register(ctx: NomadContext, job: JSON) -> None:
    """Register ``job`` (a new job version)."""
    await ctx.api.put("/v1/jobs", {"Job": job})


async def list_jobs(ctx: NomadContext, **params: str) -> list[JSON]:
    """The namespace's job stubs (``meta``/``filter`` honoured from Nomad 1.4)."""
    return list(await ctx.api.request("GET", "/v1/jobs", params=params) or [])


async def set_stable(ctx: NomadContext, iid: str, version: int, stable: bool) -> None:
    """Mark job ``version`` stable or not (Nomad reverts only to stable versions, and the
    history lists only releases that ran stable)."""
    body = {"JobID": job_id(iid), "JobVersion": version, "Stable": stable}
    await ctx.api.put(f"/v1/job/{job_id(iid)}/stable", body)


async def stop_job(ctx: NomadContext, iid: str) -> None:
    """Stop the job (a new version with ``Stop`` set; its allocations stop)."""
    await ctx.api.delete(f"/v1/job/{job_id(iid)}")


async def write_variable(ctx: NomadContext, path: str, items: Mapping[str, str]) -> None:
    """Write the Variable at ``path`` (a task's secrets)."""
    body = {"Namespace": ctx.config.namespace, "Path": path, "Items": dict(items)}
    await ctx.api.put(f"/v1/var/{path}", body)


async def purge(ctx: NomadContext, iid: str) -> None:
    """Purge the job (its allocations stop, its versions go) and delete its Variables
    (on agents that have Variables: 1.4+). Nothing there is fine."""
    await ctx.api.delete(f"/v1/job/{job_id(iid)}", missing_ok=True, purge="true")
    if not await has_variables(ctx):
        return
    prefix = f"{ctx.config.variables_prefix}/{job_id(iid)}/"
    for var in await ctx.api.get("/v1/vars", missing_ok=True, prefix=prefix) or []:
        await ctx.api.delete(f"/v1/var/{var['Path']}", missing_ok=True)


async def secret_values(ctx: NomadContext, iid: str) -> list[str]:
    """The secret values the instance's Variables hold (to teach a redactor; never
    logged). None on agents without Variables."""
    if not await has_variables(ctx):
        return []
    prefix = f"{ctx.config.variables_prefix}/{job_id(iid)}/"
    values: list[str] = []
    for var in await ctx.api.get("/v1/vars", missing_ok=True, prefix=prefix) or []:
        found = await ctx.api.get(f"/v1/var/{var['Path']}", missing_ok=True) or {}
        values += [str(v) for v in (found.get("Items") or {}).values()]
    return values


async def promote(ctx: NomadContext, dep: str) -> None:
    """Promote every canary of deployment ``dep`` (the rest of the job rolls)."""
    await ctx.api.post(f"/v1/deployment/promote/{dep}", {"DeploymentID": dep, "All": True})


async def fail_deployment(ctx: NomadContext, dep: str) -> None:
    """Mark deployment ``dep`` failed (Nomad then auto-reverts); already ended is fine."""
    try:
        await ctx.api.post(f"/v1/deployment/fail/{dep}", {"DeploymentID": dep})
    except BackendError as exc:
        if not deployment_ended(exc):
            raise


async def set_health(
    ctx: NomadContext,
    dep: str,
    *,
    healthy: Sequence[str] = (),
    unhealthy: Sequence[str] = (),
) -> None:
    """Report allocations of deployment ``dep`` healthy or unhealthy (health checked
    by ctrlplane's probes: ``health_check = "manual"``); an ended deployment is fine."""
    body = {
        "DeploymentID": dep,
        "HealthyAllocationIDs": list(healthy),
        "UnhealthyAllocationIDs": list(unhealthy),
    }
    try:
        await ctx.api.post(f"/v1/deployment/allocation-health/{dep}", body)
    except BackendError as exc:
        if not deployment_ended(exc):
            raise
