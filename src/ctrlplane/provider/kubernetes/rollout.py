"""Deploy strategies on the cluster.

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
"forced rollback"). Progress goes
to the optional subscriber: step pairs that never nest
(:class:`~ctrlplane.provider.events.StepTracker`), units started and removed
(:class:`~.progress.UnitEvents`), probe evidence, traffic switches and
the roll-back. See :meth:`~ctrlplane.provider.kubernetes.KubernetesProvider.deploy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from lightkube import AsyncClient

from ctrlplane.errors import OperationTimeout
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.events import StepTracker as Steps
from ctrlplane.provider.events import (
    Subscriber,
    TrafficSwitched,
    emit,
)
from ctrlplane.provider.kubernetes.deadline import Deadline
from ctrlplane.provider.kubernetes.recovery import ABORTING, Recovery
from ctrlplane.provider.kubernetes.render import (
    aux_workload,
    canary_stateful_set,
    switched_service,
)
from ctrlplane.provider.kubernetes.render.naming import (
    SERVING_MAIN,
    TRACK_STABLE,
    base_name,
)
from ctrlplane.provider.kubernetes.session import Instance, RolloutFailed, UnitEvents
from ctrlplane.provider.kubernetes.shielding import finish
from ctrlplane.provider.native import JSON
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["Rollouts", "canary_split"]


def canary_split(replicas: int, canary_units: int) -> tuple[int, int]:
    """(canary pods, partition) of a StatefulSet canary with ``replicas`` pods.

    The canary takes the highest ordinals; at least one pod keeps the old version while
    there are two or more (a single pod is its own canary: there is no spare ordinal).
    """
    if replicas <= 1:
        return replicas, 0
    count = min(canary_units, replicas - 1)
    return count, replicas - count


class Rollouts(Recovery):
    """The rollout machinery of the provider (a base class of it)."""

    def _rendered(
        self, inst: Instance, target: ProvisionRequest, release: Release, native: bool
    ) -> list[JSON]:
        """Every object of ``target`` as ``release`` (the history gains it), with the
        instance's replica counts and restart stamp kept."""
        return self._render(
            target,
            release_id=release.release_id,
            native=native,
            releases=[release, *inst.releases],
            replicas=inst.replicas,
            remembered=inst.remembered,
            restarted_at=inst.restarted_at,
        )

    def _deadline(self, iid: str) -> Deadline:
        """The one ``progress_deadline`` of a deploy or rollback of ``iid``."""
        return Deadline(self.config.progress_deadline.total_seconds(), f"deploy of {iid}")

    @contextlib.asynccontextmanager
    async def _tracking(
        self, client: AsyncClient, iid: str, events: Subscriber | None
    ) -> AsyncIterator[tuple[Steps, UnitEvents, bool]]:
        """The step and unit events of one deploy of ``iid`` (its pods before the deploy
        seeded) and whether the server has native sidecars; an error or cancellation that
        escapes the block fails the open step (:meth:`~.events.StepTracker.guard`)."""
        steps, units = Steps(iid, events), UnitEvents(iid, events)
        async with steps.guard():
            units.seed(await self._pods(client, iid))
            yield steps, units, await self._native_sidecars(client)

    def _waiting(
        self,
        client: AsyncClient,
        inst: Instance,
        target: ProvisionRequest,
        release: Release,
        limit: Deadline,
        units: UnitEvents,
    ) -> Callable[..., Awaitable[None]]:
        """:meth:`_wait` for the pods of ``release`` of ``target`` (with ``inst``'s restart
        stamp) within the deploy's ``limit``, every poll's pods seen by ``units``; the caller
        adds ``what`` and which pods (``name``, ``track``, ``updated``)."""
        return functools.partial(
            self._wait,
            client,
            target,
            release=release.release_id,
            restarted_at=inst.restarted_at,
            limit=limit,
            on_pods=units.observe,
        )

    async def _refresh_secrets(
        self, client: AsyncClient, target: ProvisionRequest, release_id: str
    ) -> None:
        """Resolve ``target``'s secrets again and apply the instance's Secrets, so a
        rotated value reaches the pods a deploy or rollback starts. Nothing happens when no
        service references a secret. Resolution errors (``SecretNotFound``) come before any
        change; values go only into the Secrets' data."""
        if not any(s.secrets for s in target.services):
            return
        values = await self._secret_values(target)
        secrets = [
            m
            for m in self._render(
                target, release_id=release_id, native=True, releases=[], secret_values=values
            )
            if m["kind"] == "Secret"
        ]
        await self._apply(client, secrets, f"deploy {target.instance_id}: secrets")

    async def _roll(
        self,
        client: AsyncClient,
        inst: Instance,
        target: ProvisionRequest,
        release: Release,
        strategy: str,
        events: Subscriber | None,
    ) -> None:
        """Apply ``target`` as ``release``, wait for the rollout; on failure, cancellation or
        an API error re-apply the previous version and raise ``DeployFailed`` (or re-raise
        the cancel or the API error; see :mod:`.recovery`)."""
        iid = target.instance_id
        deadline = self._deadline(iid)
        async with self._tracking(client, iid, events) as (steps, units, native):
            manifest = self._rendered(inst, target, release, native)[-1]
            await steps.enter("apply", release.release_id)
            await self._apply(client, [manifest], f"deploy {iid}")
            if inst.replicas == 0:
                await steps.finish()
                return
            await steps.enter("rollout", strategy)
            wait = self._waiting(client, inst, target, release, deadline, units)
            try:
                await wait(what=f"deploy of {iid}")
            except ABORTING as exc:
                await self._abort_restoring(
                    steps, inst, exc, strategy=strategy, native=native, units=units
                )
            await steps.finish()

    async def _partitioned_canary(
        self,
        client: AsyncClient,
        inst: Instance,
        target: ProvisionRequest,
        release: Release,
        events: Subscriber | None,
    ) -> None:
        """Canary of a StatefulSet through its partitioned rolling update.

        The new template is applied with ``partition`` so that only the highest ordinals
        (:func:`canary_split`) are replaced; they must get ready (the gate) and stay ready
        for ``canary_observation`` while the lower ordinals keep the old version and keep
        serving. Then the template is applied without a partition and the controller rolls
        the rest. Until then the controller's annotations still name the old release. Any
        failure, cancellation or API error re-applies the old template and deletes the
        canary pods (see :mod:`.recovery`).
        """
        iid = target.instance_id
        strategy = DeployStrategy.CANARY.value
        count, partition = canary_split(inst.replicas, self.config.canary_units)
        if count == 0:  # stopped: nothing to gate; record the release like a rolling deploy
            await self._roll(client, inst, target, release, strategy, events)
            return
        async with self._tracking(client, iid, events) as (steps, units, native):
            new = self._rendered(inst, target, release, native)[-1]
            old = self._render_live(inst, native)
            name = base_name(iid)
            limit = self._deadline(iid)
            wait = self._waiting(client, inst, target, release, limit, units)
            try:
                last = inst.replicas - 1
                await steps.enter("start-canary", f"{name} ordinals {partition}..{last}")
                await self._apply(client, [canary_stateful_set(new, old, partition)], "canary")
                await wait(what=f"canary of {iid}", updated=count)
                await self._observe(steps, limit, wait, updated=count)
                await steps.enter("promote", name)
                await self._apply(client, [new], f"canary deploy {iid}")
                await wait(what=f"promotion of {iid}")
            except ABORTING as exc:
                await self._abort_restoring(
                    steps, inst, exc, strategy=strategy, native=native, units=units
                )
            await steps.finish()

    async def _two_sets(
        self,
        client: AsyncClient,
        inst: Instance,
        target: ProvisionRequest,
        release: Release,
        strategy: DeployStrategy,
        events: Subscriber | None,
    ) -> None:
        """Canary and blue-green of a Deployment: gate a second set of pods (an auxiliary
        Deployment) before the main controller takes the new version (see the module).

        Any failure, timeout, cancellation or API error removes the second set, switches
        traffic back, restores the main controller and raises ``DeployFailed`` (or
        re-raises the cancel or the API error, see :mod:`.recovery`).
        """
        iid = target.instance_id
        async with self._tracking(client, iid, events) as (steps, units, native):
            rendered = self._rendered(inst, target, release, native)
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
            count = (
                min(self.config.canary_units, max(inst.replicas, 1)) if canary else inst.replicas
            )
            aux = aux_workload(
                main, track=track, serving=SERVING_MAIN if canary else "green", replicas=count
            )
            aux_name = aux["metadata"]["name"]
            name = strategy.value
            limit = self._deadline(iid)
            wait = self._waiting(client, inst, target, release, limit, units)
            switched = promoted = False
            try:
                await steps.enter("start-" + track, aux_name)
                await self._apply(client, [aux], f"{name} deploy {iid}")
                await wait(what=f"{name} of {iid}", name=aux_name, track=track)
                if canary:
                    await self._observe(steps, limit, wait, name=aux_name, track=track)
                elif service is not None:
                    await steps.enter("switch-traffic", aux_name)
                    await self._apply(client, [switched_service(service, "green")], "switch")
                    switched = True
                    await emit(
                        events,
                        TrafficSwitched(
                            instance_id=iid,
                            from_release=inst.release_id,
                            to_release=release.release_id,
                        ),
                    )
                    delay = self.config.blue_green_retire_delay.total_seconds()
                    if delay > 0:
                        await steps.enter("retire-delay", f"old pods stay {delay:g}s")
                        limit.extend(delay)
                        await asyncio.sleep(delay)
                await steps.enter("promote", base_name(iid))
                promoted = True
                await self._apply(client, [main], f"{name} deploy {iid}")
                await wait(what=f"promotion of {iid}")
                if switched and service is not None:
                    await self._apply(client, [service], f"switch {iid}")
                    switched = False
            except ABORTING as exc:
                back = service if switched else None
                await self._abort(
                    steps,
                    inst,
                    exc,
                    strategy=name,
                    undo=lambda: self._undo_two_sets(
                        inst, native, back, aux_name, track, promoted, units.observe
                    ),
                )

            async def remove() -> None:
                await steps.enter("remove-" + track, aux_name)
                await self._remove_aux(client, iid, aux_name, track, units.observe)
                await steps.finish()

            await finish(remove())  # a cancel here must not orphan the second set

    async def _observe(
        self,
        steps: Steps,
        limit: Deadline,
        wait: Callable[..., Awaitable[None]],
        *,
        name: str | None = None,
        track: str = TRACK_STABLE,
        updated: int | None = None,
    ) -> None:
        """Step ``observe``: keep the canary under watch for ``canary_observation`` (the
        deploy's ``limit`` extended by it): every pod must stay ready (``RolloutFailed`` at
        step ``observe`` otherwise). ``wait`` is the deploy's (:meth:`_waiting`)."""
        observation = self.config.canary_observation.total_seconds()
        await steps.enter("observe", f"{observation:g}s")
        limit.extend(observation)
        until = time.monotonic() + self.config.canary_observation.total_seconds()
        while time.monotonic() < until:
            await asyncio.sleep(self.config.poll_interval.total_seconds())
            try:
                await wait(
                    limit=0, what="canary observation", name=name, track=track, updated=updated
                )
            except OperationTimeout:
                raise RolloutFailed(
                    "observe", "a canary pod stopped being ready during the observation", []
                ) from None
