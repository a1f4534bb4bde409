"""Putting a new version on one replica unit, and taking it back.

A unit's changed services are replaced in place (:meth:`Replacement.replace_unit`) or,
with surge, started beside the old version, which is renamed ``...-retiring`` and keeps
serving until the new one passed its gate (:meth:`Replacement.surge_unit`), then drained
and removed (:meth:`Replacement.retire`). :meth:`Replacement.undo` puts the previous
version back on every touched unit (a surged unit's old version gets its names back; the
others are replaced again), and :meth:`Replacement._failed` reports a rollout that had to.
The strategies built on this are in :mod:`.rollout` (rolling, canary) and
:mod:`.bluegreen`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

from ctrlplane.errors import CtrlplaneError, DeployFailed
from ctrlplane.provider.docker.addressing import Addressing
from ctrlplane.provider.docker.gate import gate_service
from ctrlplane.provider.docker.materials import ServiceMaterials
from ctrlplane.provider.docker.status import RETIRING_SUFFIX
from ctrlplane.provider.docker.translate import Workload, init_waves, netns_owner
from ctrlplane.provider.docker.units import (
    StepFailed,
    UnitRunner,
    first_error,
    uncancellable_value,
)
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.events import RolledBack, Subscriber, UnitRemoved, emit
from ctrlplane.provider.health import GateOutcome, ProbeResult

__all__ = ["GateFailed", "Replacement"]


def _seconds(value: timedelta) -> float:
    return value / timedelta(seconds=1)


class GateFailed(Exception):
    """A unit's health gate or a canary observation failed; ``evidence``: its probes."""

    def __init__(self, reason: str, evidence: Sequence[ProbeResult] = ()) -> None:
        self.reason = f"health gate failed: {reason}"
        self.evidence = list(evidence)
        super().__init__(self.reason)


@dataclass(frozen=True, slots=True)
class Replacement(Addressing):
    """A :class:`Session` that can replace a unit's version and undo it."""

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

    def failure(self, err: BaseException, step: str, deadline: float) -> tuple[str, str]:
        """The ``(step, reason)`` a rollout that ended with ``err`` at ``step`` reports:
        a unit step's own step and reason, a passed progress ``deadline``, a failed gate's
        reason, ``cancelled``, or the error's message."""
        if isinstance(err, StepFailed):
            return err.step, err.reason
        if isinstance(err, asyncio.CancelledError):
            return step, "cancelled"
        if isinstance(err, TimeoutError) and self._overdue(deadline):
            return step, self._overdue_reason()
        return step, err.reason if isinstance(err, GateFailed) else str(err)

    def retiring(self, wl: Workload, replica: int, service: str) -> str:
        """The name an old container carries while its replacement starts beside it."""
        return self.tr.container_name(wl, replica, service) + RETIRING_SUFFIX

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
        traffic switch. A ``-retiring`` container left by an earlier, interrupted
        rollout is removed first (the regular one is the version that runs)."""
        for name in names:
            await self.engine.remove_container(self.retiring(new_wl, replica, name))
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
        if long_lived and netns_owner(wl.services).name not in long_lived:
            await self.advertise(wl, replica, owner_ref)  # no-op unless it lost its names

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
        return await uncancellable_value(self._undo(wl, touched, surged, names, materials))

    async def _undo(
        self,
        wl: Workload,
        touched: Sequence[int],
        surged: Sequence[int],
        names: Sequence[str],
        materials: Mapping[str, ServiceMaterials],
    ) -> str:
        redo = list(touched)
        for r in surged:
            try:
                intact = await self.unsurge(wl, r, names)
            except CtrlplaneError:
                intact = False
            if intact and r in redo:
                redo.remove(r)
            elif not intact:  # the old version is not coming back: it must not linger
                for name in names:
                    with contextlib.suppress(CtrlplaneError):
                        await self.engine.remove_container(self.retiring(wl, r, name))
        return await self.restore(wl, redo, names, materials)

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
