"""Start, stop and scale an existing instance's replica units on one engine.

``start`` brings every unit's long-lived services up in dependency order (first stopping
the joined services of a unit whose namespace owner is down or restarted after them, so
they rejoin its current namespace); ``stop`` stops them gracefully in reverse order;
``scale`` updates the main service's limits in place and adds or removes units.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ctrlplane.errors import BackendError
from ctrlplane.provider.docker.engine import BACKEND as NAME
from ctrlplane.provider.docker.session import Session
from ctrlplane.provider.docker.status import cut_off
from ctrlplane.provider.docker.translate import (
    Workload,
    check_docker,
    limits,
    netns_owner,
    scaled,
)
from ctrlplane.provider.docker.units import StepFailed, UnitRunner, first_error, uncancellable
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.spec import ResourceSpec

__all__ = ["scale_instance", "start_instance", "stop_instance"]

JSON = dict[str, Any]


async def start_instance(ses: Session, instance_id: str) -> None:
    """Start the long-lived services of every unit (see the module docstring)."""
    wl, inspects = await ses.load(instance_id)
    runner = UnitRunner(ses.engine, ses.tr, wl, {})
    owner = netns_owner(wl.services).name
    stale = cut_off(inspects)

    def replica(info: JSON) -> int:
        return int(info["Config"]["Labels"].get(ses.tr.labels.replica, "0"))

    down = {
        replica(i)
        for i in inspects
        if i["Config"]["Labels"].get(ses.tr.labels.service) == owner
        and not (i.get("State") or {}).get("Running")
    }
    down |= {replica(i) for i in inspects if i.get("Id") in stale}
    joiners = [s.name for s in wl.services if s.role is not ServiceRole.INIT]
    joiners = [n for n in joiners if n != owner]
    await asyncio.gather(*(runner.stop_long_lived(r, only=joiners) for r in down))
    try:
        async with asyncio.TaskGroup() as tg:
            for r in ses.units(inspects):
                tg.create_task(runner.start_long_lived(r, create=False))
    except BaseExceptionGroup as group:
        raise _op_error(instance_id, "start", group) from None


async def stop_instance(ses: Session, instance_id: str) -> None:
    """Stop the long-lived services of every unit gracefully, in reverse order."""
    wl, inspects = await ses.load(instance_id)
    runner = UnitRunner(ses.engine, ses.tr, wl, {})
    await asyncio.gather(*(runner.stop_long_lived(r) for r in ses.units(inspects)))


def _op_error(iid: str, op: str, exc: BaseException) -> BaseException:
    err = first_error(exc)
    if isinstance(err, StepFailed):
        return BackendError(f"{op} of {iid!r} failed at {err.step}: {err.reason}", backend=NAME)
    return err


async def scale_instance(ses: Session, instance_id: str, spec: ResourceSpec) -> None:
    """Apply a (validated) scale request: the main service's CPU/memory limits in place,
    then new units started in order or surplus units (highest numbers) removed."""
    wl, inspects = await ses.load(instance_id)
    units = ses.units(inspects)
    main = wl.main
    target = spec.replicas or len(units)
    new_main = scaled(main, spec)
    services = [new_main if s.name == main.name else s for s in wl.services]
    check_docker(services, target)
    if spec.cpu_millis or spec.memory_mb:
        body: JSON = {}
        lim = limits(new_main.resources)
        if spec.cpu_millis:
            body["NanoCpus"] = lim["NanoCpus"]
        if spec.memory_mb:
            body["Memory"] = lim["Memory"]
            body["MemorySwap"] = lim["MemorySwap"]
        refs = [
            i["Id"]
            for i in inspects
            if i["Config"]["Labels"].get(ses.tr.labels.service) == main.name
        ]
        await asyncio.gather(*(ses.engine.update_container(ref, body) for ref in refs))
    wl = wl.with_services(services, wl.release_id)
    if target > len(units):
        await _add_units(ses, wl, inspects, range(len(units), target))
    elif target < len(units):
        runner = UnitRunner(ses.engine, ses.tr, wl, {})
        for r in sorted(units)[target:][::-1]:
            await runner.stop_long_lived(r)
            await runner.remove_services(r, [s.name for s in wl.services])


async def _add_units(ses: Session, wl: Workload, inspects: Sequence[JSON], replicas: range) -> None:
    contents = await ses.config_contents(wl, inspects)
    materials = await ses.materials(wl, contents)
    await ses.ensure_volumes(wl, replicas)
    runner = UnitRunner(ses.engine, ses.tr, wl, materials)
    for r in replicas:
        try:
            await runner.bring_up(r)
            await ses.settle(runner, wl, [r])
        except BaseException as exc:
            await uncancellable(runner.remove_services(r, [s.name for s in wl.services]))
            err = first_error(exc)
            if isinstance(err, StepFailed):
                raise BackendError(
                    f"scale of {wl.instance_id!r} failed at {err.step}: {err.reason}",
                    backend=NAME,
                ) from None
            raise err from None
