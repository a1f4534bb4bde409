"""``provision`` on one engine: the steps that create an instance, and their errors.

The steps run in order (resolve secrets, pull images, remove a partial instance's
leftovers, create the network, publish the ports (the fronts, :mod:`.fronts`, made while
the next two steps run), create the volumes, start the replica units, check they stay up
through the stability window, record the release), all within ``provision_timeout``.
The release and the volumes that existed before are noted in the operation's lease
before anything is created (a repair after a crash then knows what to remove). On a
failure, timeout or cancellation everything the call created is removed (bounded by
:func:`cleanup_limit`; the volumes that existed before are kept) and the error is mapped
to :class:`ProvisionFailed` naming the step, or :class:`BackendUnavailable` when the
engine was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ctrlplane.errors import BackendUnavailable, CtrlplaneError, OperationTimeout, ProvisionFailed
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.deadlines import (
    Deadline,
    bounded,
    cleanup_to_end,
    first_error,
    raise_failure,
    run_to_end,
    seconds,
)
from ctrlplane.provider.docker.config import BACKEND
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.fronts import ensure_fronts, inspect_fronts
from ctrlplane.provider.docker.history import record_release
from ctrlplane.provider.docker.images import ensure_image, pull_images
from ctrlplane.provider.docker.instances import inspect_all
from ctrlplane.provider.docker.materials import workload_materials
from ctrlplane.provider.docker.objects import (
    FAILURE_LINGER,
    cleanup_limit,
    create_network,
    ensure_volumes,
    leftovers,
    purge,
)
from ctrlplane.provider.docker.observe.workload import (
    is_complete,
    provision_result,
    workload_from_containers,
)
from ctrlplane.provider.docker.render.materials import ServiceMaterials, registry_auth
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.docker.repair import KEPT_VOLUMES
from ctrlplane.provider.docker.units import UnitRunner
from ctrlplane.provider.events import StepTracker
from ctrlplane.provider.failures import RolloutFailed, engine_lost
from ctrlplane.provider.native import JSON
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.releases import new_release
from ctrlplane.provider.results import ProvisionResult
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.provider.taskgroups import TaskGroup

__all__ = ["provision_instance", "provision_intent"]


def provision_intent() -> dict[str, str]:
    """What the lease of a provision says from the moment it is taken: the phase and the
    ID of the release it will create (``release_id``, new); the volumes the provision
    finds are added before it creates anything."""
    return {"phase": "provision", "release_id": new_id(RELEASE_PREFIX), KEPT_VOLUMES: ""}


def _why(exc: BaseException, steps: StepTracker) -> str:
    """One line on why the open step ended badly (no secrets: engine and step errors
    are redacted where they are made)."""
    err = first_error(exc)
    if isinstance(err, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, TimeoutError) or isinstance(err, TimeoutError):
        return f"timed out in step {steps.current}"
    return str(err) or type(err).__name__


async def provision_instance(
    ctx: DockerContext, op: Operation, req: ProvisionRequest, release_id: str
) -> ProvisionResult:
    """Create the (checked) instance of ``req`` as release ``release_id`` (the lease was
    taken with :func:`provision_intent`) and wait until its services run and stay up; an
    existing complete instance is returned as it is. Everything, from the first
    engine call on, runs within ``provision_timeout``. Cleans up (bounded) and raises
    :class:`ProvisionFailed` on failure (:class:`BackendUnavailable` when the engine was
    lost; a cancellation re-raises after cleanup). What the cleanup could not remove is
    named in the error."""
    iid = req.instance_id
    wl = Workload.from_request(req, release_id)
    steps = op.steps
    deadline = Deadline(ctx.config.provision_timeout, "provision")
    kept: set[str] | None = None  # set once objects may be created
    try:
        async with deadline.timeout():
            existing = await inspect_all(ctx, iid)
            if existing:
                current = workload_from_containers(ctx.labels, existing)
                if is_complete(ctx.config, current, existing):
                    fronts = await ensure_fronts(ctx, current)
                    return provision_result(ctx.config, current, existing, fronts)
            await steps.enter("resolve secrets")
            materials = await _materials(ctx, wl)
            volumes = await ctx.client.list_volumes(ctx.labels.instance_filter(iid))
            kept = {v["Name"] for v in volumes}
            await op.note(**{KEPT_VOLUMES: ",".join(sorted(kept))})
            await _provision_steps(ctx, wl, materials, existing, steps)
    except BaseException as exc:
        _, stopped = await run_to_end(steps.finish(ok=False, detail=_why(exc, steps)))
        left, interrupted = ("", False) if kept is None else await _clean_up(ctx, iid, kept)
        err = _provision_error(deadline, iid, exc, steps, left)
        if left and isinstance(err, ProvisionFailed):
            err = ProvisionFailed(iid, err.step, f"{err.reason}; {left}")
        elif left and isinstance(err, asyncio.CancelledError):
            err.add_note(left)
        raise_failure(err, stopped or interrupted)
    await steps.finish()
    fronts = await inspect_fronts(ctx, iid)
    return provision_result(ctx.config, wl, await inspect_all(ctx, iid), fronts)


async def _materials(ctx: DockerContext, wl: Workload) -> dict[str, ServiceMaterials]:
    try:
        return await workload_materials(ctx, wl)
    except CtrlplaneError as exc:
        raise RolloutFailed("resolve secrets", str(exc)) from exc


async def _clean_up(ctx: DockerContext, iid: str, kept: set[str]) -> tuple[str, bool]:
    """Remove what the failed provision created (bounded, to its end even if the caller
    is cancelled): ``""`` or one sentence naming what may be left and how to remove it,
    and whether the caller was cancelled meanwhile."""
    left, interrupted = await cleanup_to_end(
        purge(ctx, iid, kept, linger=FAILURE_LINGER),
        cleanup_limit(ctx.config),
        f"removing what the failed provision of {iid} created",
    )
    if not left:
        return "", interrupted
    names, stopped = await run_to_end(_leftover_names(ctx, iid))
    what = ", ".join(names) if names else f"objects labelled {ctx.labels.instance}={iid}"
    sentence = f"cleanup incomplete ({left}); left: {what}; deprovision {iid} removes them"
    return sentence, interrupted or stopped


async def _leftover_names(ctx: DockerContext, iid: str) -> list[str]:
    """The names of the instance's objects still there (none if the engine cannot say)."""
    try:
        return await bounded(leftovers(ctx, iid), min(5.0, seconds(ctx.config.request_timeout)))
    except (CtrlplaneError, OperationTimeout):
        return []


def _provision_error(
    deadline: Deadline, iid: str, exc: BaseException, steps: StepTracker, left: str
) -> BaseException:
    """The error a failed provision raises (``left``: what its cleanup left, said by a
    :class:`BackendUnavailable`; the caller adds it to the others)."""
    err = first_error(exc)
    if isinstance(err, asyncio.CancelledError):
        return err
    if isinstance(exc, TimeoutError) or isinstance(err, TimeoutError):
        return ProvisionFailed(iid, steps.current, f"timed out after {deadline.seconds:g}s")
    lost = engine_lost(exc)
    if lost is not None:
        where = " and ".join(_failed_steps(exc)) or f"step {steps.current or 'start'}"
        return BackendUnavailable(
            f"{lost}; the provision of {iid!r} stopped at {where}" + (f"; {left}" if left else ""),
            backend=BACKEND,
        )
    if isinstance(err, RolloutFailed):
        return ProvisionFailed(iid, err.step, err.reason)
    if isinstance(err, CtrlplaneError):
        return ProvisionFailed(iid, steps.current, str(err))
    return err


def _failed_steps(exc: BaseException) -> list[str]:
    """The steps ``exc`` says failed, in order, once each: steps that run at once (the
    fronts, the holders, the inits) fail together when the engine is lost, and a message
    naming only the first to notice would depend on timing."""
    if isinstance(exc, BaseExceptionGroup):
        found = [step for inner in exc.exceptions for step in _failed_steps(inner)]
        return list(dict.fromkeys(found))
    return [exc.step] if isinstance(exc, RolloutFailed) and exc.step else []


async def _provision_steps(
    ctx: DockerContext,
    wl: Workload,
    materials: Mapping[str, ServiceMaterials],
    existing: Sequence[JSON],
    steps: StepTracker,
) -> None:
    iid = wl.instance_id
    await steps.enter("pull images")
    await pull_images(ctx, wl.services, materials)
    pod = ctx.config.pod_image  # the units' namespace holders: pulled only when absent
    await ensure_image(ctx, pod, registry_auth(ctx.config, pod), refresh=False)
    if existing:
        await steps.enter("remove partial leftovers")
        await asyncio.gather(*(ctx.client.remove_container(i["Id"]) for i in existing))
    if not await ctx.client.list_networks(ctx.labels.instance_filter(iid)):
        await steps.enter("create network")
        await create_network(ctx, wl, datetime.now(UTC).isoformat())
    await steps.enter("publish ports")
    runner = UnitRunner(ctx, wl, materials, events=steps.events)
    async with TaskGroup() as tg:
        # the fronts need nothing of the units: they are made while the units start
        tg.create_task(ensure_fronts(ctx, wl))
        await steps.enter("create volumes")
        await ensure_volumes(ctx, wl, range(wl.replicas))
        await steps.enter("start replica units")
        units = [tg.create_task(runner.bring_up(replica)) for replica in range(wl.replicas)]
    await steps.enter("check services stay up")
    await runner.stable([s for unit in units for s in unit.result()])
    await steps.enter("record release")
    first = new_release(wl.release_id, wl.services)
    await record_release(ctx, wl, first)
