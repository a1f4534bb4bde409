"""Crash-safe operations: what the next mutating call does about an operation whose holder
died mid-way.

Every mutating operation records what it is doing in the instance's Lease
(``op.note``: ``phase``, ``release_id``, ``previous``, ``aux``...). When its holder dies
(killed, its machine lost), the Lease expires; the next mutating call on the instance
takes it over and gets the dead operation's lease as ``op.interrupted``. Before its own
work it finishes or undoes what was left, so that never two releases serve:

- an interrupted **provision** of a new instance (it recorded the first release it
  applied) is deleted: it never finished, and its caller never got a result;
- an interrupted **deprovision** is finished: everything of the instance is deleted;
- an interrupted **deploy** or **rollback**: a canary or green set left beside the
  instance is removed (the Service switched back to the main set first); then, if the
  controller already runs the new release (its rollout was applied), the rollout is
  waited for, and restored to the previous release if it never comes up; else the live
  release is applied again (a StatefulSet's canary partition lifted, its pods of the
  new version replaced);
- an interrupted **start**, **stop**, **restart** or **scale** left no second release:
  nothing is undone (the controller converges by itself).

The repairing operation keeps the interrupted one's record in its own Lease
(``repairing``...), so a repair that dies too is repaired by the next call.
:func:`~.observe.lease.describe` says what the next call will do (for ``status``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ctrlplane.errors import InstanceNotFound, OperationTimeout
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.instances import load, previous_instance
from ctrlplane.provider.kubernetes.observe.instance import Instance
from ctrlplane.provider.kubernetes.observe.lease import CARRIED, describe, interrupted
from ctrlplane.provider.kubernetes.provisioning import delete_all
from ctrlplane.provider.kubernetes.recovery import remove_aux, restore
from ctrlplane.provider.kubernetes.render import Features, render_objects
from ctrlplane.provider.kubernetes.render.naming import (
    LABEL_SERVING,
    LABEL_TRACK,
    SERVING_MAIN,
    base_name,
    instance_selector,
)
from ctrlplane.provider.kubernetes.waits import wait_live

__all__ = ["repair"]


async def repair(ctx: Context) -> None:
    """Finish or undo the operation ``ctx.op`` took over (see the module)."""
    lease = ctx.op.interrupted
    if lease is None:
        return
    operation, intent = interrupted(lease)
    carried = {f"{CARRIED}_{k}": v for k, v in intent.items()}
    await ctx.op.note(**{CARRIED: operation}, **carried)
    await ctx.steps.enter("repair", f"interrupted {operation}: {describe(lease)}")
    iid = ctx.op.instance_id
    try:
        inst = await load(ctx, iid)
    except InstanceNotFound:
        inst = None
    if operation == "deprovision" or (operation == "provision" and _first_release(inst, intent)):
        await delete_all(ctx, iid, wait=True)
    elif operation in ("deploy", "rollback") and inst is not None:
        features = await ctx.features(inst.req)
        await _remove_second_sets(ctx, inst, features)
        await _finish_or_undo(ctx, inst, features, intent)
    await ctx.op.note(**{CARRIED: ""})
    await ctx.steps.finish()


def _first_release(inst: Instance | None, intent: Mapping[str, str]) -> bool:
    """Whether ``inst`` is what an interrupted provision made: its only release is the
    one that provision recorded."""
    if inst is None:
        return False
    ours = intent.get("release_id", "")
    return bool(ours) and [r.release_id for r in inst.releases] == [ours]


async def _remove_second_sets(ctx: Context, inst: Instance, features: Features) -> None:
    """Traffic back to the main set, then the canary or green Deployments removed."""
    iid = inst.req.instance_id
    name = base_name(iid)
    service = await ctx.cluster.find("Service", name)
    selector = ((service or {}).get("spec") or {}).get("selector") or {}
    if service is not None and selector.get(LABEL_SERVING, SERVING_MAIN) != SERVING_MAIN:
        rendered = render_objects(
            inst.req,
            ctx.config,
            release_id=inst.release_id,
            features=features,
            releases=inst.releases,
        )
        main = [o for o in rendered if o["kind"] == "Service" and o["metadata"]["name"] == name]
        await ctx.cluster.apply(main, f"switch traffic of {iid} back")
    controllers = await ctx.cluster.list_objects(
        "Deployment", labels=instance_selector(iid), what=f"list Deployments of {iid}"
    )
    for aux in controllers:
        meta = aux["metadata"]
        if meta["name"] == name:
            continue
        track = ((aux.get("spec") or {}).get("selector") or {}).get("matchLabels", {})
        await remove_aux(ctx, iid, meta["name"], str(track.get(LABEL_TRACK, "")))


async def _finish_or_undo(
    ctx: Context, inst: Instance, features: Features, intent: Mapping[str, str]
) -> None:
    """The controller: the interrupted release finished (or the previous one restored
    when it does not come up), or the live release applied again."""
    iid = inst.req.instance_id
    if not intent.get("release_id") or inst.release_id != intent["release_id"]:
        await restore(ctx, inst, features, None)
        return
    try:
        await wait_live(
            ctx,
            inst,
            limit=seconds(ctx.config.progress_deadline),
            what=f"the interrupted rollout of {iid}",
        )
    except (RolloutFailed, OperationTimeout):
        previous = previous_instance(ctx.config, inst, features)
        if previous is None:
            raise
        await restore(ctx, previous, features, None)
