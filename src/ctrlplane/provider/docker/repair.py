"""Repairing what an interrupted operation left, before the next one works (I/O).

When an operation's holder dies mid-way (a killed process), its lease expires and the
next mutating call takes it over with the interrupted lease in hand
(:attr:`~ctrlplane.provider.operations.Operation.interrupted`). :func:`repair` then
makes the instance consistent again, so that exactly one release serves, before doing
its own work (and says what it does in a ``repair`` progress step):

- an interrupted ``deprovision``, or a ``provision`` that never recorded its release:
  everything of the instance is removed (the volumes a provision found already there,
  which its lease noted, and with ``keep_volumes`` a deprovision's, are kept);
- otherwise the live release (the newest record) is the truth, unit by unit
  (:mod:`.observe.repairs`): where an old version was renamed ``-retiring`` beside a new
  one, the new one stays if it runs the live release (the old one is stopped and
  removed: the rollout had recorded it) and else is removed and the old one gets its
  names back (the rollout is undone); services whose containers are missing, were
  never started or run another version get new containers of the live release (the
  whole unit, its namespace holder too, when the holder is missing or not running);
  every unit's holder gets its service names back; every front of the instance runs
  (a missing one is created again, :mod:`.fronts`).

The secrets of re-created containers are resolved through the operation's resolver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from ctrlplane.provider.docker.addressing import advertise, rename_holder
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.fronts import ensure_fronts
from ctrlplane.provider.docker.history import read_history
from ctrlplane.provider.docker.instances import inspect_all, inspect_holders
from ctrlplane.provider.docker.materials import config_contents, workload_materials
from ctrlplane.provider.docker.objects import purge
from ctrlplane.provider.docker.observe.leases import repair_plan
from ctrlplane.provider.docker.observe.repairs import (
    UnitView,
    off_services,
    orphan_holders,
    runs_release,
    unit_views,
)
from ctrlplane.provider.docker.observe.workload import workload_from_containers
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.docker.replacement import UnitReplacement
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.releases import Release, apply_snapshot

__all__ = ["KEPT_VOLUMES", "repair"]

KEPT_VOLUMES = "kept_volumes"
"""The lease intent entry naming the volumes an operation keeps if it is undone
(comma-separated names)."""


def _kept(lease: Lease) -> set[str]:
    return {v for v in lease.intent.get(KEPT_VOLUMES, "").split(",") if v}


async def repair(ctx: DockerContext, op: Operation) -> None:
    """Finish or undo the operation interrupted before ``op`` (a no-op when none was;
    see the module docs)."""
    lease = op.interrupted
    if lease is None:
        return
    iid = op.instance_id
    history = await read_history(ctx, iid)
    live = history[0] if history else None
    plan = repair_plan(lease, live.release_id if live else "")
    await op.steps.enter("repair", f"{lease.operation} interrupted: {plan}")
    inspects = await inspect_all(ctx, iid)
    if lease.operation == "deprovision" or live is None or not inspects:
        await purge(ctx, iid, _kept(lease))
    else:
        await _converge(ctx, op, live, inspects)
    await op.steps.finish()


async def _converge(
    ctx: DockerContext, op: Operation, live: Release, inspects: Sequence[Mapping[str, Any]]
) -> None:
    """Every unit back on ``live`` (see the module docs)."""
    keys = ctx.labels
    iid = op.instance_id
    found = workload_from_containers(keys, inspects)
    wl = found.with_services(apply_snapshot(found.services, live), live.release_id)
    for view in unit_views(keys, inspects, await inspect_holders(ctx, iid)):
        if view.retiring or view.retiring_holder is not None:
            await _settle_pair(ctx, wl, view, live)
    inspects = await inspect_all(ctx, iid)
    views = unit_views(keys, inspects, await inspect_holders(ctx, iid))
    off = {v.replica: off_services(keys, wl, v, live) for v in views}
    if any(off.values()):
        contents = await config_contents(ctx, wl, inspects)
        materials = await workload_materials(ctx, wl, contents)
        for view in views:
            names = tuple(off[view.replica])
            if names:
                units = UnitReplacement(
                    ctx, wl, wl, names, frozenset(), materials, materials, live, gated=False
                )
                await units.start(view.replica, beside=False)
    inspects, holders = await inspect_all(ctx, iid), await inspect_holders(ctx, iid)
    await asyncio.gather(
        *(ctx.client.remove_container(ref) for ref in orphan_holders(keys, inspects, holders))
    )
    for view in unit_views(keys, inspects, holders):
        if view.holder is not None and (view.holder.get("State") or {}).get("Running"):
            await advertise(ctx, wl, view.replica, str(view.holder["Id"]))
    await ensure_fronts(ctx, wl)


async def _settle_pair(ctx: DockerContext, wl: Workload, view: UnitView, live: Release) -> None:
    """A unit with ``-retiring`` containers: keep the version of the pair that runs
    ``live`` (the new one when both do) and remove the other."""
    iid = wl.instance_id
    keys = ctx.labels
    client = ctx.client
    pairs = view.retiring
    new_is_live = all(
        s in view.current and runs_release(keys, view.current[s], live) for s in pairs
    )
    old_holder, new_holder = view.retiring_holder, view.holder
    if new_is_live:
        gone = [str(info["Id"]) for info in pairs.values()]
        holders = [str(old_holder["Id"])] if old_holder is not None else []
    else:
        gone = [str(view.current[s]["Id"]) for s in pairs if s in view.current]
        holders = [str(new_holder["Id"])] if new_holder is not None and old_holder else []
    stop = ctx.render.stop_seconds
    for group in (gone, holders):  # a holder goes after the services that joined it
        await asyncio.gather(*(client.stop_container(ref, stop) for ref in group))
        await asyncio.gather(*(client.remove_container(ref) for ref in group))
    if not new_is_live:
        for service, info in pairs.items():
            name = ctx.names.container(iid, view.replica, service)
            await client.rename_container(str(info["Id"]), name)
        if old_holder is not None:
            name = ctx.names.holder(iid, view.replica)
            await rename_holder(ctx, wl, str(old_holder["Id"]), name)
