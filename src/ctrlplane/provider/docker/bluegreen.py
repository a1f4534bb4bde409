"""Blue-green deploys on Docker: a whole new set beside the old one, one traffic switch.

The new set starts without the service names (:meth:`Replacement.surge_unit` without
advertising), every unit of it is gated, then every unit's names move to it at once and
the old set is retired after ``blue_green_retire_delay``. Before the switch a failure,
a cancellation or the progress deadline removes the new set; the old one never stopped
serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from ctrlplane.errors import BackendError, CtrlplaneError
from ctrlplane.provider.docker.engine import BACKEND
from ctrlplane.provider.docker.materials import ServiceMaterials
from ctrlplane.provider.docker.replacement import GateFailed, Replacement
from ctrlplane.provider.docker.translate import Workload, netns_owner
from ctrlplane.provider.docker.units import first_error, uncancellable
from ctrlplane.provider.enums import DeployStrategy, WorkloadKind
from ctrlplane.provider.events import (
    ProbeObserved,
    StepTracker,
    Subscriber,
    TrafficSwitched,
    UnitStarted,
    emit,
)
from ctrlplane.provider.health import ProbeResult

__all__ = ["BlueGreen"]


def _seconds(value: timedelta) -> float:
    return value / timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class BlueGreen(Replacement):
    """A :class:`Session` that can deploy blue-green."""

    def blue_green_problem(self, wl: Workload) -> str:
        """Why ``wl`` cannot be deployed blue-green on Docker ("" when it can)."""
        if wl.kind is not WorkloadKind.DEPLOYMENT:
            return "blue-green needs a deployment (a stateful set's volumes are per replica)"
        if any(p.host for s in wl.services for p in s.ports):
            return "blue-green cannot run two sets on a fixed host port; use host 0"
        return ""

    async def blue_green(
        self,
        wl: Workload,
        new_wl: Workload,
        units: Sequence[int],
        names: Sequence[str],
        changed: set[str],
        materials: tuple[Mapping[str, ServiceMaterials], Mapping[str, ServiceMaterials]],
        events: Subscriber | None,
        deadline: float,
        record: tuple[str, str],
    ) -> None:
        """Start the whole new set beside the old one (not reachable by service name),
        gate every unit, switch the names of every unit to the new set at once, then retire
        the old set after ``blue_green_retire_delay``. Before the switch, any failure,
        cancellation or passing the ``deadline`` (event-loop time) removes the new set (the
        old one never stopped serving). ``materials``: the new and the old set's;
        ``record``: the strategy and ``rollback_of`` the release is recorded with, right
        after the switch."""
        new_mats, old_mats = materials
        iid = wl.instance_id
        strategy = str(DeployStrategy.BLUE_GREEN)
        owner = netns_owner(wl.services).name

        async def probed(result: ProbeResult) -> None:
            await emit(events, ProbeObserved(instance_id=iid, result=result))

        green: list[int] = []
        step = "start the new set"
        evidence: list[ProbeResult] = []
        steps = StepTracker(iid, events)
        try:
            async with asyncio.timeout_at(deadline):
                await steps.enter("start-new-set")
                for r in units:
                    green.append(r)
                    await self.surge_unit(new_wl, r, names, new_mats, advertise=False)
                    for name in names:
                        await emit(
                            events,
                            UnitStarted(
                                instance_id=iid,
                                service=name,
                                replica=r,
                                release_id=new_wl.release_id,
                            ),
                        )
                for r in units:
                    step = f"health gate of unit {r}"
                    outcome = await self.gate(new_wl, r, changed, on_result=probed)
                    if outcome is not None and not outcome.passed:
                        evidence = outcome.results
                        raise GateFailed(outcome.reason)
                step = "switch traffic"
                for r in units:
                    await self.advertise(new_wl, r, self.tr.container_name(new_wl, r, owner))
                await steps.finish()
        except BaseException as exc:
            unrestored = await self.undo(wl, green, green, names, old_mats)
            err = first_error(exc)
            step, reason = self.failure(err, step, deadline)
            await steps.fail(reason)
            await self._failed(wl, err, strategy, step, reason, evidence, unrestored, events)
        # the switch's second half: the old set leaves the names and the new release is
        # recorded, then the old set is retired; this runs to the end even if the caller
        # is cancelled now (the new set is live)
        await uncancellable(self._finish_switch(wl, new_wl, units, names, events, record))

    async def _finish_switch(
        self,
        wl: Workload,
        new_wl: Workload,
        units: Sequence[int],
        names: Sequence[str],
        events: Subscriber | None,
        record: tuple[str, str],
    ) -> None:
        """The new set is live: record it, take the names from the old set, wait
        ``blue_green_retire_delay``, retire the old set. Every unit is tried; failures are
        raised together at the end as a :class:`BackendError` (the new release stays
        live and recorded; a later deploy or ``deprovision`` removes what is left)."""
        owner = netns_owner(wl.services).name
        network = self.tr.names.network(wl.instance_id)
        strategy, rollback_of = record
        await self.record(new_wl, new_wl.release_id, strategy, rollback_of)
        problems: list[str] = []
        for r in units:
            old_owner = self.retiring(wl, r, owner)
            try:
                if not await self.withdraw(wl, old_owner):
                    await self.engine.disconnect_network(network, old_owner)
            except CtrlplaneError as exc:
                problems.append(f"unit {r}: taking the names from the old version: {exc}")
        await emit(
            events,
            TrafficSwitched(
                instance_id=wl.instance_id,
                from_release=wl.release_id,
                to_release=new_wl.release_id,
            ),
        )
        delay = max(self.config.blue_green_retire_delay, self.config.drain_period)
        await asyncio.sleep(_seconds(delay))
        for r in units:
            try:
                await self.retire(wl, r, names, events, withdrawn=True)
            except CtrlplaneError as exc:
                problems.append(f"unit {r}: retiring the old version: {exc}")
        if problems:
            raise BackendError(
                f"blue-green deploy of {wl.instance_id!r}: release {new_wl.release_id} is live, "
                "but the old set was not fully retired (" + "; ".join(problems) + "); "
                "the next deploy or deprovision removes what is left",
                backend=BACKEND,
            )
