"""Starting, stopping, restarting and scaling an instance (I/O).

Every change but a restart is a job version: ``stop`` registers the job stopped,
``start`` the full last version again with ``Stop = false``, ``scale`` the same release
with a new group count and main-task resources. ``restart`` restarts the running tasks
in place, by name (an empty restart request asks for every task, and Nomad refuses it
with 500 ``Task not running`` when an init finished). After ``start``, ``scale`` and
``restart`` the allocations must stay up through ``stability_window`` with their restart
counts unchanged (a crash is a failure, never hidden by the restart policy). A failed
``scale`` registers the previous version again, so the count is restored. Waits are
bounded by ``deploy_timeout`` (:class:`~ctrlplane.errors.OperationTimeout` past it).
"""

from __future__ import annotations

import asyncio

from ctrlplane.errors import BackendError, CtrlplaneError
from ctrlplane.provider.deadlines import Deadline, bounded, finish, seconds
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.config import BACKEND
from ctrlplane.provider.nomad.context import NomadContext, shape_for
from ctrlplane.provider.nomad.observe.allocations import (
    cause,
    restart_counts,
    running,
    task_failure,
)
from ctrlplane.provider.nomad.observe.deployments import failed_allocs
from ctrlplane.provider.nomad.observe.history import created_at, release_meta, request_from_job
from ctrlplane.provider.nomad.render import started, translate
from ctrlplane.provider.nomad.strategies import restore
from ctrlplane.provider.nomad.waits import (
    baseline,
    long_lived,
    settle,
    stay_up,
    wait_stopped,
)
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.spec import ProvisionRequest, ResourceSpec

__all__ = ["restart", "scale", "scaled", "start", "stop"]


async def stop(ctx: NomadContext, op: Operation, iid: str) -> None:
    """Stop the job (``DELETE`` without purge) and wait until its allocations stopped.
    No-op when stopped."""
    job = await jobs.read_job(ctx, iid)
    if not job.get("Stop"):
        await op.note(phase="stop")
        await jobs.stop_job(ctx, iid)
    await bounded(wait_stopped(ctx, iid), ctx.config.deploy_timeout, "stop")


async def start(ctx: NomadContext, op: Operation, iid: str) -> None:
    """Register the full last job version again with ``Stop = false`` and wait until it
    is healthy and stays up. No-op when running."""
    job = await jobs.read_job(ctx, iid)
    base = await baseline(ctx, iid)
    if job.get("Stop"):
        await op.note(phase="start")
        await jobs.register(ctx, started(job))
    await bounded(settle(ctx, iid, "start", base), ctx.config.deploy_timeout, "start")


def _restarted(allocs: list[JSON], names: set[str], before: dict[tuple[str, str], int]) -> bool:
    """Whether every task in ``before`` restarted (its count grew) and runs again."""
    now = restart_counts(allocs)
    states = {
        (str(a["ID"]), name): (t or {}).get("State")
        for a in allocs
        for name, t in (a.get("TaskStates") or {}).items()
        if name in names
    }
    return all(
        now.get(key, 0) > count and states.get(key) == "running" for key, count in before.items()
    )


def _crashed_again(allocs: list[JSON], again: dict[tuple[str, str], int]) -> str:
    """A task restarted more often than once (by us) since the restart began, with the
    cause from its events."""
    states = {
        (str(a["ID"]), name): task or {}
        for a in allocs
        for name, task in (a.get("TaskStates") or {}).items()
    }
    for key, wanted in again.items():
        task = states.get(key, {})
        restarts = int(task.get("Restarts") or 0)
        if restarts > wanted:
            return f"task {key[1]!r} crashed after the restart ({restarts} restarts): {cause(task)}"
    return ""


async def restart(ctx: NomadContext, op: Operation, iid: str) -> None:
    """Restart the running long-lived tasks of every current allocation in place (each
    by name), wait until they run again, and until they stay up through
    ``stability_window``: a task that crashes after the restart fails it
    (:class:`~ctrlplane.errors.BackendError` naming the task and the cause)."""
    job = await jobs.read_job(ctx, iid)
    names = long_lived(request_from_job(job))
    allocs = running(await jobs.current(ctx, iid, job))
    await op.note(phase="restart")
    before: dict[tuple[str, str], int] = {}
    for alloc in allocs:
        for name, task in sorted((alloc.get("TaskStates") or {}).items()):
            if name in names and (task or {}).get("State") == "running":
                await jobs.restart_task(ctx, str(alloc["ID"]), name)
                before[(str(alloc["ID"]), name)] = int((task or {}).get("Restarts") or 0)
    deadline = Deadline(ctx.config.deploy_timeout, "restart")
    poll = seconds(ctx.config.poll_interval)
    again = {key: count + 1 for key, count in before.items()}
    try:
        async with deadline.timeout():
            while True:
                now = await jobs.current(ctx, iid, job)
                if _restarted(now, names, before):
                    break
                failed = failed_allocs(now)
                if failed:
                    raise RolloutFailed("restart", task_failure(failed) or "an allocation failed")
                crash = _crashed_again(now, again)
                if crash:
                    raise RolloutFailed("restart", crash)
                await asyncio.sleep(poll)
            await stay_up(ctx, iid, job, "restart", restart_counts(now))
    except TimeoutError:
        raise deadline.exceeded("the restarted tasks did not run again") from None
    except RolloutFailed as exc:
        raise BackendError(f"restart of {iid!r} failed: {exc.reason}", backend=BACKEND) from None


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


async def scale(ctx: NomadContext, op: Operation, iid: str, spec: ResourceSpec) -> None:
    """Register the live release again with the scaled spec (not a new release) and wait
    until it is healthy and stays up; the preflight's limits refuse a scaled spec Nomad
    cannot run before anything changes. A failure (an allocation that cannot be placed
    or crashes, the deadline) registers the previous version again (the count is
    restored) and raises :class:`~ctrlplane.errors.BackendError` naming both."""
    job = await jobs.read_job(ctx, iid)
    new = scaled(request_from_job(job), spec)
    ctx.preflight.refuse(ctx.preflight.limits.provision(new), subject="scale request")
    shape = await shape_for(ctx, new)
    body = translate(new, release_meta(job), ctx.config, created=created_at(job), shape=shape)
    base = await baseline(ctx, iid)
    await op.note(phase="scale", previous_version=str(job.get("Version", "")))
    await jobs.register(ctx, body)
    try:
        await bounded(settle(ctx, iid, "scale", base), ctx.config.deploy_timeout, "scale")
    except CtrlplaneError as exc:
        left = await finish(restore(ctx, iid, job))
        outcome = (
            f"restoring the previous scale also failed: {left}"
            if left
            else ("the previous scale was restored")
        )
        exc.message += f"; {outcome}"
        raise
