"""Rolling out new service versions unit by unit, gated by health checks, with undo.

Used by ``deploy`` (the listed services) and ``rollback`` (a recorded snapshot). Per
replica unit, the changed services' containers are replaced (the whole unit's long-lived
services when the namespace owner changes, everything when an init changes); the
changed services with a health check must then pass the gate before the next unit is
touched. ``canary`` does the same, but after the first ``canary_units`` units it watches
them for ``canary_observation`` (they must keep running and keep passing their probes)
before promoting the rest. ``blue-green`` starts the whole new set beside the old one
without the service names, gates it, switches every unit's names at once and retires the
old set. With ``surge``, rolling and canary also start a unit's new version beside the
old one (renamed ``...-retiring``) and retire the old one after the gate. A failure, a
failed gate or observation, or a cancellation puts the previous version back on every
touched unit; a successful rollout is recorded as a release.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from ctrlplane.errors import CtrlplaneError, DeployFailed, NotSupported
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.docker.addressing import Addressing
from ctrlplane.provider.docker.engine import BACKEND
from ctrlplane.provider.docker.gate import DEFAULT_POLICY, gate_service
from ctrlplane.provider.docker.materials import ServiceMaterials
from ctrlplane.provider.docker.translate import Workload, deployed, init_waves, netns_owner
from ctrlplane.provider.docker.units import (
    StepFailed,
    UnitRunner,
    first_error,
    uncancellable,
    uncancellable_value,
)
from ctrlplane.provider.enums import DeployStrategy, ServiceRole, WorkloadKind
from ctrlplane.provider.events import (
    ProbeObserved,
    RolledBack,
    StepFinished,
    StepStarted,
    Subscriber,
    TrafficSwitched,
    UnitRemoved,
    UnitStarted,
    emit,
)
from ctrlplane.provider.health import GateOutcome, ProbeResult
from ctrlplane.provider.spec import ServiceDeploySpec

__all__ = ["Rollout"]

JSON = dict[str, Any]


def _seconds(value: timedelta) -> float:
    return value / timedelta(seconds=1)


def _chunks(units: Sequence[int], size: int) -> list[list[int]]:
    return [list(units[i : i + size]) for i in range(0, len(units), size)]


def _batch_step(batch: Sequence[int]) -> str:
    """The progress step name of replacing ``batch`` (``replace-unit-0``,
    ``replace-units-0-1``)."""
    if len(batch) == 1:
        return f"replace-unit-{batch[0]}"
    return "replace-units-" + "-".join(str(r) for r in batch)


def _units_text(batch: Sequence[int]) -> str:
    if len(batch) == 1:
        return f"unit {batch[0]}"
    return "units " + ", ".join(str(r) for r in batch)


RETIRING = "-retiring"
"""Suffix of an old container's name while its replacement starts beside it."""


class _GateFailed(Exception):
    def __init__(self, reason: str, evidence: Sequence[ProbeResult] = ()) -> None:
        self.reason = f"health gate failed: {reason}"
        self.evidence = list(evidence)
        super().__init__(self.reason)


@dataclass(frozen=True, slots=True)
class Rollout(Addressing):
    """A :class:`Session` that can roll out new versions."""

    async def roll_out(
        self,
        wl: Workload,
        inspects: Sequence[JSON],
        changes_list: Sequence[ServiceDeploySpec],
        release: str,
        strategy: str,
        *,
        exact: bool,
        rollback_of: str = "",
        events: Subscriber | None = None,
    ) -> None:
        """Replace ``changes_list``'s services unit by unit (gated), then record the release.

        ``exact`` (rollback) also restores an absent health check. On failure every
        touched unit gets its previous version back and :class:`DeployFailed` is raised.
        Progress goes to ``events``: steps, units started, probe results, rollback.
        """
        iid = wl.instance_id
        deadline = asyncio.get_running_loop().time() + _seconds(self.config.progress_deadline)

        async def step_started(step: str, detail: str = "") -> None:
            await emit(events, StepStarted(instance_id=iid, step=step, detail=detail))

        async def step_finished(step: str, ok: bool = True, detail: str = "") -> None:
            await emit(events, StepFinished(instance_id=iid, step=step, ok=ok, detail=detail))

        async def probed(result: ProbeResult) -> None:
            await emit(events, ProbeObserved(instance_id=iid, result=result))

        changes = {c.name: c for c in changes_list}
        new_services = [
            deployed(s, changes[s.name], exact=exact) if s.name in changes else s
            for s in wl.services
        ]
        new_wl = wl.with_services(new_services, release)
        touched_names = {s.name for s, n in zip(wl.services, new_services, strict=True) if s != n}
        if not exact:
            touched_names |= set(changes)
        blue_green = strategy == str(DeployStrategy.BLUE_GREEN)
        if blue_green:
            problem = self.blue_green_problem(wl)
            if problem:
                raise NotSupported(BACKEND, str(Capability.BLUE_GREEN), detail=problem)
            names = [
                s.name
                for s in wl.services
                if s.role is not ServiceRole.INIT
                or any(wl.service(n).role is ServiceRole.INIT for n in touched_names)
            ]
        else:
            names = self.replace_set(wl, touched_names)
        contents = await self.config_contents(wl, inspects)
        try:
            new_mats = await self.materials(new_wl, contents)
            old_mats = await self.materials(wl, contents)
        except CtrlplaneError as exc:
            raise DeployFailed(
                iid, strategy=strategy, step="resolve secrets", reason=str(exc), rolled_back=False
            ) from exc
        await step_started("pull-images")
        try:
            await self.pull_images([s for s in new_services if s.name in touched_names], new_mats)
        except StepFailed as exc:
            await step_finished("pull-images", False, exc.reason)
            raise DeployFailed(iid, strategy=strategy, step=exc.step, reason=exc.reason) from None
        await step_finished("pull-images")
        if blue_green:
            await self.blue_green(
                wl,
                new_wl,
                self.units(inspects),
                names,
                touched_names,
                (new_mats, old_mats),
                events,
                deadline,
                (strategy, rollback_of),
            )
            return
        units = self.units(inspects) if names else []
        canary = strategy == str(DeployStrategy.CANARY)
        surge = self.can_surge(wl, names)
        owner = netns_owner(wl.services).name
        head = units[: self.canary_count(len(units))] if canary else []
        size = self.batch_size(surge)
        batches = [*_chunks(head, size), *_chunks(units[len(head) :], size)]
        touched: list[int] = []
        pending: list[int] = []  # surged units whose old version still runs
        open_step = ""
        step = ""
        evidence: list[ProbeResult] = []
        try:
            async with asyncio.timeout_at(deadline):
                for batch in batches:
                    touched += batch
                    open_step = _batch_step(batch)
                    step = f"replace {_units_text(batch)}"
                    evidence = []
                    await step_started(open_step, ", ".join(names))
                    async with asyncio.TaskGroup() as tg:
                        for r in batch:
                            if surge:
                                pending.append(r)
                                tg.create_task(
                                    self.surge_unit(new_wl, r, names, new_mats, advertise=False)
                                )
                            else:
                                tg.create_task(self.replace_unit(new_wl, r, names, new_mats))
                    for r in batch:
                        for name in names:
                            await emit(
                                events,
                                UnitStarted(
                                    instance_id=iid, service=name, replica=r, release_id=release
                                ),
                            )
                    step = f"health gate of {_units_text(batch)}"
                    async with asyncio.TaskGroup() as tg:
                        gates = [
                            tg.create_task(self.gate(new_wl, r, touched_names, on_result=probed))
                            for r in batch
                        ]
                    for gate in gates:
                        outcome = gate.result()
                        if outcome is not None and not outcome.passed:
                            evidence = outcome.results
                            raise _GateFailed(outcome.reason)
                    if pending:
                        step = f"switch {_units_text(batch)} to the new version"
                        for r in batch:
                            ref = self.tr.container_name(new_wl, r, owner)
                            await self.advertise(new_wl, r, ref)
                        step = f"retire the old version of {_units_text(batch)}"
                        async with asyncio.TaskGroup() as tg:
                            for r in batch:
                                tg.create_task(self.retire(wl, r, names, events))
                        pending = []
                    await step_finished(open_step)
                    open_step = ""
                    if head and touched == head:
                        step = "canary observation"
                        open_step = "observe-canary"
                        await step_started(open_step, f"units {touched}")
                        evidence = await self.observe(new_wl, touched, touched_names, probed)
                        await step_finished(open_step)
                        open_step = ""
        except BaseException as exc:
            if isinstance(exc, _GateFailed) and exc.evidence:
                evidence = exc.evidence
            unrestored = await self.undo(wl, touched, pending, names, old_mats)
            err = first_error(exc)
            reason = str(err) if not isinstance(err, _GateFailed) else err.reason
            if isinstance(err, StepFailed):
                step, reason = err.step, err.reason
            if isinstance(err, TimeoutError) and self._overdue(deadline):
                reason = self._overdue_reason()
            if isinstance(err, asyncio.CancelledError):
                reason = "cancelled"
            if open_step:
                await step_finished(open_step, False, reason)
            await self._failed(wl, err, strategy, step, reason, evidence, unrestored, events)
        await uncancellable(self.record(new_wl, release, strategy, rollback_of))

    async def _failed(
        self,
        wl: Workload,
        err: BaseException,
        strategy: str,
        step: str,
        reason: str,
        evidence: list[ProbeResult],
        unrestored: str,
        events: Subscriber | None,
    ) -> NoReturn:
        """Report a failed rollout: ``RolledBack`` when the previous version is back,
        then re-raise a cancellation or raise :class:`DeployFailed` (``rolled_back``
        false, with why, when ``unrestored`` says restoring failed)."""
        iid = wl.instance_id
        if not unrestored:
            await emit(events, RolledBack(instance_id=iid, to_release=wl.release_id, reason=reason))
        if isinstance(err, asyncio.CancelledError):
            raise err
        if unrestored:
            reason = f"{reason}; restoring the previous release failed: {unrestored}"
        raise DeployFailed(
            iid,
            strategy=strategy,
            step=step,
            reason=reason,
            evidence=evidence,
            rolled_back=not unrestored,
        ) from None

    @staticmethod
    def _overdue(deadline: float) -> bool:
        return asyncio.get_running_loop().time() >= deadline

    def _overdue_reason(self) -> str:
        limit = _seconds(self.config.progress_deadline)
        return f"the deploy did not finish within its progress deadline ({limit:g}s)"

    async def observe(
        self,
        wl: Workload,
        replicas: Sequence[int],
        changed: set[str],
        on_result: Callable[[ProbeResult], Awaitable[None]] | None = None,
    ) -> list[ProbeResult]:
        """Watch canary ``replicas`` for ``canary_observation``: every round, each changed
        service must still run and pass one probe of its health check (if it has one).
        Returns the probe results; raises :class:`_GateFailed` at the first failure."""
        period = self.config.canary_observation / timedelta(seconds=1)
        deadline = time.monotonic() + period
        results: list[ProbeResult] = []
        checked = [s for s in wl.services if s.name in changed and s.role is not ServiceRole.INIT]
        interval = (
            min(
                (s.health_check.interval / timedelta(seconds=1) for s in checked if s.health_check),
                default=0.0,
            )
            or DEFAULT_POLICY.interval
        )
        while True:
            for r in replicas:
                runner = UnitRunner(self.engine, self.tr, wl, {})
                address = await runner.address(r)
                for svc in checked:
                    ref = self.tr.container_name(wl, r, svc.name)
                    try:
                        await runner.check_running(ref, f"canary {svc.name} (replica {r})")
                    except StepFailed as exc:
                        raise _GateFailed(f"{exc.step} {exc.reason}", results) from None
                    if svc.health_check is None:
                        continue
                    outcome = await gate_service(
                        self.engine,
                        svc.health_check.model_copy(update={"retries": 1}),
                        service=svc.name,
                        replica=r,
                        address=address,
                        container=ref,
                        on_result=on_result,
                    )
                    results.extend(outcome.results)
                    if not outcome.passed:
                        raise _GateFailed(f"canary became unhealthy: {outcome.last}", results)
            if time.monotonic() >= deadline:
                return results
            await asyncio.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))

    def canary_count(self, units: int) -> int:
        """How many of ``units`` units get the new version first in a canary deploy:
        ``canary_fraction`` of them (rounded up) when set, else ``canary_units``; at
        least one and at most all."""
        fraction = self.config.canary_fraction
        count = math.ceil(units * fraction) if fraction else self.config.canary_units
        return max(1, min(count, units))

    def batch_size(self, surge: bool) -> int:
        """How many units a rolling step replaces at once: ``max_surge`` beside the old
        ones when surging, else ``max_unavailable`` in place (at least one)."""
        return max(self.config.max_surge if surge else self.config.max_unavailable, 1)

    def can_surge(self, wl: Workload, names: Sequence[str]) -> bool:
        """Whether units can get their new version beside the old (``max_surge`` > 0)."""
        return (
            self.config.max_surge > 0
            and wl.kind is WorkloadKind.DEPLOYMENT
            and netns_owner(wl.services).name in names
            and not any(wl.service(n).role is ServiceRole.INIT for n in names)
            and not any(p.host for s in wl.services for p in s.ports)
        )

    def retiring(self, wl: Workload, replica: int, service: str) -> str:
        """The name an old container carries while its replacement starts beside it."""
        return self.tr.container_name(wl, replica, service) + RETIRING

    async def surge_unit(
        self,
        new_wl: Workload,
        replica: int,
        names: Sequence[str],
        materials: Mapping[str, ServiceMaterials],
        *,
        advertise: bool = True,
    ) -> None:
        """Rename the unit's old containers out of the way (they keep running and
        serving), then create and start the new version under the regular names (inits
        among ``names`` run first). With ``advertise`` both versions answer to the unit's
        network aliases until :meth:`retire`; without, the new one gets them at the
        traffic switch."""
        for name in names:
            await self.engine.rename_container(
                self.tr.container_name(new_wl, replica, name),
                self.retiring(new_wl, replica, name),
            )
        runner = UnitRunner(self.engine, self.tr, new_wl, materials, advertise=advertise)
        inits = [n for n in names if new_wl.service(n).role is ServiceRole.INIT]
        for wave in init_waves(new_wl.services):
            async with asyncio.TaskGroup() as tg:
                for svc in wave:
                    if svc.name in inits:
                        tg.create_task(runner.run_init(svc, replica))
        long_lived = [n for n in names if n not in inits]
        await runner.start_long_lived(replica, create=True, only=long_lived)

    async def retire(
        self,
        wl: Workload,
        replica: int,
        names: Sequence[str],
        events: Subscriber | None = None,
        *,
        withdrawn: bool = False,
    ) -> None:
        """Drain the old version of a surged unit and remove it: its service names stop
        resolving to it (unless ``withdrawn`` already) while it keeps its address for
        ``drain_period``, then it is stopped gracefully and removed. On a network without
        pinned addresses it is cut off the network at once instead."""
        owner = netns_owner(wl.services).name
        old_owner = self.retiring(wl, replica, owner)
        if not withdrawn:
            if await self.withdraw(wl, old_owner):
                await asyncio.sleep(_seconds(self.config.drain_period))
            else:
                network = self.tr.names.network(wl.instance_id)
                await self.engine.disconnect_network(network, old_owner)
        stop = max(int(_seconds(self.config.stop_timeout)), 0)
        joiners = [n for n in names if n != owner]
        for group in (joiners, [owner]):
            refs = [self.retiring(wl, replica, n) for n in group if n in names]
            await asyncio.gather(*(self.engine.stop_container(ref, stop) for ref in refs))
            await asyncio.gather(*(self.engine.remove_container(ref) for ref in refs))
        for name in names:
            await emit(
                events,
                UnitRemoved(
                    instance_id=wl.instance_id,
                    service=name,
                    replica=replica,
                    release_id=wl.release_id,
                ),
            )

    async def unsurge(self, wl: Workload, replica: int, names: Sequence[str]) -> bool:
        """Undo :meth:`surge_unit`: remove the new containers and give the old ones their
        names back. False if the old version is no longer intact (it must be recreated)."""
        runner = UnitRunner(self.engine, self.tr, wl, {})
        await runner.remove_services(replica, names)
        intact = True
        for name in names:
            old = await self.engine.inspect_container(self.retiring(wl, replica, name))
            if old is None:
                intact = False
                continue
            await self.engine.rename_container(
                str(old["Id"]), self.tr.container_name(wl, replica, name)
            )
            networks = (old.get("NetworkSettings") or {}).get("Networks") or {}
            running = bool((old.get("State") or {}).get("Running"))
            if wl.service(name).role is ServiceRole.INIT:
                continue
            if not running or (
                name == netns_owner(wl.services).name
                and self.tr.names.network(wl.instance_id) not in networks
            ):
                intact = False
        if intact:  # it may have been withdrawn already
            owner = netns_owner(wl.services).name
            await self.advertise(wl, replica, self.tr.container_name(wl, replica, owner))
        return intact

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
        try:
            async with asyncio.timeout_at(deadline):
                await emit(events, StepStarted(instance_id=iid, step="start-new-set"))
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
                        raise _GateFailed(outcome.reason)
                step = "switch traffic"
                for r in units:
                    await self.advertise(new_wl, r, self.tr.container_name(new_wl, r, owner))
        except BaseException as exc:
            unrestored = await self.undo(wl, green, green, names, old_mats)
            err = first_error(exc)
            reason = err.reason if isinstance(err, _GateFailed) else str(err)
            if isinstance(err, StepFailed):
                step, reason = err.step, err.reason
            if isinstance(err, TimeoutError) and self._overdue(deadline):
                reason = self._overdue_reason()
            if isinstance(err, asyncio.CancelledError):
                reason = "cancelled"
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
        owner = netns_owner(wl.services).name
        network = self.tr.names.network(wl.instance_id)
        for r in units:
            old_owner = self.retiring(wl, r, owner)
            if not await self.withdraw(wl, old_owner):
                await self.engine.disconnect_network(network, old_owner)
        await emit(
            events,
            TrafficSwitched(
                instance_id=wl.instance_id,
                from_release=wl.release_id,
                to_release=new_wl.release_id,
            ),
        )
        strategy, rollback_of = record
        await self.record(new_wl, new_wl.release_id, strategy, rollback_of)
        delay = max(self.config.blue_green_retire_delay, self.config.drain_period)
        await asyncio.sleep(_seconds(delay))
        for r in units:
            await self.retire(wl, r, names, events, withdrawn=True)

    def replace_set(self, wl: Workload, changed: set[str]) -> list[str]:
        """Which services' containers a deploy replaces in each unit."""
        services = wl.services
        if any(wl.service(n).role is ServiceRole.INIT for n in changed):
            return [s.name for s in services]
        if netns_owner(services).name in changed:
            return [s.name for s in services if s.role is not ServiceRole.INIT]
        return [s.name for s in services if s.name in changed]

    async def replace_unit(
        self,
        wl: Workload,
        replica: int,
        names: Sequence[str],
        materials: Mapping[str, ServiceMaterials],
    ) -> None:
        """Stop and remove ``names``' containers of one unit, rerun its inits among
        them, then create and start the long-lived ones of ``wl`` in order."""
        runner = UnitRunner(self.engine, self.tr, wl, materials)
        long_lived = [n for n in names if wl.service(n).role is not ServiceRole.INIT]
        owner_ref = self.tr.container_name(wl, replica, netns_owner(wl.services).name)
        withdrawn = False
        if long_lived and wl.replicas > 1:  # the other units serve meanwhile
            withdrawn = await self.withdraw(wl, owner_ref)
            if withdrawn:
                await asyncio.sleep(_seconds(self.config.drain_period))
        await runner.stop_long_lived(replica, only=long_lived)
        await runner.remove_services(replica, names)
        inits = [n for n in names if wl.service(n).role is ServiceRole.INIT]
        if inits:
            for wave in init_waves(wl.services):
                async with asyncio.TaskGroup() as tg:
                    for svc in wave:
                        if svc.name in inits:
                            tg.create_task(runner.run_init(svc, replica))
        await runner.start_long_lived(replica, create=True, only=long_lived)
        if withdrawn and netns_owner(wl.services).name not in long_lived:
            await self.advertise(wl, replica, owner_ref)

    async def restore(
        self,
        wl: Workload,
        replicas: Sequence[int],
        names: Sequence[str],
        materials: Mapping[str, ServiceMaterials],
    ) -> str:
        """Put ``wl``'s version of ``names`` back on ``replicas`` (every unit is tried),
        within ``progress_deadline``. Returns ``""`` when all were restored, else why not
        (the instance may then be partly updated)."""
        problems: list[str] = []
        limit = _seconds(self.config.progress_deadline)
        try:
            async with asyncio.timeout(limit):
                for r in replicas:
                    try:
                        await self.replace_unit(wl, r, names, materials)
                    except (CtrlplaneError, BaseExceptionGroup) as exc:
                        problems.append(f"unit {r}: {first_error(exc)}")
        except TimeoutError:
            problems.append(f"restoring did not finish within {limit:g}s")
        return "; ".join(problems)

    async def undo(
        self,
        wl: Workload,
        touched: Sequence[int],
        surged: Sequence[int],
        names: Sequence[str],
        materials: Mapping[str, ServiceMaterials],
    ) -> str:
        """Return ``touched`` units to ``wl`` (``surged`` ones by giving the old version,
        still running beside, its place back). Runs to the end even if cancelled.
        Returns ``""`` on success, else why the previous version is not fully back."""
        redo = list(touched)
        for r in surged:
            try:
                intact = await uncancellable_value(self.unsurge(wl, r, names))
            except CtrlplaneError:
                intact = False
            if intact and r in redo:
                redo.remove(r)
        return await uncancellable_value(self.restore(wl, redo, names, materials))

    async def gate(
        self,
        wl: Workload,
        replica: int,
        changed: set[str],
        *,
        on_result: Callable[[ProbeResult], Awaitable[None]] | None = None,
    ) -> GateOutcome | None:
        """Gate the changed long-lived services of one new unit; the first failing
        outcome, else the last passing one (``None`` when nothing has a check)."""
        address = await UnitRunner(self.engine, self.tr, wl, {}).address(replica)
        outcome: GateOutcome | None = None
        for svc in wl.services:
            if svc.name not in changed or svc.health_check is None:
                continue
            if svc.role is ServiceRole.INIT:
                continue
            outcome = await gate_service(
                self.engine,
                svc.health_check,
                service=svc.name,
                replica=replica,
                address=address,
                container=self.tr.container_name(wl, replica, svc.name),
                start_period=_seconds(self.config.probe_start_period),
                on_result=on_result,
            )
            if not outcome.passed:
                break
        return outcome
