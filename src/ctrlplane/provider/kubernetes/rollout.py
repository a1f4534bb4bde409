"""Deploy strategies on the cluster: rolling (the controller's own rollout) and the
two-set strategies, canary and blue-green (an auxiliary Deployment gated before the main
controller takes the new version). Every path restores the previous release on failure or
cancellation; see :meth:`~ctrlplane.provider.kubernetes.KubernetesProvider.deploy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.types import CascadeType

from ctrlplane.errors import (
    DeployFailed,
    OperationTimeout,
)
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.events import (
    ProbeObserved,
    RolledBack,
    StepFinished,
    StepStarted,
    Subscriber,
    TrafficSwitched,
    emit,
)
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.kubernetes.errors import is_not_found, translated
from ctrlplane.provider.kubernetes.manifests import (
    JSON,
    aux_workload,
    switched_service,
)
from ctrlplane.provider.kubernetes.naming import (
    LABEL_TRACK,
    SERVING_MAIN,
    base_name,
)
from ctrlplane.provider.kubernetes.session import ClusterSession, Instance, RolloutFailed
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import (
    ProvisionRequest,
)

__all__ = ["Rollouts"]


class Rollouts(ClusterSession):
    """The rollout machinery of the provider (a base class of it)."""

    async def _roll(
        self,
        client: AsyncClient,
        inst: Instance,
        target: ProvisionRequest,
        release: Release,
        strategy: str,
        events: Subscriber | None,
    ) -> None:
        """Apply ``target`` as ``release``, wait for the rollout; on failure or cancellation
        re-apply the previous version and raise ``DeployFailed`` (or re-raise the cancel)."""
        iid = target.instance_id
        native = await self._native_sidecars(client)
        manifest = self._render(
            target,
            release_id=release.release_id,
            native=native,
            releases=[release, *inst.releases],
            replicas=inst.replicas,
            remembered=inst.remembered,
            restarted_at=inst.restarted_at,
        )[-1]
        await emit(events, StepStarted(instance_id=iid, step="apply", detail=release.release_id))
        await self._apply(client, [manifest], f"deploy {iid}")
        await emit(events, StepFinished(instance_id=iid, step="apply"))
        if inst.replicas == 0:
            return
        await emit(events, StepStarted(instance_id=iid, step="rollout", detail=strategy))
        try:
            await self._wait(
                client,
                target,
                release=release.release_id,
                restarted_at=inst.restarted_at,
                limit=self.config.progress_deadline.total_seconds(),
                what=f"deploy of {iid}",
            )
        except (RolloutFailed, OperationTimeout, asyncio.CancelledError) as exc:
            step = exc.step if isinstance(exc, RolloutFailed) else "rollout"
            reason = exc.reason if isinstance(exc, RolloutFailed) else str(exc)
            if isinstance(exc, asyncio.CancelledError):
                reason = "cancelled"
            evidence = exc.evidence if isinstance(exc, RolloutFailed) else []
            await asyncio.shield(self._restore(inst, native))
            await asyncio.shield(self._report_failure(events, iid, inst, step, reason, evidence))
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise DeployFailed(
                iid, strategy=strategy, step=step, reason=reason, evidence=evidence
            ) from None
        await emit(events, StepFinished(instance_id=iid, step="rollout"))

    async def _two_sets(
        self,
        client: AsyncClient,
        inst: Instance,
        target: ProvisionRequest,
        release: Release,
        strategy: DeployStrategy,
        events: Subscriber | None,
    ) -> None:
        """Canary and blue-green: gate a second set of pods (an auxiliary Deployment) before
        the main controller takes the new version.

        - canary: ``canary_units`` new pods join the Service beside the stable ones, must get
          ready and stay ready for ``canary_observation``; then the main controller rolls
          (gated) and the canary is removed.
        - blue-green: a full new set starts beside the old one, unreachable, and is gated;
          then the Service switches to it in one step; then the main controller rolls to the
          new version behind it, the Service switches back, and the green set is removed.

        Any failure, timeout or cancellation removes the second set, switches traffic back,
        restores the main controller and raises ``DeployFailed`` (or re-raises the cancel).
        """
        iid = target.instance_id
        native = await self._native_sidecars(client)
        rendered = self._render(
            target,
            release_id=release.release_id,
            native=native,
            releases=[release, *inst.releases],
            replicas=inst.replicas,
            remembered=inst.remembered,
            restarted_at=inst.restarted_at,
        )
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
        count = min(self.config.canary_units, max(inst.replicas, 1)) if canary else inst.replicas
        aux = aux_workload(
            main, track=track, serving=SERVING_MAIN if canary else "green", replicas=count
        )
        aux_name = aux["metadata"]["name"]
        name = strategy.value
        switched = promoted = False
        step = "gate"
        try:
            await emit(events, StepStarted(instance_id=iid, step="start-" + track, detail=aux_name))
            await self._apply(client, [aux], f"{name} deploy {iid}")
            wait = {"release": release.release_id, "restarted_at": inst.restarted_at}
            limit = self.config.progress_deadline.total_seconds()
            await self._wait(
                client,
                target,
                **wait,
                limit=limit,
                what=f"{name} of {iid}",
                name=aux_name,
                track=track,
            )
            await emit(events, StepFinished(instance_id=iid, step="start-" + track))
            if canary:
                step = "observe"
                await self._observe(client, target, aux_name, release.release_id, inst.restarted_at)
            elif service is not None:
                step = "switch-traffic"
                await self._apply(client, [switched_service(service, "green")], f"switch {iid}")
                switched = True
                await emit(
                    events,
                    TrafficSwitched(
                        instance_id=iid, from_release=inst.release_id, to_release=release.release_id
                    ),
                )
            step = "promote"
            await emit(events, StepStarted(instance_id=iid, step="promote"))
            promoted = True
            await self._apply(client, [main], f"{name} deploy {iid}")
            await self._wait(client, target, **wait, limit=limit, what=f"promotion of {iid}")
            if switched and service is not None:
                await self._apply(client, [service], f"switch {iid}")
                switched = False
            await emit(events, StepFinished(instance_id=iid, step="promote"))
        except (RolloutFailed, OperationTimeout, asyncio.CancelledError) as exc:
            reason = "cancelled" if isinstance(exc, asyncio.CancelledError) else str(exc)
            evidence: list[ProbeResult] = []
            if isinstance(exc, RolloutFailed):
                step = exc.step if step != "observe" else "observe"
                reason, evidence = exc.reason, exc.evidence
            await asyncio.shield(
                self._undo_two_sets(
                    inst, native, service if switched else None, aux_name, track, promoted
                )
            )
            await asyncio.shield(self._report_failure(events, iid, inst, step, reason, evidence))
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise DeployFailed(
                iid, strategy=name, step=step, reason=reason, evidence=evidence
            ) from None
        await self._remove_aux(client, iid, aux_name, track)

    async def _observe(
        self, client: AsyncClient, req: ProvisionRequest, name: str, release: str, restarted_at: str
    ) -> None:
        """Keep the canary under watch for ``canary_observation``: it must stay ready."""
        until = time.monotonic() + self.config.canary_observation.total_seconds()
        while time.monotonic() < until:
            await asyncio.sleep(self.config.poll_interval.total_seconds())
            try:
                await self._wait(
                    client,
                    req,
                    release=release,
                    restarted_at=restarted_at,
                    limit=0,
                    what="canary observation",
                    name=name,
                    track="canary",
                )
            except OperationTimeout:
                raise RolloutFailed(
                    "observe", "a canary pod stopped being ready during the observation", []
                ) from None

    async def _remove_aux(self, client: AsyncClient, iid: str, name: str, track: str) -> None:
        """Delete an auxiliary controller and wait until its pods are gone."""
        try:
            with translated(f"delete Deployment {name}"):
                await client.delete(
                    Deployment,
                    name,
                    namespace=self.config.namespace,
                    cascade=CascadeType.BACKGROUND,
                )
        except Exception as exc:
            if not is_not_found(exc.__cause__ or exc):
                raise
        limit = self.config.deprovision_timeout.total_seconds()
        deadline = time.monotonic() + limit
        while any(
            (p["metadata"].get("labels") or {}).get(LABEL_TRACK) == track
            for p in await self._pods(client, iid)
        ):
            if time.monotonic() >= deadline:
                raise OperationTimeout(f"removal of {name}", limit, detail="pods remain")
            await asyncio.sleep(self.config.poll_interval.total_seconds())

    async def _undo_two_sets(
        self,
        inst: Instance,
        native: bool,
        service: JSON | None,
        aux_name: str,
        track: str,
        promoted: bool,
    ) -> None:
        """Traffic back to the main set, the main controller back to its release, the
        auxiliary set removed."""
        iid = inst.req.instance_id
        async with self._client() as client:
            if service is not None:
                await self._apply(client, [service], f"switch back {iid}")
            if promoted:
                await self._restore(inst, native)
            await self._remove_aux(client, iid, aux_name, track)

    @staticmethod
    async def _report_failure(
        events: Subscriber | None,
        iid: str,
        inst: Instance,
        step: str,
        reason: str,
        evidence: Sequence[ProbeResult],
    ) -> None:
        for result in evidence:
            await emit(events, ProbeObserved(instance_id=iid, result=result))
        await emit(events, StepFinished(instance_id=iid, step="rollout", ok=False, detail=reason))
        await emit(
            events,
            RolledBack(instance_id=iid, to_release=inst.release_id, reason=f"{step}: {reason}"),
        )

    async def _restore(self, inst: Instance, native: bool) -> None:
        """Re-apply the previous version (same release, history unchanged) and wait for it."""
        manifest = self._render(
            inst.req,
            release_id=inst.release_id,
            native=native,
            releases=inst.releases,
            replicas=inst.replicas,
            remembered=inst.remembered,
            restarted_at=inst.restarted_at,
        )[-1]
        async with self._client() as client:
            await self._apply(client, [manifest], f"restore {inst.req.instance_id}")
            with contextlib.suppress(RolloutFailed, OperationTimeout):
                await self._wait(
                    client,
                    inst.req,
                    release=inst.release_id,
                    restarted_at=inst.restarted_at,
                    limit=self.config.progress_deadline.total_seconds(),
                    what=f"restore of {inst.req.instance_id}",
                )
