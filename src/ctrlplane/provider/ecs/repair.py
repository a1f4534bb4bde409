"""Repairing what an interrupted operation left (I/O), before the next one works.

When an operation's holder died (its lease expired: ``op.interrupted``), the next
mutating call first makes one release serve again:

- an instance whose provision never finished (no live service, or one not tagged
  ``ready``) is removed;
- a blue-green or canary deploy's other service (``candidate``, ``retiring``, or the
  older of two live ones) is deleted, and the live service gets its remembered desired
  count and its traffic back;
- a rolling deploy still in progress on the live service is waited for; if it does not
  complete (within ``deploy_timeout``), the service goes back to the revision it ran
  before;
- revisions newer than the live one that no service runs (registered by the
  interrupted call) are deregistered and deleted.
"""

from __future__ import annotations

from ctrlplane.provider.deadlines import Deadline
from ctrlplane.provider.ecs.context import EcsContext
from ctrlplane.provider.ecs.instances import instance_services
from ctrlplane.provider.ecs.observe.instance import pick_live, service_tags
from ctrlplane.provider.ecs.removal import remove_definitions, remove_instance
from ctrlplane.provider.ecs.render.names import (
    TAG_REPLICAS,
    TAG_ROLE,
    TAG_STATE,
    TAG_TRAFFIC,
    family,
)
from ctrlplane.provider.ecs.waits import gone, settle
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.liblog import library_logger
from ctrlplane.provider.native import JSON
from ctrlplane.provider.operations import Operation

__all__ = ["repair"]

log = library_logger("ctrlplane.ecs")


def _revision(arn: str) -> int:
    tail = arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


async def repair(ctx: EcsContext, op: Operation) -> None:
    """Repair what ``op.interrupted`` left (see the module docs); no-op without it."""
    lease = op.interrupted
    if lease is None:
        return
    iid = op.instance_id
    log.warning("repairing %s after an interrupted %s", iid, lease.operation)
    live, others = pick_live(await instance_services(ctx, iid))
    if live is None or service_tags(live).get(TAG_STATE) != "ready":
        await remove_instance(ctx, iid)
        return
    name = str(live["serviceName"])
    extra = [str(s["serviceName"]) for s in others if s.get("status") == "ACTIVE"]
    for other in extra:
        await ctx.api.delete_service(other)
    tags = service_tags(live)
    wanted = int(tags.get(TAG_REPLICAS, "0") or 0) if tags.get(TAG_REPLICAS, "").isdigit() else 0
    fields: dict[str, int] = {}
    if wanted and int(live.get("desiredCount") or 0) not in (0, wanted):
        fields["desiredCount"] = wanted
    if fields:
        await ctx.api.update_service(name, **fields)
    await ctx.api.tag(str(live["serviceArn"]), {TAG_ROLE: "live", TAG_TRAFFIC: "on"})
    deadline = Deadline(ctx.config.deploy_timeout, f"repair of {iid}")
    current = str(live.get("taskDefinition"))
    deployments: list[JSON] = list(live.get("deployments") or [])
    try:
        async with deadline.timeout():
            if extra:
                await gone(ctx, extra)
            if len(deployments) > 1 or any(
                d.get("rolloutState") == "IN_PROGRESS" for d in deployments
            ):
                await settle(ctx, name, target=current, step="finish the interrupted deploy")
    except (RolloutFailed, TimeoutError):
        older = [str(d.get("taskDefinition")) for d in deployments if d.get("status") != "PRIMARY"]
        if older:
            current = older[0]
            await ctx.api.update_service(name, taskDefinition=current)
            async with Deadline(ctx.config.deploy_timeout, f"repair of {iid}").timeout():
                await settle(ctx, name, target=current, step="restore the previous revision")
    arns = await ctx.api.task_definition_arns(family(ctx.config, iid), "ACTIVE")
    unused = [a for a in arns if _revision(a) > _revision(current)]
    await remove_definitions(ctx, unused)
