"""Start, stop and scale an existing instance's replica units on one engine.

``start`` brings every unit's namespace holder, then its long-lived services up in
dependency order (first stopping the services of a unit whose holder is down or gone, so
they join its new namespace), each of which must then stay up through the
stability window, gives every running holder its service names back where it lost them
(the engine can lose them, :func:`.fronts.unresolved_fronts`), and makes every front run
(:mod:`.fronts`: a missing one is created again); ``stop`` stops the units gracefully
in reverse order (the fronts keep holding the published ports); ``restart`` is both in
one operation; ``scale`` updates the main service's limits in place and adds or removes
units (an added unit gets its service names once it is up and its health checks pass; a
removed unit gives up its names and drains for ``drain_period`` first, so the fronts
send it nothing new).

A start quotes the last log lines of a service that does not stay up: the operation's
redactor learns the secret values the instance's containers hold first, so the error
never shows one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ctrlplane.errors import BackendError, BackendUnavailable
from ctrlplane.provider.deadlines import cleanup_to_end, first_error, raise_failure, seconds
from ctrlplane.provider.docker.addressing import advertise, withdraw
from ctrlplane.provider.docker.config import BACKEND
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.fronts import ensure_fronts
from ctrlplane.provider.docker.instances import inspect_holders, load
from ctrlplane.provider.docker.limits import check_docker
from ctrlplane.provider.docker.materials import (
    config_contents,
    held_secret_values,
    workload_materials,
)
from ctrlplane.provider.docker.objects import cleanup_limit, ensure_volumes
from ctrlplane.provider.docker.observe.workload import replica_of, units
from ctrlplane.provider.docker.render.bodies import resource_limits
from ctrlplane.provider.docker.render.workload import Workload, scaled
from ctrlplane.provider.docker.units import UnitRunner
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.failures import RolloutFailed, engine_lost
from ctrlplane.provider.native import JSON
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.spec import ResourceSpec
from ctrlplane.provider.taskgroups import TaskGroup

__all__ = ["scale_instance", "start_instance", "stop_instance"]


def _service(ctx: DockerContext, info: JSON) -> str:
    return str(info["Config"]["Labels"].get(ctx.labels.service, ""))


async def restart_instance(ctx: DockerContext, op: Operation, instance_id: str) -> None:
    """Stop, then start (see the module docstring)."""
    await stop_instance(ctx, instance_id)
    await start_instance(ctx, op, instance_id)


async def start_instance(ctx: DockerContext, op: Operation, instance_id: str) -> None:
    """Start the long-lived services of every unit (see the module docstring)."""
    wl, inspects = await load(ctx, instance_id)
    op.redactor.add(await held_secret_values(ctx, wl, inspects))
    runner = UnitRunner(ctx, wl, {})
    holders = await inspect_holders(ctx, instance_id)
    up = {replica_of(ctx.labels, h) for h in holders if (h.get("State") or {}).get("Running")}
    down = set(units(ctx.labels, inspects)) - up
    await asyncio.gather(*(runner.stop_long_lived(r) for r in down))
    try:
        async with TaskGroup() as tg:
            started = [
                tg.create_task(runner.start_long_lived(r, create=False))
                for r in units(ctx.labels, inspects)
            ]
        await runner.stable([s for unit in started for s in unit.result()])
        for holder in await inspect_holders(ctx, instance_id):  # names lost meanwhile
            if (holder.get("State") or {}).get("Running"):
                await advertise(ctx, wl, replica_of(ctx.labels, holder), str(holder["Id"]))
        await ensure_fronts(ctx, wl)
    except (BaseExceptionGroup, RolloutFailed) as exc:
        raise _op_error(instance_id, "start", exc) from None


async def stop_instance(ctx: DockerContext, instance_id: str) -> None:
    """Stop the long-lived services of every unit gracefully, in reverse order."""
    wl, inspects = await load(ctx, instance_id)
    runner = UnitRunner(ctx, wl, {})
    await asyncio.gather(*(runner.stop_long_lived(r) for r in units(ctx.labels, inspects)))


def _op_error(iid: str, op: str, exc: BaseException, left: str = "") -> BaseException:
    """The error of a failed ``op`` (``left``: what its cleanup could not remove): a lost
    engine is :class:`BackendUnavailable`, a failed step a :class:`BackendError`."""
    err = first_error(exc)
    after = f"; {left}" if left else ""
    lost = engine_lost(exc)
    if lost is not None:
        return BackendUnavailable(f"{lost}; the {op} of {iid!r} stopped{after}", backend=BACKEND)
    if isinstance(err, RolloutFailed):
        return BackendError(
            f"{op} of {iid!r} failed at {err.step}: {err.reason}{after}", backend=BACKEND
        )
    if left:
        err.add_note(left)
    return err


async def scale_instance(
    ctx: DockerContext, op: Operation, instance_id: str, spec: ResourceSpec
) -> None:
    """Apply a (checked) scale request: the main service's CPU/memory limits in place,
    then new units started in order (each must stay up through the stability window
    and pass its health checks before it gets its service names) or surplus units
    (highest numbers) removed."""
    wl, inspects = await load(ctx, instance_id)
    await op.note(phase="scale", replicas=str(spec.replicas or ""))
    present = units(ctx.labels, inspects)
    main = wl.main
    target = spec.replicas or len(present)
    new_main = scaled(main, spec)
    services = [new_main if s.name == main.name else s for s in wl.services]
    check_docker(services, target)
    if spec.cpu_millis or spec.memory_mb:
        body: JSON = {}
        lim = resource_limits(new_main.resources)
        if spec.cpu_millis:
            body["NanoCpus"] = lim["NanoCpus"]
        if spec.memory_mb:
            body["Memory"] = lim["Memory"]
            body["MemorySwap"] = lim["MemorySwap"]
        refs = [i["Id"] for i in inspects if _service(ctx, i) == main.name]
        await asyncio.gather(*(ctx.client.update_container(ref, body) for ref in refs))
    wl = wl.with_services(services, wl.release_id)
    if target > len(present):
        await _add_units(ctx, wl, inspects, range(len(present), target))
    elif target < len(present):
        runner = UnitRunner(ctx, wl, {})
        for r in sorted(present)[target:][::-1]:
            if await withdraw(ctx, wl, runner.holder(r)):
                await asyncio.sleep(seconds(ctx.config.drain_period))
            await runner.stop_long_lived(r)
            await runner.remove_services(r, [s.name for s in wl.services])


async def _admit(ctx: DockerContext, runner: UnitRunner, replica: int) -> None:
    """Give a unit a scale added its service names once its long-lived services with a
    health check pass it (as a deploy's gate); until then the other units take its
    traffic. A failing check fails the scale with its evidence."""
    wl = runner.wl
    long_lived = [s for s in wl.services if s.role is not ServiceRole.INIT]
    await runner.pass_checks(long_lived, replica, "")
    await advertise(ctx, wl, replica, runner.holder(replica))


async def _add_units(
    ctx: DockerContext, wl: Workload, inspects: Sequence[JSON], replicas: range
) -> None:
    contents = await config_contents(ctx, wl, inspects)
    materials = await workload_materials(ctx, wl, contents)
    await ensure_volumes(ctx, wl, replicas)
    runner = UnitRunner(ctx, wl, materials, advertise=False)
    for r in replicas:
        try:
            await runner.stable(await runner.bring_up(r))
            await _admit(ctx, runner, r)
        except BaseException as exc:
            left, interrupted = await cleanup_to_end(
                runner.remove_services(r, [s.name for s in wl.services]),
                cleanup_limit(ctx.config),
                f"removing the half-made unit {r}",
            )
            raise_failure(_op_error(wl.instance_id, "scale", exc, left), interrupted)
