"""Deploy strategies on the cluster, as functions over the backend's primitives (apply a
controller, wait for a release's pods, switch the Service, remove a set).

- rolling: the controller's own rollout (Deployment surge/unavailability; StatefulSet
  highest ordinal first).
- canary on a Deployment: an auxiliary Deployment of ``canary_units`` new pods under the
  same Service, gated and observed, then the main controller rolls and the canary goes.
- canary on a StatefulSet: the StatefulSet's own partitioned rolling update: the new
  template reaches only the highest ordinals (``updateStrategy.rollingUpdate.partition``),
  gated and observed, then partition 0 promotes the rest. Every pod keeps its volumes.
- blue-green on a Deployment: an auxiliary Deployment with the full replica count, gated
  while unreachable, then the Service switches to it in one step; the old pods stay for
  ``blue_green_retire_delay``, then the main controller rolls to the new version behind
  the switch, the Service switches back to it and the auxiliary set is removed.

Every path restores the previous release on failure, cancellation or an API error once it
has changed something, and removes the auxiliary set (see :mod:`.recovery`; a
StatefulSet's pods of the failed version are deleted too: a StatefulSet with
``OrderedReady`` pods does not replace a pod that is not ready by itself, the documented
"forced rollback"). All waits of one deploy share its ``progress_deadline``. Progress goes
to the optional subscriber: step pairs that never nest (:class:`StepTracker`), units
started and removed (:class:`~.waits.UnitEvents`), probe evidence, traffic switches and
the roll-back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from ctrlplane.provider.deadlines import Deadline, finish, seconds
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.events import StepTracker, TrafficSwitched, emit
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.instances import pods, render_live, render_release
from ctrlplane.provider.kubernetes.observe.instance import Instance
from ctrlplane.provider.kubernetes.recovery import (
    ABORTING,
    abort,
    abort_restoring,
    remove_aux,
    undo_two_sets,
)
from ctrlplane.provider.kubernetes.render import (
    Features,
    aux_workload,
    canary_stateful_set,
    switched_service,
)
from ctrlplane.provider.kubernetes.render.naming import SERVING_MAIN, TRACK_STABLE, base_name
from ctrlplane.provider.kubernetes.waits import UnitEvents, wait_release
from ctrlplane.provider.native import JSON
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["Rollout", "canary_split", "partitioned_canary", "roll", "two_sets"]


def canary_split(replicas: int, canary_units: int) -> tuple[int, int]:
    """(canary pods, partition) of a StatefulSet canary with ``replicas`` pods.

    The canary takes the highest ordinals; at least one pod keeps the old version while
    there are two or more (a single pod is its own canary: there is no spare ordinal).
    """
    if replicas <= 1:
        return replicas, 0
    count = min(canary_units, replicas - 1)
    return count, replicas - count


@dataclass(frozen=True)
class Rollout:
    """One deploy or rollback to roll out: the instance as it was, the request it becomes
    (``target``), the ``release`` that records it and what the server's manifests may use
    (``features``)."""

    inst: Instance
    target: ProvisionRequest
    release: Release
    features: Features

    @property
    def instance_id(self) -> str:
        return self.target.instance_id


@dataclass
class _Run:
    """A rollout under way: its steps and units, what the server's manifests may use, and
    the one deadline its waits share."""

    steps: StepTracker
    units: UnitEvents
    features: Features
    deadline: Deadline
    wait: Callable[..., Awaitable[None]]
    """:func:`~.waits.wait_release` for the new release's pods within the deadline, every
    poll's pods seen by ``units``; the caller adds ``what`` and which pods (``name``,
    ``track``, ``updated``)."""


@contextlib.asynccontextmanager
async def _running(ctx: Context, rollout: Rollout, strategy: str) -> AsyncIterator[_Run]:
    """The state of one rollout (its units seeded with the pods before it; what it does
    recorded in the operation's lease); an error or cancellation that escapes the block
    fails the open step."""
    iid = rollout.instance_id
    steps, units = ctx.steps, UnitEvents(iid, ctx.events)
    async with steps.guard():
        units.seed(await pods(ctx, iid))
        await ctx.op.note(
            strategy=strategy,
            release_id=rollout.release.release_id,
            previous=rollout.inst.release_id,
        )
        features = rollout.features
        deadline = Deadline(ctx.config.progress_deadline, f"deploy of {iid}")
        wait = functools.partial(
            wait_release,
            ctx,
            rollout.target,
            release=rollout.release.release_id,
            restarted_at=rollout.inst.restarted_at,
            limit=deadline,
            on_pods=units.observe,
        )
        yield _Run(steps, units, features, deadline, wait)


def _rendered(ctx: Context, rollout: Rollout, run: _Run) -> list[JSON]:
    return render_release(ctx.config, rollout.inst, rollout.target, rollout.release, run.features)


async def _enter(ctx: Context, run: _Run, step: str, detail: str = "", **intent: str) -> None:
    """Start ``step`` and record it (and ``intent``) in the operation's lease."""
    await ctx.op.note(phase=step, **intent)
    await run.steps.enter(step, detail)


async def roll(ctx: Context, rollout: Rollout, strategy: str) -> None:
    """Apply the target as the new release and wait for the controller's rollout (ready
    and steady); on failure, cancellation or an API error re-apply the previous version
    and raise ``DeployFailed`` (or re-raise the cancel or the API error; see
    :mod:`.recovery`)."""
    iid, inst = rollout.instance_id, rollout.inst
    async with _running(ctx, rollout, strategy) as run:
        manifest = _rendered(ctx, rollout, run)[-1]
        await _enter(ctx, run, "apply", rollout.release.release_id)
        await ctx.cluster.apply([manifest], f"deploy {iid}")
        if inst.replicas == 0:
            await run.steps.finish()
            return
        await _enter(ctx, run, "rollout", strategy)
        try:
            await run.wait(what=f"deploy of {iid}", steady=_steady(ctx))
        except ABORTING as exc:
            await abort_restoring(
                ctx, run.steps, inst, exc, strategy=strategy, features=run.features, units=run.units
            )
        await run.steps.finish()


def _steady(ctx: Context) -> float:
    return seconds(ctx.config.stability_window)


async def partitioned_canary(ctx: Context, rollout: Rollout) -> None:
    """Canary of a StatefulSet through its partitioned rolling update.

    The new template is applied with ``partition`` so that only the highest ordinals
    (:func:`canary_split`) are replaced; they must get ready (the gate) and stay ready for
    ``canary_observation`` while the lower ordinals keep the old version and keep serving.
    Then the template is applied without a partition and the controller rolls the rest.
    Until then the controller's annotations still name the old release. Any failure,
    cancellation or API error re-applies the old template and deletes the canary pods
    (see :mod:`.recovery`).
    """
    iid, inst = rollout.instance_id, rollout.inst
    strategy = DeployStrategy.CANARY.value
    count, partition = canary_split(inst.replicas, ctx.config.canary_units)
    if count == 0:  # stopped: nothing to gate; record the release like a rolling deploy
        await roll(ctx, rollout, strategy)
        return
    async with _running(ctx, rollout, strategy) as run:
        new = _rendered(ctx, rollout, run)[-1]
        old = render_live(ctx.config, inst, run.features)
        name = base_name(iid)
        try:
            last = inst.replicas - 1
            await _enter(ctx, run, "start-canary", f"{name} ordinals {partition}..{last}")
            await ctx.cluster.apply([canary_stateful_set(new, old, partition)], "canary")
            await run.wait(what=f"canary of {iid}", updated=count)
            await _observe(ctx, run, updated=count)
            await _enter(ctx, run, "promote", name)
            await ctx.cluster.apply([new], f"canary deploy {iid}")
            await run.wait(what=f"promotion of {iid}", steady=_steady(ctx))
        except ABORTING as exc:
            await abort_restoring(
                ctx, run.steps, inst, exc, strategy=strategy, features=run.features, units=run.units
            )
        await run.steps.finish()


async def two_sets(ctx: Context, rollout: Rollout, strategy: DeployStrategy) -> None:
    """Canary and blue-green of a Deployment: gate a second set of pods (an auxiliary
    Deployment) before the main controller takes the new version (see the module).

    Any failure, timeout, cancellation or API error removes the second set, switches
    traffic back, restores the main controller and raises ``DeployFailed`` (or re-raises
    the cancel or the API error, see :mod:`.recovery`).
    """
    iid, inst = rollout.instance_id, rollout.inst
    async with _running(ctx, rollout, strategy.value) as run:
        rendered = _rendered(ctx, rollout, run)
        main = rendered[-1]
        service = next(
            (
                o
                for o in rendered
                if o["kind"] == "Service" and o["metadata"]["name"] == base_name(iid)
            ),
            None,
        )
        canary = strategy is DeployStrategy.CANARY
        track = "canary" if canary else "green"
        count = min(ctx.config.canary_units, max(inst.replicas, 1)) if canary else inst.replicas
        aux = aux_workload(
            main, track=track, serving=SERVING_MAIN if canary else "green", replicas=count
        )
        aux_name = aux["metadata"]["name"]
        name = strategy.value
        switched = promoted = False
        try:
            await _enter(ctx, run, "start-" + track, aux_name, aux=aux_name)
            await ctx.cluster.apply([aux], f"{name} deploy {iid}")
            steady = 0.0 if canary else _steady(ctx)
            await run.wait(what=f"{name} of {iid}", name=aux_name, track=track, steady=steady)
            if canary:
                await _observe(ctx, run, name=aux_name, track=track)
            elif service is not None:
                await _enter(ctx, run, "switch-traffic", aux_name)
                await ctx.cluster.apply([switched_service(service, "green")], "switch")
                switched = True
                await emit(
                    ctx.events,
                    TrafficSwitched(
                        instance_id=iid,
                        from_release=inst.release_id,
                        to_release=rollout.release.release_id,
                    ),
                )
                delay = seconds(ctx.config.blue_green_retire_delay)
                if delay > 0:
                    await _enter(ctx, run, "retire-delay", f"old pods stay {delay:g}s")
                    run.deadline.extend(delay)
                    await asyncio.sleep(delay)
            await _enter(ctx, run, "promote", base_name(iid))
            promoted = True
            await ctx.cluster.apply([main], f"{name} deploy {iid}")
            await run.wait(what=f"promotion of {iid}", steady=_steady(ctx))
            if switched and service is not None:
                await ctx.cluster.apply([service], f"switch {iid}")
                switched = False
        except ABORTING as exc:
            back = service if switched else None
            await abort(
                run.steps,
                inst,
                exc,
                strategy=name,
                undo=lambda: undo_two_sets(
                    ctx, inst, run.features, back, aux_name, track, promoted, run.units.observe
                ),
            )

        async def remove() -> None:
            await _enter(ctx, run, "remove-" + track, aux_name)
            await remove_aux(ctx, iid, aux_name, track, run.units.observe)
            await run.steps.finish()

        await finish(remove())  # a cancel here must not orphan the second set


async def _observe(
    ctx: Context,
    run: _Run,
    *,
    name: str | None = None,
    track: str = TRACK_STABLE,
    updated: int | None = None,
) -> None:
    """Step ``observe``: keep the canary under watch for ``canary_observation`` (the
    deploy's deadline extended by it): every pod must stay ready with its containers'
    restart counts unchanged, so a canary that crashes and is restarted meanwhile fails
    (``RolloutFailed`` at step ``observe``)."""
    observation = seconds(ctx.config.canary_observation)
    await _enter(ctx, run, "observe", f"{observation:g}s")
    try:
        await run.wait(
            what="canary observation",
            name=name,
            track=track,
            updated=updated,
            steady=observation,
        )
    except RolloutFailed as failed:
        raise RolloutFailed("observe", f"the canary: {failed.reason}", failed.evidence) from None
