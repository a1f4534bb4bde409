"""Provisioning and deprovisioning an instance (I/O).

``prepare`` (before the operation lease, which lives on the control Machine): the app
(created in ``org_slug``, or the existing ``FlyConfig.app``, which must not hold another
instance) and the instance's control Machine.

``provision`` (holding the lease) is idempotent per instance ID: an instance with a live
release is returned as it is (no Machine starts, even when the request differs); an
unfinished one (a provision that failed, was cancelled or whose holder died) is wiped
and done again. Otherwise: ``write-secrets`` (the app secrets, :mod:`.secrets`),
``start-units`` (per replica, in parallel: volumes, inits, long-lived services in order,
gated), ``record-release`` (the control Machine records the release, the spec and the
Machines). On failure, timeout or cancellation everything is removed (run to its end
even if the caller is cancelled again): the instance's Machines, volumes and secrets,
its control Machine, and its app unless it is a configured existing one;
:class:`~ctrlplane.errors.ProvisionFailed` names the step and the failing service.

``deprovision`` removes the same, and waits until the app is gone.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    CtrlplaneError,
    InstanceNotFound,
    PermissionDenied,
    ProvisionFailed,
)
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.deadlines import (
    Deadline,
    cleanup_to_end,
    finish,
    first_error,
    raise_failure,
    seconds,
)
from ctrlplane.provider.events import StepTracker, Subscriber
from ctrlplane.provider.failures import RolloutFailed, describe_failure
from ctrlplane.provider.fly import control, instances, machines, secrets
from ctrlplane.provider.fly.config import BACKEND
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.gate import Gate
from ctrlplane.provider.fly.inspection import provision_result
from ctrlplane.provider.fly.instances import Instance
from ctrlplane.provider.fly.render.names import volume_name
from ctrlplane.provider.fly.units import UnitBuilder
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.releases import new_release
from ctrlplane.provider.results import ProvisionResult
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.provider.taskgroups import TaskGroup

__all__ = ["abandon", "deprovision", "prepare", "provision", "remove_all", "remove_orphan"]


async def prepare(ctx: FlyContext, req: ProvisionRequest, events: Subscriber | None) -> bool:
    """Make sure the app and the instance's control Machine exist (see the module docs);
    whether this call created either. Cancelled or failed half way, it removes what it
    created (:func:`abandon`)."""
    app = ctx.app(req.instance_id)
    steps = StepTracker(req.instance_id, events)
    created = False
    try:
        async with steps.guard():
            if ctx.config.app:
                await _check_existing_app(ctx, app, req.instance_id)
            elif await ctx.api.get_app(app) is None:
                await steps.enter("create-app", app)
                created = True
                refused = await ctx.api.create_app(app, ctx.config.org_slug)
                if refused and await ctx.api.get_app(app) is None:
                    raise ProvisionFailed(req.instance_id, "create app", refused)
            machines_now = await instances.machines_of(ctx, app)
            if instances.control_of(machines_now, req.instance_id) is None:
                await steps.enter("create-control-machine")
                created = True
                await control.ensure_control(ctx, app, req)
            await steps.finish()
    except BaseException as exc:
        if created:
            await finish(abandon(ctx, req.instance_id))
        if isinstance(exc, BackendError) and not isinstance(
            exc, BackendUnavailable | PermissionDenied
        ):
            step = (steps.current or "find app").replace("-", " ")
            raise ProvisionFailed(req.instance_id, step, str(exc)) from exc
        raise
    return created


async def _check_existing_app(ctx: FlyContext, app: str, instance_id: str) -> None:
    if await ctx.api.get_app(app) is None:
        raise ProvisionFailed(
            instance_id,
            "find app",
            f"the configured app {app!r} does not exist (or the token cannot see it); "
            "create it (fly apps create) or unset FlyConfig.app",
        )
    others = {
        m.instance
        for m in await instances.machines_of(ctx, app)
        if m.control and m.instance != instance_id
    }
    if others:
        raise ProvisionFailed(
            instance_id,
            "find app",
            f"app {app!r} already holds instance {sorted(others)[0]}; an app holds one "
            "instance: deprovision it, or configure another app",
        )


async def abandon(ctx: FlyContext, instance_id: str) -> None:
    """Remove what :func:`prepare` created for a provision that never ran (cancelled or
    failed before it held the lease), unless the instance has a live release or another
    operation holds it now."""
    inst = await instances.find(ctx, instance_id)
    if inst is not None and (
        inst.release is not None or await ctx.api.get_lease(inst.app, inst.control.id)
    ):
        return
    await remove_all(ctx, None, instance_id, None)


async def provision(ctx: FlyContext, op: Operation, req: ProvisionRequest) -> ProvisionResult:
    """Provision ``req`` (see the module docs); the preflight and :func:`prepare` ran."""
    iid = req.instance_id
    inst = await instances.find(ctx, iid)
    if inst is None:
        raise ProvisionFailed(iid, "find control machine", "the control machine vanished")
    if inst.release is not None and inst.spec is not None:
        return await provision_result(ctx, inst)
    if inst.workload():
        await _wipe(ctx, inst)
    release_id = new_id(RELEASE_PREFIX)
    await op.note(phase="provision", release_id=release_id)
    deadline = Deadline(ctx.config.provision_timeout, "provision")
    step = "write-secrets"
    failure: BaseException | None = None
    interrupted = False
    try:
        async with deadline.timeout():
            if any(s.secrets for s in req.services):
                await op.steps.enter(step)
                try:
                    await secrets.write(ctx, op, inst.app, req)
                except CtrlplaneError as exc:
                    raise RolloutFailed("write secrets", str(exc)) from exc
            step = "start-units"
            await op.steps.enter(step, f"{max(req.main.resources.replicas, 1)} replicas")
            units = await _start_units(ctx, op, inst, req, release_id, deadline)
            step = "record-release"
            await op.steps.enter(step, release_id)
            release = new_release(release_id, req.services, created_at=datetime.now(UTC))
            await control.write_record(ctx, op, inst.app, inst.control, req, release, units)
            await op.steps.finish()
    except BaseException as exc:
        err = first_error(exc)
        timed_out = isinstance(err, TimeoutError) and deadline.expired()
        await op.steps.fail(describe_failure(deadline.exceeded() if timed_out else err))
        left, interrupted = await cleanup_to_end(
            remove_all(ctx, op, iid, req),
            ctx.config.deploy_timeout,
            "removing what the provision created",
        )
        failure = _provision_failure(iid, step, err, deadline if timed_out else None, left)
    if failure is not None:
        # Raised outside the handler: an error taken out of an exception group and raised
        # inside it would get that group (which holds it) as its context, a cycle.
        raise_failure(failure, interrupted)
    done = await instances.load(ctx, iid)
    return await provision_result(ctx, done)


def _provision_failure(
    instance_id: str, step: str, err: BaseException, timed_out: Deadline | None, left: str
) -> BaseException:
    """What a failed provision raises: a cancellation as it is, else ``ProvisionFailed``
    naming the step (any other exception as it is); ``left``, what its cleanup could not
    remove, is added to the reason (or noted)."""
    after = f"; {left}" if left else ""
    if timed_out is not None:
        return ProvisionFailed(instance_id, step, f"timed out after {timed_out.seconds:g}s{after}")
    if isinstance(err, RolloutFailed):
        return ProvisionFailed(instance_id, err.step, err.reason + after)
    if isinstance(err, CtrlplaneError):
        return ProvisionFailed(instance_id, step, str(err) + after)
    if left:
        err.add_note(left)
    return err


async def _start_units(
    ctx: FlyContext,
    op: Operation,
    inst: Instance,
    req: ProvisionRequest,
    release_id: str,
    deadline: Deadline,
) -> dict[str, list[str]]:
    builder = UnitBuilder(
        ctx,
        inst.app,
        req.instance_id,
        req.tenant_id,
        req.services,
        release_id,
        Gate(ctx, inst.app, op.redact),
        deadline,
        events=op.events,
    )
    replicas = max(req.main.resources.replicas, 1)
    async with TaskGroup() as tg:
        started = [tg.create_task(builder.bring_up(r)) for r in range(replicas)]
    out: dict[str, list[str]] = {}
    for task in started:
        for service, machine_id in task.result().items():
            out.setdefault(service, []).append(machine_id)
    return out


async def _wipe(ctx: FlyContext, inst: Instance) -> None:
    """Remove an unfinished provision's Machines and volumes (keeping the control one)."""
    await asyncio.gather(*(machines.destroy(ctx, inst.app, m.id) for m in inst.workload()))
    await _remove_volumes(ctx, inst.app, inst.spec)


def _ours(name: str, spec: ProvisionRequest | None, own_app: bool) -> bool:
    """Whether volume ``name`` is one of the instance's (any volume of its own app; in a
    configured app, those named after the spec's volumes)."""
    if own_app:
        return True
    if spec is None:
        return False
    bases = {volume_name(v.name, 0).rpartition("_")[0] for s in spec.services for v in s.volumes}
    base, _, replica = name.rpartition("_")
    return base in bases and replica.isdigit()


async def _remove_volumes(ctx: FlyContext, app: str, spec: ProvisionRequest | None) -> None:
    for volume in await ctx.api.list_volumes(app):
        if _ours(str(volume.get("name", "")), spec, not ctx.config.app):
            await ctx.api.delete_volume(app, str(volume["id"]))


async def remove_all(
    ctx: FlyContext, op: Operation | None, instance_id: str, req: ProvisionRequest | None
) -> None:
    """Remove everything of the instance: Machines, volumes, secrets, the control Machine,
    and the app when it is the instance's own (then wait until it is gone)."""
    inst = await instances.find(ctx, instance_id)
    app = ctx.app(instance_id)
    if inst is not None:
        spec = inst.spec or req
        await asyncio.gather(*(machines.destroy(ctx, app, m.id) for m in inst.workload()))
        await _remove_volumes(ctx, app, spec)
        if spec is not None and ctx.config.app:
            await secrets.remove(ctx, app, spec)
        nonce = control.op_nonce(op) if op is not None else ""
        await machines.destroy(ctx, app, inst.control.id, nonce=nonce)
    if ctx.config.app:
        return
    await ctx.api.delete_app(app)
    limit = Deadline(ctx.config.request_timeout, f"delete app {app}")
    while await ctx.api.get_app(app) is not None:
        if limit.expired():
            raise BackendError(
                f"app {app!r} is still being deleted after {limit.seconds:g}s", backend=BACKEND
            )
        await asyncio.sleep(min(seconds(ctx.config.poll_interval), limit.remaining()))


async def deprovision(ctx: FlyContext, op: Operation, instance_id: str) -> None:
    """Remove everything of the instance (see :func:`remove_all`); unknown: nothing."""
    inst = await instances.find(ctx, instance_id)
    if inst is None:
        raise InstanceNotFound(instance_id, provider=BACKEND)
    await remove_all(ctx, op, instance_id, inst.spec)


async def remove_orphan(ctx: FlyContext, instance_id: str) -> None:
    """Delete the instance's own app when it holds no control Machine (a provision that
    died before creating one); nothing else is touched."""
    if ctx.config.app:
        return
    app = ctx.app(instance_id)
    if await ctx.api.get_app(app) is None:
        return
    if any(m.control for m in await instances.machines_of(ctx, app)):
        return
    await ctx.api.delete_app(app)
