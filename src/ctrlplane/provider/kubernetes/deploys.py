"""``deploy`` and ``rollback`` on the cluster: the release plan of the shared core
(:mod:`ctrlplane.provider.releases`: the listed services' new images, env and probes, or a
retained release's snapshot, as a new release), rolled out by the strategy of
:mod:`.strategies` that fits the controller.

Everything refused is refused before anything changes: unknown services, a reused release
ID, a strategy the live controller cannot take, what the server would refuse of the new
release (native sidecars on an old server, env var names it does not take). Then the
instance's secrets are resolved again (the redactor learns the values the instance holds
and the new ones) and applied, and the rollout runs."""

from __future__ import annotations

from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.instances import load
from ctrlplane.provider.kubernetes.limits import deploy_refusals
from ctrlplane.provider.kubernetes.observe.instance import Instance
from ctrlplane.provider.kubernetes.render.naming import base_name
from ctrlplane.provider.kubernetes.secret_values import learn_instance_secrets, refresh_secrets
from ctrlplane.provider.kubernetes.strategies import Rollout, partitioned_canary, roll, two_sets
from ctrlplane.provider.releases import DEPLOYED, ReleasePlan, plan_deploy, plan_rollback
from ctrlplane.provider.results import DeployResult
from ctrlplane.provider.spec import DeployRequest

__all__ = ["deploy", "rollback"]


async def deploy(ctx: Context, req: DeployRequest) -> DeployResult:
    """The body of :meth:`~.provider.KubernetesProvider.deploy` (its contract); ``req``
    passed the preflight."""
    inst = await load(ctx, req.instance_id)
    plan = plan_deploy(req, inst.req.services, [r.release_id for r in inst.releases])
    ctx.preflight.refuse(deploy_refusals(req, inst.kind))
    rollout = await _prepare(ctx, inst, plan)
    if plan.strategy is DeployStrategy.ROLLING:
        await roll(ctx, rollout, plan.strategy.value)
    elif inst.kind == "StatefulSet":
        await partitioned_canary(ctx, rollout)
    else:
        await two_sets(ctx, rollout, plan.strategy)
    return DeployResult(
        provider_ref=base_name(req.instance_id), status=DEPLOYED, release_id=plan.release_id
    )


async def rollback(ctx: Context, instance_id: str, release_id: str) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.rollback` (its contract)."""
    inst = await load(ctx, instance_id)
    plan = plan_rollback(instance_id, release_id, inst.req.services, inst.releases)
    await roll(ctx, await _prepare(ctx, inst, plan), plan.strategy.value)


async def _prepare(ctx: Context, inst: Instance, plan: ReleasePlan) -> Rollout:
    """The rollout of ``plan``: what the server takes checked, then the instance's
    secrets resolved again and re-applied (a rotated value reaches the new pods)."""
    target = inst.req.model_copy(update={"services": plan.after})
    features = await ctx.features(target)
    await learn_instance_secrets(ctx, inst.req)
    await refresh_secrets(ctx, target, plan.release_id)
    return Rollout(inst, target, plan.release(), features)
