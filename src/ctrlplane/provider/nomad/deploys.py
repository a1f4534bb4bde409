"""Deploy and rollback (I/O): the shared release plan, rolled out by
:mod:`~ctrlplane.provider.nomad.strategies`.

``deploy`` plans with :func:`~ctrlplane.provider.releases.plan_deploy` against the live
job's spec and the release IDs its retained versions carry (a reused ID is refused
before anything changes), refuses a merged spec Nomad cannot run, and rolls the new job
version out. ``rollback`` registers the retained job version that carries the release
again (its whole spec, as Nomad keeps it), recorded as a new rolling release with
``rollback_of`` from :func:`~ctrlplane.provider.releases.plan_rollback`; a release whose
version is no longer retained is :class:`~ctrlplane.errors.ReleaseNotFound`.
"""

from __future__ import annotations

from ctrlplane.errors import ReleaseNotFound
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.context import NomadContext
from ctrlplane.provider.nomad.observe.history import release_ids, request_from_job
from ctrlplane.provider.nomad.render import ReleaseMeta, job_id
from ctrlplane.provider.nomad.strategies import roll_out
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.releases import DEPLOYED, plan_deploy, plan_rollback
from ctrlplane.provider.results import DeployResult
from ctrlplane.provider.spec import DeployRequest

__all__ = ["deploy", "rollback"]


async def deploy(ctx: NomadContext, op: Operation, req: DeployRequest) -> DeployResult:
    """Roll the listed services out (the preflight already ran); ``status`` is
    :data:`~ctrlplane.provider.releases.DEPLOYED` once the new version is healthy."""
    iid = req.instance_id
    job = await jobs.read_job(ctx, iid)
    live = request_from_job(job)
    plan = plan_deploy(req, live.services, release_ids(await jobs.versions(ctx, iid)))
    new = live.model_copy(update={"services": plan.after})
    ctx.preflight.refuse(ctx.preflight.limits.provision(new), subject="deploy request")
    release = ReleaseMeta(plan.release_id, plan.created_at, str(plan.strategy))
    await roll_out(ctx, op, job, new, release, plan.strategy)
    return DeployResult(provider_ref=job_id(iid), status=DEPLOYED, release_id=plan.release_id)


async def rollback(ctx: NomadContext, op: Operation, iid: str, release_id: str) -> None:
    """Register the retained job version that carries ``release_id`` again, as a new
    release (``rollback_of``); unknown or pruned: :class:`ReleaseNotFound`."""
    job = await jobs.read_job(ctx, iid)
    history = await jobs.history(ctx, iid)
    live = request_from_job(job)
    plan = plan_rollback(iid, release_id, live.services, [r for r, _ in history])
    version = next(v for r, v in history if r.release_id == release_id)
    source = next((v for v in await jobs.versions(ctx, iid) if v.get("Version") == version), None)
    if source is None:  # pruned by a registration since the history was read
        raise ReleaseNotFound(iid, release_id, known=[])
    release = ReleaseMeta(
        plan.release_id, plan.created_at, str(plan.strategy), rollback_of=plan.rollback_of
    )
    await roll_out(ctx, op, job, request_from_job(source), release, plan.strategy)
