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
  never started or run another version get new containers of the live release; every
  unit's namespace owner gets its service names back; every front of the instance runs
  (a missing one is created again, :mod:`.fronts`).

The secrets of re-created containers are resolved through the operation's resolver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from ctrlplane.provider.docker.addressing import advertise
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.fronts import ensure_fronts
from ctrlplane.provider.docker.history import read_history
from ctrlplane.provider.docker.instances import inspect_all
from ctrlplane.provider.docker.materials import config_contents, workload_materials
from ctrlplane.provider.docker.objects import purge
from ctrlplane.provider.docker.observe.leases import repair_plan
from ctrlplane.provider.docker.observe.repairs import (
    UnitView,
    off_services,
    runs_release,
    unit_views,
)
from ctrlplane.provider.docker.observe.workload import workload_from_containers
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
    for view in unit_views(keys, inspects):
        if view.retiring:
            await _settle_pair(ctx, iid, view, live)
    inspects = await inspect_all(ctx, iid)
    views = unit_views(keys, inspects)
    off = {v.replica: off_services(keys, wl, v, live) for v in views}
    if any(off.values()):
        contents = await config_contents(ctx, wl, inspects)
        materials = await workload_materials(ctx, wl, contents)
        for view in views:
            names = tuple(off[view.replica])
            if names:
                units = UnitReplacement(ctx, wl, wl, names, frozenset(), materials, materials, live)
                await units.start(view.replica, beside=False)
    for view in unit_views(keys, await inspect_all(ctx, iid)):
        owner = view.current.get(wl.owner)
        if owner is not None and (owner.get("State") or {}).get("Running"):
            await advertise(ctx, wl, view.replica, str(owner["Id"]))
    await ensure_fronts(ctx, wl)


async def _settle_pair(ctx: DockerContext, iid: str, view: UnitView, live: Release) -> None:
    """A unit with ``-retiring`` containers: keep the version of the pair that runs
    ``live`` (the new one when both do) and remove the other."""
    keys = ctx.labels
    client = ctx.client
    pairs = view.retiring
    new_is_live = all(
        s in view.current and runs_release(keys, view.current[s], live) for s in pairs
    )
    if new_is_live:
        gone = [str(info["Id"]) for info in pairs.values()]
    else:
        gone = [str(view.current[s]["Id"]) for s in pairs if s in view.current]
    stop = ctx.render.stop_seconds
    await asyncio.gather(*(client.stop_container(ref, stop) for ref in gone))
    await asyncio.gather(*(client.remove_container(ref) for ref in gone))
    if not new_is_live:
        for service, info in pairs.items():
            name = ctx.names.container(iid, view.replica, service)
            await client.rename_container(str(info["Id"]), name)
