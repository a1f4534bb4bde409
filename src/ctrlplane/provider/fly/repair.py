"""Repairing what an interrupted operation left (I/O), before the next one works.

When an operation's holder died mid-way (its lease expired: ``op.interrupted``), the
instance is brought back to exactly its recorded live release:

- Machines of the instance that the record does not list (a blue-green set that never
  switched, a scale-up that never recorded, an init that never finished) are destroyed;
- every recorded Machine is uncordoned (a switch or a withdrawal may have been cut off);
- a recorded Machine whose configuration is not the live release's (an in-place update
  that was cut off) gets the live configuration back (update in place, gated like a
  deploy's).

A provision that never recorded a release has nothing to converge to: the instance reads
as not found and the next provision wipes and redoes it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ctrlplane.provider.deadlines import Deadline
from ctrlplane.provider.fly import instances, machines
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.instances import Instance
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.fly.render.machine import Placement, machine_config
from ctrlplane.provider.fly.render.plan import region_of
from ctrlplane.provider.operations import Operation

__all__ = ["converge", "repair"]

_COMPARED = ("image", "env", "guest", "checks", "init", "services", "files", "processes")


def _differs(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    return any(expected.get(k) != actual.get(k) for k in _COMPARED)


async def converge(ctx: FlyContext, op: Operation, inst: Instance) -> Instance:
    """Bring ``inst`` back to its recorded live release (see the module docs)."""
    spec, release = inst.spec, inst.release
    if spec is None or release is None:
        return inst
    recorded = {i for ids in inst.units.values() for i in ids}
    strays = [m for m in inst.workload() if m.id not in recorded and not m.gone]
    await asyncio.gather(*(machines.destroy(ctx, inst.app, m.id) for m in strays))
    limit = Deadline(ctx.config.deploy_timeout, "repair the interrupted operation")
    for svc in spec.services:
        for replica, machine_id in enumerate(inst.units.get(svc.name, [])):
            view = inst.machine(machine_id)
            if view is None:
                continue
            await ctx.api.action(inst.app, view.id, "uncordon")
            mounts = view.config.get("mounts") or []
            place = Placement(
                instance_id=inst.instance_id,
                tenant_id=spec.tenant_id,
                app=inst.app,
                replica=replica,
                region=region_of(ctx.config, replica),
                release_id=view.release or release.release_id,
                generation=view.generation,
                volume_id=str(mounts[0].get("volume", "")) if mounts else "",
            )
            expected = machine_config(svc, place, ctx.config)
            if _differs(expected, dict(view.config)):
                await _restore(ctx, op, inst, view, expected, limit)
    return await instances.load(ctx, inst.instance_id)


async def _restore(
    ctx: FlyContext,
    op: Operation,
    inst: Instance,
    view: MachineView,
    expected: dict[str, Any],
    limit: Deadline,
) -> None:
    await machines.update_in_place(
        ctx,
        inst.app,
        view,
        expected,
        f"repair {view.service} (replica {view.replica})",
        limit,
        purpose=f"ctrlplane repair of {inst.instance_id} ({op.name})",
        launch=view.state in ("started", "starting", "replacing"),
    )


async def repair(ctx: FlyContext, op: Operation, inst: Instance) -> Instance:
    """:func:`converge` when the operation took over an interrupted one, else ``inst``."""
    if op.interrupted is None:
        return inst
    await op.note(phase="repair")
    return await converge(ctx, op, inst)
