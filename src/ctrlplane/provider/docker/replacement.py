"""The unit primitives of one rollout on Docker: putting a new version on a replica unit,
gating it, switching the unit's service names to it, retiring the old version, undoing.

:class:`UnitReplacement` implements the core's
:class:`~ctrlplane.provider.rollouts.UnitPrimitives` for one planned release; the rolling,
canary and blue-green loops are the core engine's (:func:`~ctrlplane.provider.rollouts.roll_out`,
shaped by :mod:`.strategies`). Each method works on one unit (or the units given) and
knows nothing of the strategy:

- :meth:`~UnitReplacement.start`: a unit's new version beside the old one (the old
  containers are renamed ``...-retiring`` and keep serving; the new ones start under the
  regular names, without the service names) or in place (stop, then start; the unit
  takes its service names back when its gate passes);
- :meth:`~UnitReplacement.gate`: the changed services' health checks, then the
  stability window (every started container still runs, not restarted);
  :meth:`~UnitReplacement.observe`: one canary observation round;
- :meth:`~UnitReplacement.switch`: the new version takes the names;
  :meth:`~UnitReplacement.withdraw`: the old one gives them up;
- :meth:`~UnitReplacement.retire`: the old version drained, stopped and removed;
- :meth:`~UnitReplacement.undo`: the previous version back on every touched unit,
  whatever happens to the caller;
- :meth:`~UnitReplacement.record`: the release recorded as the live one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.deadlines import cleanup, finish, first_error, seconds
from ctrlplane.provider.docker.addressing import advertise, rename_holder, withdraw
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.gate import gate_service
from ctrlplane.provider.docker.history import record_release
from ctrlplane.provider.docker.observe.workload import network_endpoint
from ctrlplane.provider.docker.render.materials import ServiceMaterials
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.docker.units import Started, UnitRunner
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.health import GateOutcome, ProbeResult
from ctrlplane.provider.releases import Release
from ctrlplane.provider.rollouts import ProbeSink

__all__ = ["UnitReplacement"]


@dataclass(frozen=True, slots=True)
class UnitReplacement:
    """The :class:`~ctrlplane.provider.rollouts.UnitPrimitives` of rolling ``new`` out
    over ``old`` as ``release``.

    ``names``: the services whose containers each unit replaces; ``changed``: the
    services whose health checks gate a unit; ``new_materials`` / ``old_materials``:
    what each version's containers are created with.
    """

    ctx: DockerContext
    old: Workload
    new: Workload
    names: tuple[str, ...]
    changed: frozenset[str]
    new_materials: Mapping[str, ServiceMaterials]
    old_materials: Mapping[str, ServiceMaterials]
    release: Release
    started: dict[int, list[Started]] = field(default_factory=dict)
    """What :meth:`start` started per unit (the stability window and the canary
    observation compare the containers with it)."""
    gated: bool = True
    """Whether a unit :meth:`start` replaces in place waits for its gate before it takes
    its service names back (false for a repair, which gates nothing)."""
    dark: set[int] = field(default_factory=set)
    """Units :meth:`start` replaced in place that get their service names back when
    their gate passes, not before."""

    def _retiring(self, replica: int, service: str) -> str:
        return self.ctx.names.retiring(self.old.instance_id, replica, service)

    def _current(self, replica: int, service: str) -> str:
        return self.ctx.names.container(self.old.instance_id, replica, service)

    def _holder(self, replica: int) -> str:
        return self.ctx.names.holder(self.old.instance_id, replica)

    def _retiring_holder(self, replica: int) -> str:
        return self.ctx.names.retiring_holder(self.old.instance_id, replica)

    def _retiring_refs(self, replica: int) -> list[str]:
        """The names of the unit's old version while it runs beside the new one."""
        holders = [self._retiring_holder(replica)] if self._whole else []
        return [self._retiring(replica, n) for n in self.names] + holders

    @property
    def _whole(self) -> bool:
        """Whether each unit's holder is replaced too (the namespace owner's change
        replaces every long-lived service, and a new namespace is needed beside the
        old one)."""
        return self.old.owner in self.names

    @property
    def _network(self) -> str:
        return self.ctx.names.network(self.old.instance_id)

    # -- start ------------------------------------------------------------------------

    async def start(self, replica: int, *, beside: bool) -> None:
        """Start the unit's new version beside the old one (see :meth:`_start_beside`)
        or in its place (see :meth:`_replace`: unless ``gated`` is false, the unit is
        without its service names until :meth:`gate` passes it)."""
        if beside:
            self.started[replica] = await self._start_beside(replica)
        else:
            if self.gated:
                self.dark.add(replica)
            self.started[replica] = await self._replace(
                self.new, replica, self.new_materials, serve=not self.gated
            )

    async def _start_beside(self, replica: int) -> list[Started]:
        """Rename the unit's old containers out of the way (they keep running and
        serving), then create and start the new version under the regular names (inits
        among ``names`` run first), without the unit's service names: it gets them at
        :meth:`switch`. A ``-retiring`` container left by an earlier, interrupted rollout
        is removed first (the regular one is the version that runs)."""
        client = self.ctx.client
        for name in self.names:
            await client.remove_container(self._retiring(replica, name))
            await client.rename_container(
                self._current(replica, name), self._retiring(replica, name)
            )
        if self._whole:
            await client.remove_container(self._retiring_holder(replica))
            await rename_holder(
                self.ctx, self.old, self._holder(replica), self._retiring_holder(replica)
            )
        runner = UnitRunner(self.ctx, self.new, self.new_materials, advertise=False)
        inits = [n for n in self.names if self.new.is_init(n)]
        await runner.run_inits(replica, only=inits)
        long_lived = [n for n in self.names if n not in inits]
        return await runner.start_long_lived(replica, create=True, only=long_lived)

    async def _replace(
        self, wl: Workload, replica: int, materials: Mapping[str, ServiceMaterials], *, serve: bool
    ) -> list[Started]:
        """Put ``wl``'s containers of ``names`` on the unit in place: with other units
        serving meanwhile, the unit gives up its service names and drains first; then
        its containers of ``names`` are stopped and removed, its inits among them rerun,
        and the new long-lived ones created and started in order. The unit takes its
        names back at once when ``serve``; else it stays without them (a unit that
        never gave them up, the only one, keeps them)."""
        runner = UnitRunner(self.ctx, wl, materials, advertise=serve)
        long_lived = [n for n in self.names if not wl.is_init(n)]
        holder = self._holder(replica)
        drain = long_lived and wl.replicas > 1
        if drain and await withdraw(self.ctx, wl, holder):
            await asyncio.sleep(seconds(self.ctx.config.drain_period))
        await runner.stop_long_lived(replica, only=long_lived)
        await runner.remove_services(replica, self.names)
        await runner.run_inits(replica, only=[n for n in self.names if wl.is_init(n)])
        started = await runner.start_long_lived(replica, create=True, only=long_lived)
        if serve and long_lived and wl.owner not in long_lived:
            await advertise(self.ctx, wl, replica, holder)  # no-op unless it lost its names
        return started

    # -- gate ---------------------------------------------------------------------------

    async def gate(self, replica: int, on_probe: ProbeSink) -> GateOutcome | None:
        """Gate the changed long-lived services of the unit's new version (the first
        failing outcome, else the last passing one; ``None`` when nothing has a check),
        then its stability window: every container :meth:`start` started still runs in
        the same run (:class:`RolloutFailed` otherwise). A unit replaced in place that
        passes takes its service names back."""
        runner = UnitRunner(self.ctx, self.new, self.new_materials)
        address = await runner.address(replica)
        outcome: GateOutcome | None = None
        for svc in self.new.services:
            if svc.name not in self.changed or svc.health_check is None:
                continue
            if svc.role is ServiceRole.INIT:
                continue
            outcome = await runner.gate(svc, replica, address, on_probe)
            if not outcome.passed:
                return outcome
        await runner.stable(self.started.get(replica, []))
        if replica in self.dark:
            await advertise(self.ctx, self.new, replica, self._holder(replica))
            self.dark.discard(replica)
        return outcome

    async def observe(self, replicas: Sequence[int], on_probe: ProbeSink) -> list[ProbeResult]:
        """One round of watching canary ``replicas``: each changed long-lived service
        must still run in the run it started in (not restarted) and pass its health
        check (if it has one): one probe, or, after a failed one, up to the check's
        ``retries`` in a row, as a gate (one slow probe on a busy engine is not a sick
        canary). Returns the round's probe results;
        :class:`RolloutFailed` (step ``canary observation``, with the round's results)
        at the first failure."""
        step = "canary observation"
        results: list[ProbeResult] = []
        checked = [
            s
            for s in self.new.services
            if s.name in self.changed and s.role is not ServiceRole.INIT
        ]
        for r in replicas:
            runner = UnitRunner(self.ctx, self.new, self.new_materials)
            address = await runner.address(r)
            since = {s.service: s for s in self.started.get(r, [])}
            for svc in checked:
                ref = self._current(r, svc.name)
                try:
                    await runner.check_running(
                        ref, f"canary {svc.name} (replica {r})", since=since.get(svc.name)
                    )
                except RolloutFailed as exc:
                    reason = f"health gate failed: {exc.step} {exc.reason}"
                    raise RolloutFailed(step, reason, results) from None
                if svc.health_check is None:
                    continue
                outcome = await gate_service(
                    self.ctx.client,
                    svc.health_check,
                    service=svc.name,
                    replica=r,
                    address=address,
                    container=ref,
                    on_result=on_probe,
                )
                results.extend(outcome.results)
                if not outcome.passed:
                    reason = f"health gate failed: canary became unhealthy: {outcome.last}"
                    raise RolloutFailed(step, reason, results)
        return results

    # -- switch -------------------------------------------------------------------------

    async def switch(self, replica: int) -> None:
        """Give the unit's new version its service names (keeping the address its gate
        probed where the network allows it)."""
        await advertise(self.ctx, self.new, replica, self._holder(replica))

    async def withdraw(self, replica: int) -> None:
        """Take the service names from the unit's old version (started beside): see
        :meth:`_withdraw_old`."""
        await self._withdraw_old(replica)

    async def _withdraw_old(self, replica: int) -> bool:
        """Take the service names from the unit's old version: it keeps its address, so
        requests on their way still reach it (true); on a network without pinned
        addresses it is cut off the network at once instead (false)."""
        old_owner = self._retiring_holder(replica) if self._whole else self._holder(replica)
        if await withdraw(self.ctx, self.old, old_owner):
            return True
        await self.ctx.client.disconnect_network(self._network, old_owner)
        return False

    # -- retire -------------------------------------------------------------------------

    async def retire(self, replica: int, *, withdrawn: bool) -> None:
        """Drain the unit's old version and remove it: its service names stop resolving
        to it (unless ``withdrawn`` already) while it keeps serving for
        ``drain_period``, then it is stopped gracefully and removed."""
        if not withdrawn and await self._withdraw_old(replica):
            await asyncio.sleep(seconds(self.ctx.config.drain_period))
        stop = self.ctx.render.stop_seconds
        client = self.ctx.client
        refs = [self._retiring(replica, n) for n in self.names]
        holders = [self._retiring_holder(replica)] if self._whole else []
        for group in (refs, holders):  # the holder goes last
            await asyncio.gather(*(client.stop_container(ref, stop) for ref in group))
            await asyncio.gather(*(client.remove_container(ref) for ref in group))

    # -- undo ---------------------------------------------------------------------------

    async def undo(self, touched: Sequence[int], beside: Sequence[int]) -> str:
        """Return ``touched`` units to the old version (those in ``beside`` by giving the
        old version, still running beside, its place back). Runs to the end even if the
        caller is cancelled (the cancellation is re-raised afterwards). Returns ``""``
        on success, else why the previous version is not fully back."""
        return await finish(self._undo(touched, beside))

    async def _undo(self, touched: Sequence[int], beside: Sequence[int]) -> str:
        redo = list(touched)
        for r in beside:
            try:
                intact = await self._unsurge(r)
            except CtrlplaneError:
                intact = False
            if intact and r in redo:
                redo.remove(r)
            elif not intact:  # the old version is not coming back: it must not linger
                for ref in self._retiring_refs(r):
                    with contextlib.suppress(CtrlplaneError):
                        await self.ctx.client.remove_container(ref)
        return await self._restore(redo)

    async def _unsurge(self, replica: int) -> bool:
        """Undo :meth:`_start_beside`: remove the new containers and give the old ones
        their names back. False if the old version is no longer intact (it must be
        recreated)."""
        client = self.ctx.client
        await UnitRunner(self.ctx, self.old, {}).remove_services(replica, self.names)
        intact = True
        if self._whole:
            holder = await client.inspect_container(self._retiring_holder(replica))
            if holder is None:
                intact = False
            else:
                await rename_holder(self.ctx, self.old, str(holder["Id"]), self._holder(replica))
                running = bool((holder.get("State") or {}).get("Running"))
                intact = running and bool(network_endpoint(holder, self._network))
        for name in self.names:
            old = await client.inspect_container(self._retiring(replica, name))
            if old is None:
                intact = False
                continue
            await client.rename_container(str(old["Id"]), self._current(replica, name))
            running = bool((old.get("State") or {}).get("Running"))
            if self.old.is_init(name):
                continue
            if not running:
                intact = False
        if intact:  # it may have been withdrawn already
            await advertise(self.ctx, self.old, replica, self._holder(replica))
        return intact

    async def _restore(self, replicas: Sequence[int]) -> str:
        """Put the old version of ``names`` back on ``replicas`` in place (every unit is
        tried), within ``progress_deadline``. Returns ``""`` when all were restored, else
        why not (the instance may then be partly updated)."""
        problems: list[str] = []

        async def each() -> None:
            for r in replicas:
                try:
                    await self._replace(self.old, r, self.old_materials, serve=True)
                except (CtrlplaneError, RolloutFailed, BaseExceptionGroup) as exc:
                    problems.append(f"unit {r}: {first_error(exc)}")

        left = await cleanup(each(), self.ctx.config.progress_deadline, "restoring")
        return "; ".join([*problems, left] if left else problems)

    # -- record -------------------------------------------------------------------------

    async def record(self) -> None:
        """Record the release as the instance's live release (the new version runs)."""
        await record_release(self.ctx, self.new, self.release)
