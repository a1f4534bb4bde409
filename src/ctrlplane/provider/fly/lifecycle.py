"""Stop, start, restart and scale (I/O), on the Machines serving the live release.

- ``stop``: every replica at once, its long-lived Machines in reverse start-up order
  (``stop``, then ``/wait`` for ``stopped``). Stopped already: nothing to do.
- ``start``: every replica at once, its long-lived Machines in start-up order, each
  confirmed running and, with a health check, gated before the next wave. Inits do not
  run again (their Machines ran once at provision and are gone).
- ``restart``: like ``start``, but a running Machine is restarted (``restart``) and
  confirmed running again: a Machine that exits after its restart fails the call
  (``BackendError`` naming the service and the exit code; output is never quoted).
- ``scale``: the main service's new resources (``guest``) are rolled onto its Machines one
  at a time (in place, gated); new replicas are brought up like a provision's (volumes,
  inits, services), surplus replicas' Machines destroyed (a stateful replica's volume is
  kept for a later scale-up); the record is rewritten (same release, new spec and
  Machines). A failure removes the new replicas' Machines and raises ``BackendError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from ctrlplane.errors import BackendError
from ctrlplane.provider.deadlines import Deadline, first_error
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.fly import control, instances, machines
from ctrlplane.provider.fly.config import BACKEND
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.gate import Gate
from ctrlplane.provider.fly.instances import Instance
from ctrlplane.provider.fly.limits import scale_refusals
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.fly.render.machine import machine_config
from ctrlplane.provider.fly.repair import repair
from ctrlplane.provider.fly.units import UnitBuilder, long_lived, unit_step
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.spec import ResourceSpec, ServiceSpec
from ctrlplane.provider.taskgroups import TaskGroup
from ctrlplane.provider.validation import startup_order

__all__ = ["restart", "scale", "start", "stop"]


def _waves(services: list[ServiceSpec]) -> list[list[ServiceSpec]]:
    return startup_order(long_lived(services))


async def _each_replica(inst: Instance, work: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    replicas = len(next(iter(inst.units.values()), []))
    try:
        async with TaskGroup() as tg:
            for replica in range(replicas):
                tg.create_task(work(replica))
    except BaseExceptionGroup as group:
        err = first_error(group)
    else:
        return
    raise err  # outside the handler: no context cycle through the group


async def _load(ctx: FlyContext, op: Operation, instance_id: str) -> Instance:
    return await repair(ctx, op, await instances.load(ctx, instance_id))


async def stop(ctx: FlyContext, op: Operation, instance_id: str) -> None:
    """Stop every serving Machine (see the module docs)."""
    inst = await _load(ctx, op, instance_id)
    assert inst.spec is not None
    deadline = Deadline(ctx.config.deploy_timeout, f"stop {instance_id}")
    waves = _waves(inst.spec.services)

    async def down(replica: int) -> None:
        for wave in reversed(waves):
            views = [inst.unit(s.name, replica) for s in wave]
            await asyncio.gather(
                *(machines.stop(ctx, inst.app, v, deadline) for v in views if v is not None)
            )

    try:
        await _each_replica(inst, down)
    except RolloutFailed as exc:
        raise BackendError(f"stopping {instance_id!r} failed: {exc}", backend=BACKEND) from None


async def _up(ctx: FlyContext, op: Operation, instance_id: str, *, restart_running: bool) -> None:
    inst = await _load(ctx, op, instance_id)
    assert inst.spec is not None
    verb = "restart" if restart_running else "start"
    deadline = Deadline(ctx.config.deploy_timeout, f"{verb} {instance_id}")
    gate = Gate(ctx, inst.app, op.redact)
    waves = _waves(inst.spec.services)

    async def one(svc: ServiceSpec, replica: int) -> None:
        view = inst.unit(svc.name, replica)
        step = unit_step(verb, svc.name, replica)
        if view is None:
            raise RolloutFailed(step, "its machine is gone")
        settle = svc.health_check is None
        if restart_running and view.state == "started":
            since = machines.latest_event_ms(view)
            await ctx.api.action(inst.app, view.id, "restart")
            view = await machines.confirm_started(
                ctx, inst.app, view.id, step, deadline, since_ms=since, settle=settle
            )
        else:
            view = await machines.start(ctx, inst.app, view, step, deadline, settle=settle)
        if svc.health_check is not None:
            outcome = await gate.gate(view, svc.name, svc.health_check, deadline)
            if not outcome.passed:
                raise RolloutFailed(
                    unit_step("health", svc.name, replica), outcome.reason, outcome.results
                )

    async def up(replica: int) -> None:
        for wave in waves:
            async with TaskGroup() as tg:
                for svc in wave:
                    tg.create_task(one(svc, replica))

    try:
        await _each_replica(inst, up)
    except RolloutFailed as exc:
        raise BackendError(
            f"{verb} of {instance_id!r} failed at {exc.step}: {exc.reason}", backend=BACKEND
        ) from None


async def start(ctx: FlyContext, op: Operation, instance_id: str) -> None:
    """Start every serving Machine that is not running (see the module docs)."""
    await _up(ctx, op, instance_id, restart_running=False)


async def restart(ctx: FlyContext, op: Operation, instance_id: str) -> None:
    """Restart every serving Machine (see the module docs)."""
    await _up(ctx, op, instance_id, restart_running=True)


def _resized(live: ResourceSpec, spec: ResourceSpec) -> ResourceSpec:
    update = {
        k: v
        for k, v in spec.model_dump().items()
        if v and k in ("cpu_millis", "memory_mb", "disk_mb", "replicas")
    }
    return live.model_copy(update=update)


async def scale(ctx: FlyContext, op: Operation, instance_id: str, spec: ResourceSpec) -> None:
    """Change replicas and the main service's resources (see the module docs)."""
    inst = await _load(ctx, op, instance_id)
    live, release = inst.spec, inst.release
    assert live is not None
    assert release is not None
    ctx.preflight.refuse(scale_refusals(spec, live.services, live.kind), subject="scale request")
    main = live.main
    resources = _resized(main.resources, spec)
    services = [
        s.model_copy(update={"resources": resources}) if s.name == main.name else s
        for s in live.services
    ]
    after = live.model_copy(update={"services": services})
    units = {k: list(v) for k, v in inst.units.items()}
    current = len(units.get(main.name, []))
    target = spec.replicas or current
    deadline = Deadline(ctx.config.deploy_timeout, f"scale {instance_id}")
    gate = Gate(ctx, inst.app, op.redact)
    builder = UnitBuilder(
        ctx,
        inst.app,
        instance_id,
        live.tenant_id,
        services,
        release.release_id,
        gate,
        deadline,
    )
    await op.note(phase="scale")
    try:
        if resources != main.resources:
            await _resize(ctx, op, inst, builder, after.main, units, min(current, target), deadline)
        for replica in range(current, target):
            made = await builder.bring_up(replica)
            for name, machine_id in made.items():
                units.setdefault(name, []).append(machine_id)
    except RolloutFailed as exc:
        recorded = {i for ids in inst.units.values() for i in ids}
        now = await instances.find(ctx, instance_id) or inst
        strays = [m for m in now.workload() if m.id not in recorded and not m.gone]
        await asyncio.gather(*(machines.destroy(ctx, inst.app, m.id) for m in strays))
        raise BackendError(
            f"scaling {instance_id!r} failed at {exc.step}: {exc.reason}", backend=BACKEND
        ) from None
    surplus = [i for ids in units.values() for i in ids[target:]]
    await asyncio.gather(*(machines.destroy(ctx, inst.app, i) for i in surplus))
    units = {k: v[:target] for k, v in units.items()}
    await control.write_record(ctx, op, inst.app, inst.control, after, release, units)


async def _resize(
    ctx: FlyContext,
    op: Operation,
    inst: Instance,
    builder: UnitBuilder,
    main: ServiceSpec,
    units: dict[str, list[str]],
    replicas: int,
    deadline: Deadline,
) -> None:
    for replica in range(replicas):
        step = unit_step("resize", main.name, replica)
        found = await ctx.api.get_machine(inst.app, units[main.name][replica])
        if found is None:
            raise RolloutFailed(step, "its machine is gone")
        view = MachineView.of(found)
        place = builder.place(replica, view.generation, view.volume_id)
        config = machine_config(main, place, ctx.config)
        running = view.state in ("started", "starting")
        await machines.update_in_place(
            ctx,
            inst.app,
            view,
            config,
            step,
            deadline,
            purpose=f"ctrlplane scale of {inst.instance_id}",
            launch=running,
            settle=main.health_check is None,
        )
        if running:
            await builder.check(main, view)
