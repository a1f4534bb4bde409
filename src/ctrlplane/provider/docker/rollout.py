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

The per-unit mechanics (replace, surge and retire, undo, the gate) are in
:mod:`.replacement`; blue-green in :mod:`.bluegreen`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ctrlplane.errors import CtrlplaneError, DeployFailed, NotSupported
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.docker.bluegreen import BlueGreen
from ctrlplane.provider.docker.engine import BACKEND
from ctrlplane.provider.docker.gate import DEFAULT_POLICY, gate_service
from ctrlplane.provider.docker.replacement import GateFailed
from ctrlplane.provider.docker.translate import Workload, deployed, netns_owner
from ctrlplane.provider.docker.units import (
    StepFailed,
    UnitRunner,
    first_error,
    uncancellable,
)
from ctrlplane.provider.enums import DeployStrategy, ServiceRole, WorkloadKind
from ctrlplane.provider.events import (
    ProbeObserved,
    StepFinished,
    StepStarted,
    Subscriber,
    UnitStarted,
    describe_failure,
    emit,
)
from ctrlplane.provider.health import ProbeResult
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


@dataclass(frozen=True, slots=True)
class Rollout(BlueGreen):
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
        except BaseException as exc:
            await step_finished("pull-images", False, describe_failure(exc))
            raise
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
                            raise GateFailed(outcome.reason)
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
            if isinstance(exc, GateFailed) and exc.evidence:
                evidence = exc.evidence
            unrestored = await self.undo(wl, touched, pending, names, old_mats)
            err = first_error(exc)
            step, reason = self.failure(err, step, deadline)
            if open_step:
                await step_finished(open_step, False, reason)
            await self._failed(wl, err, strategy, step, reason, evidence, unrestored, events)
        await uncancellable(self.record(new_wl, release, strategy, rollback_of))

    async def observe(
        self,
        wl: Workload,
        replicas: Sequence[int],
        changed: set[str],
        on_result: Callable[[ProbeResult], Awaitable[None]] | None = None,
    ) -> list[ProbeResult]:
        """Watch canary ``replicas`` for ``canary_observation``: every round, each changed
        service must still run and pass one probe of its health check (if it has one).
        Returns the probe results; raises :class:`GateFailed` at the first failure."""
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
                        raise GateFailed(f"{exc.step} {exc.reason}", results) from None
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
                        raise GateFailed(f"canary became unhealthy: {outcome.last}", results)
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
