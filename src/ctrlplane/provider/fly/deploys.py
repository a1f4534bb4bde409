"""Deploys and rollbacks (I/O): plan with the core, roll out with :mod:`.strategies`.

``deploy`` plans the release against the live spec and the retained history
(:func:`~ctrlplane.provider.releases.plan_deploy`: unknown services and reused release
IDs are ``InvalidSpec`` before anything changes), refuses what only the live spec shows
(:func:`~.limits.deploy_refusals`) and rolls it out. ``rollback`` restores a retained
release's snapshot (:func:`~ctrlplane.provider.releases.plan_rollback`; unknown or pruned:
``ReleaseNotFound``, nothing changed), rolled out like a rolling deploy and recorded as a
new release with ``rollback_of``.
"""

from __future__ import annotations

from ctrlplane.provider.fly import control, instances, strategies
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.limits import deploy_refusals
from ctrlplane.provider.fly.repair import repair
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.releases import DEPLOYED, plan_deploy, plan_rollback
from ctrlplane.provider.results import DeployResult
from ctrlplane.provider.spec import DeployRequest

__all__ = ["deploy", "rollback"]


async def deploy(ctx: FlyContext, op: Operation, req: DeployRequest) -> DeployResult:
    """Roll ``req`` out (see the module docs)."""
    inst = await repair(ctx, op, await instances.load(ctx, req.instance_id))
    assert inst.spec is not None
    history = await control.releases(ctx, inst.app, inst.control)
    plan = plan_deploy(req, inst.spec.services, [r.release_id for r in history])
    ctx.preflight.refuse(deploy_refusals(plan.strategy, plan.changed, inst.spec.services))
    await strategies.roll(ctx, op, inst, plan)
    return DeployResult(provider_ref=inst.app, status=DEPLOYED, release_id=plan.release_id)


async def rollback(ctx: FlyContext, op: Operation, instance_id: str, release_id: str) -> None:
    """Restore ``release_id``'s snapshot as a new release (see the module docs)."""
    inst = await repair(ctx, op, await instances.load(ctx, instance_id))
    assert inst.spec is not None
    history = await control.releases(ctx, inst.app, inst.control)
    plan = plan_rollback(instance_id, release_id, inst.spec.services, history)
    await strategies.roll(ctx, op, inst, plan)
