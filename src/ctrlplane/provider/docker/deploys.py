"""``deploy``, ``rollback`` and ``releases`` on one engine: the live instance read back,
the release plan made against it and its history (:mod:`ctrlplane.provider.releases`),
the secrets and images of the new version made ready, then the plan rolled out by the
core engine (:func:`~ctrlplane.provider.rollouts.roll_out`) in the shape Docker decides
(:mod:`.strategies`) over the unit primitives (:mod:`.replacement`)."""

from __future__ import annotations

from collections.abc import Sequence

from ctrlplane.errors import CtrlplaneError, DeployFailed
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.history import read_history
from ctrlplane.provider.docker.images import pull_images
from ctrlplane.provider.docker.instances import load
from ctrlplane.provider.docker.limits import blue_green_refusals
from ctrlplane.provider.docker.materials import config_contents, workload_materials
from ctrlplane.provider.docker.observe.workload import units
from ctrlplane.provider.docker.render.workload import (
    Workload,
    blue_green_services,
    replaced_services,
)
from ctrlplane.provider.docker.replacement import UnitReplacement
from ctrlplane.provider.docker.strategies import rollout_shape
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.events import StepTracker
from ctrlplane.provider.failures import RolloutFailed, describe_failure
from ctrlplane.provider.native import JSON
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.preflight import Preflight
from ctrlplane.provider.releases import (
    DEPLOYED,
    Release,
    ReleasePlan,
    plan_deploy,
    plan_rollback,
)
from ctrlplane.provider.results import DeployResult
from ctrlplane.provider.rollouts import roll_out
from ctrlplane.provider.spec import DeployRequest

__all__ = ["deploy_release", "list_releases", "rollback_to"]


async def deploy_release(
    ctx: DockerContext, op: Operation, preflight: Preflight, req: DeployRequest
) -> DeployResult:
    """Roll out ``req``'s services as a new release (its ``release_id`` must be new)."""
    wl, inspects = await load(ctx, req.instance_id)
    history = await read_history(ctx, req.instance_id) if req.release_id else []
    plan = plan_deploy(req, wl.services, [r.release_id for r in history])
    await _roll_out(ctx, op, preflight, wl, inspects, plan)
    return DeployResult(
        provider_ref=ctx.names.network(req.instance_id),
        status=DEPLOYED,
        release_id=plan.release_id,
    )


async def rollback_to(
    ctx: DockerContext, op: Operation, preflight: Preflight, instance_id: str, release_id: str
) -> None:
    """Restore exactly the snapshot of ``release_id`` with a rolling rollout, recorded as
    a new release; :class:`ReleaseNotFound` when it is not retained."""
    wl, inspects = await load(ctx, instance_id)
    history = await read_history(ctx, instance_id)
    plan = plan_rollback(instance_id, release_id, wl.services, history)
    await _roll_out(ctx, op, preflight, wl, inspects, plan)


async def list_releases(ctx: DockerContext, instance_id: str) -> list[Release]:
    """Retained releases, newest (live) first; :class:`InstanceNotFound` when the
    instance is gone."""
    history = await read_history(ctx, instance_id)
    if not history:
        await load(ctx, instance_id)  # InstanceNotFound when gone
    return history


async def _roll_out(
    ctx: DockerContext,
    op: Operation,
    preflight: Preflight,
    wl: Workload,
    inspects: Sequence[JSON],
    plan: ReleasePlan,
) -> None:
    """Replace the changed services unit by unit with ``plan.strategy`` (gated), then
    record the release. On failure every touched unit gets its previous version back
    and :class:`DeployFailed` is raised (:class:`BackendUnavailable` when the engine
    was lost, saying where the rollout stopped). Progress goes to the operation's
    events: steps, units started, probe results, rollback. The release is noted in the
    lease before anything changes (so a repair knows what was rolled out)."""
    iid = wl.instance_id
    events = op.events
    strategy = plan.strategy
    new_wl = wl.with_services(plan.after, plan.release_id)
    if strategy is DeployStrategy.BLUE_GREEN:
        preflight.refuse(blue_green_refusals(wl))
        names = blue_green_services(wl, plan.changed)
    else:
        names = replaced_services(wl, plan.changed)
    contents = await config_contents(ctx, wl, inspects)
    try:
        new_mats = await workload_materials(ctx, new_wl, contents)
        old_mats = await workload_materials(ctx, wl, contents)
    except CtrlplaneError as exc:
        raise DeployFailed(
            iid, strategy=str(strategy), step="resolve secrets", reason=str(exc), rolled_back=False
        ) from exc
    await op.note(phase="roll out", release_id=plan.release_id)
    steps = StepTracker(iid, events)
    await steps.enter("pull-images")
    try:
        await pull_images(ctx, [s for s in plan.after if s.name in plan.changed], new_mats)
    except RolloutFailed as exc:
        await steps.fail(exc.reason)
        raise DeployFailed(iid, strategy=str(strategy), step=exc.step, reason=exc.reason) from None
    except BaseException as exc:
        await steps.fail(describe_failure(exc))
        raise
    await steps.finish()
    replacement = UnitReplacement(
        ctx, wl, new_wl, tuple(names), plan.changed, new_mats, old_mats, plan.release()
    )
    shape = rollout_shape(ctx.config, wl, new_wl, plan, names, units(ctx.labels, inspects))
    await roll_out(shape, replacement, events)
