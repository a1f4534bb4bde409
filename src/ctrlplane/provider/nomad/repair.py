"""Repairing an operation whose holder died mid-way (I/O), before the next one works.

:func:`repair` runs at the start of every mutating call that took over an expired
lease (:attr:`~ctrlplane.provider.operations.Operation.interrupted`): it reads the
instance, asks :func:`~ctrlplane.provider.nomad.observe.repair.repair_plan` what the
interrupted operation left and does it (purge, fail and restore, wait), reported as a
``repair`` step, so that never two releases serve. :func:`planned` is what ``status``
shows about it.
"""

from __future__ import annotations

from ctrlplane.errors import BackendError
from ctrlplane.provider.deadlines import bounded
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.liblog import library_logger
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.config import BACKEND
from ctrlplane.provider.nomad.context import NomadContext
from ctrlplane.provider.nomad.observe.repair import Repair, RepairPlan, repair_plan
from ctrlplane.provider.nomad.strategies import restore
from ctrlplane.provider.nomad.waits import wait_version
from ctrlplane.provider.operations import Operation

__all__ = ["planned", "repair"]

log = library_logger("ctrlplane.nomad")


async def planned(ctx: NomadContext, iid: str, lease: Lease) -> RepairPlan:
    """What the next mutating call will do about the interrupted operation ``lease``."""
    job = await jobs.find_job(ctx, iid)
    if job is None:
        return repair_plan(lease, None, [], None)
    versions = await jobs.versions(ctx, iid)
    return repair_plan(lease, job, versions, await jobs.deployment(ctx, iid))


async def repair(ctx: NomadContext, op: Operation) -> None:
    """Finish or undo what the interrupted operation of ``op`` left (see the module
    docs); a repair that fails raises :class:`~ctrlplane.errors.BackendError` naming it
    (the next call tries again)."""
    lease = op.interrupted
    if lease is None:
        return
    iid = op.instance_id
    plan = await planned(ctx, iid, lease)
    log.warning("repairing the interrupted %s of %s: %s", lease.operation, iid, plan.description)
    async with op.steps.guard():
        await op.steps.enter("repair", plan.description)
        await _run(ctx, iid, plan)
    await op.steps.finish()


async def _run(ctx: NomadContext, iid: str, plan: RepairPlan) -> None:
    if plan.action is Repair.PURGE:
        await jobs.purge(ctx, iid)
        return
    if plan.action is Repair.WAIT:
        try:
            await bounded(wait_version(ctx, iid, "repair"), ctx.config.deploy_timeout, "repair")
        except RolloutFailed as exc:  # Nomad reverted it: the previous version serves
            log.warning("the deployment left by the interrupted operation failed: %s", exc.reason)
        return
    if plan.action is Repair.RESTORE:
        if plan.deployment:
            await jobs.fail_deployment(ctx, plan.deployment)
        previous = next(
            (v for v in await jobs.versions(ctx, iid) if v.get("Version") == plan.version), None
        )
        if previous is None:
            raise BackendError(
                f"repair of {iid!r} failed: job version {plan.version} is no longer retained",
                backend=BACKEND,
            )
        failed = await restore(ctx, iid, previous)
        if failed:
            raise BackendError(f"repair of {iid!r} failed: {failed}", backend=BACKEND)
