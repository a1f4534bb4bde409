"""``provision`` on one engine: the steps that create an instance, and their errors.

The steps run in order (resolve secrets, pull images, remove a partial instance's
leftovers, create the network and volumes, start the replica units, check they stay up,
record the release), all within ``provision_timeout``. On a failure, timeout or
cancellation everything the call created is removed (the volumes that existed before are
kept) and the error is mapped to :class:`ProvisionFailed` naming the step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ctrlplane.errors import BackendUnavailable, CtrlplaneError, ProvisionFailed
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.deadlines import Deadline, finish, first_error
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.history import record_release
from ctrlplane.provider.docker.images import pull_images
from ctrlplane.provider.docker.instances import inspect_all
from ctrlplane.provider.docker.materials import workload_materials
from ctrlplane.provider.docker.objects import create_network, ensure_volumes, purge
from ctrlplane.provider.docker.observe.workload import (
    is_complete,
    provision_result,
    workload_from_containers,
)
from ctrlplane.provider.docker.render.materials import ServiceMaterials
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.docker.units import UnitRunner
from ctrlplane.provider.events import StepTracker, Subscriber
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.native import JSON
from ctrlplane.provider.releases import new_release
from ctrlplane.provider.results import ProvisionResult
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["FAILURE_LINGER", "provision_instance"]


FAILURE_LINGER = 1.0
"""Seconds a failed provision keeps sweeping for objects whose creation was in flight."""


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
    ctx: DockerContext, req: ProvisionRequest, events: Subscriber | None
) -> ProvisionResult:
    """Create the (checked) instance of ``req`` and wait until its services run; an
    existing complete instance is returned as it is. Cleans up and raises
    :class:`ProvisionFailed` on failure (re-raises a cancellation after cleanup)."""
    iid = req.instance_id
    wl = Workload.from_request(req, new_id(RELEASE_PREFIX))
    existing = await inspect_all(ctx, iid)
    if existing:
        current = workload_from_containers(ctx.labels, existing)
        if is_complete(ctx.config, current, existing):
            return provision_result(ctx.config, current, existing)
    steps = StepTracker(iid, events)
    await steps.enter("resolve secrets")
    try:
        materials = await workload_materials(ctx, wl)
    except CtrlplaneError as exc:
        await steps.finish(ok=False, detail=str(exc))
        raise ProvisionFailed(iid, "resolve secrets", str(exc)) from exc
    kept = {v["Name"] for v in await ctx.client.list_volumes(ctx.labels.instance_filter(iid))}
    deadline = Deadline(ctx.config.provision_timeout, "provision")
    try:
        async with deadline.timeout():
            await _provision_steps(ctx, wl, materials, existing, steps)
    except BaseException as exc:
        await finish(steps.finish(ok=False, detail=_why(exc, steps)))
        cleanup = ""
        try:
            await finish(purge(ctx, iid, kept, linger=FAILURE_LINGER))
        except CtrlplaneError as failed:
            cleanup = f"; cleanup also failed, objects may be left: {failed}"
        err = _provision_error(deadline, iid, exc, steps)
        if cleanup and isinstance(err, ProvisionFailed):
            err = ProvisionFailed(iid, err.step, err.reason + cleanup)
        raise err from None
    await steps.finish()
    return provision_result(ctx.config, wl, await inspect_all(ctx, iid))


def _provision_error(
    deadline: Deadline, iid: str, exc: BaseException, steps: StepTracker
) -> BaseException:
    err = first_error(exc)
    if isinstance(err, asyncio.CancelledError):
        return err
    if isinstance(exc, TimeoutError) or isinstance(err, TimeoutError):
        return ProvisionFailed(iid, steps.current, f"timed out after {deadline.seconds:g}s")
    if isinstance(err, RolloutFailed):
        return ProvisionFailed(iid, err.step, err.reason)
    if isinstance(err, BackendUnavailable):
        return err
    if isinstance(err, CtrlplaneError):
        return ProvisionFailed(iid, steps.current, str(err))
    return err


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
    if existing:
        await steps.enter("remove partial leftovers")
        await asyncio.gather(*(ctx.client.remove_container(i["Id"]) for i in existing))
    if not await ctx.client.list_networks(ctx.labels.instance_filter(iid)):
        await steps.enter("create network")
        await create_network(ctx, wl, datetime.now(UTC).isoformat())
    await steps.enter("create volumes")
    await ensure_volumes(ctx, wl, range(wl.replicas))
    await steps.enter("start replica units")
    runner = UnitRunner(ctx, wl, materials, events=steps.events)
    async with asyncio.TaskGroup() as tg:
        for replica in range(wl.replicas):
            tg.create_task(runner.bring_up(replica))
    await steps.enter("check services stay up")
    await runner.settle(range(wl.replicas))
    await steps.enter("record release")
    first = new_release(wl.release_id, wl.services)
    await record_release(ctx, wl, first)
