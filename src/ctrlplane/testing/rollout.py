"""The fake's deploy strategies: the core rollout engine over in-memory units.

:class:`FakeUnits` implements :class:`~ctrlplane.provider.rollouts.UnitPrimitives` for one
planned release, so the fake's rolling, canary and blue-green deploys are exactly the
engine's (the same steps, events, gates, undo and failures as every backend built on it).
A new version always starts beside the old one, not serving, and gates as it starts
(each wave of services must pass its health checks); it takes the unit's traffic at the
switch, and the old unit is stopped when retired. An undo removes every new unit and
brings the old ones back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ctrlplane.provider.deadlines import Deadline
from ctrlplane.provider.events import ProbeObserved, ProgressEvent, Subscriber, emit
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.health import GateOutcome, ProbeResult
from ctrlplane.provider.releases import ReleasePlan
from ctrlplane.provider.rollouts import ProbeSink, RolloutShape, roll_out
from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.probes import probe_once
from ctrlplane.testing.records import InstanceRecord, Unit
from ctrlplane.testing.runtime import Runner, SecretMaterial, UnitFailed, build_unit, stop_unit

__all__ = ["FakeUnits", "RolloutSettings", "deploy_plan"]


@dataclass(frozen=True)
class RolloutSettings:
    """Timing of a rollout: ``time_scale`` multiplies every wait (probe intervals too)."""

    time_scale: float = 1.0
    canary_observation: float = 0.1
    progress_deadline: float = 60.0


class FakeUnits:
    """The unit primitives of one release of one fake instance (see the module docs)."""

    def __init__(
        self,
        backend: FakeBackend,
        record: InstanceRecord,
        plan: ReleasePlan,
        secrets: dict[str, SecretMaterial],
        settings: RolloutSettings,
        events: Subscriber | None,
        history_depth: int,
    ) -> None:
        self.backend = backend
        self.inst = record
        self.plan = plan
        self.secrets = secrets
        self.settings = settings
        self.events = events
        self.history_depth = history_depth
        self.old_units = {u.replica: u for u in record.units}
        live = record.live_release
        self.previous_release = live.release_id if live else ""
        self.added: dict[int, Unit] = {}
        self.retired: list[Unit] = []

    def _runner(self, release_id: str, events: Subscriber | None) -> Runner:
        return Runner(
            self.backend,
            self.inst.instance_id,
            self.inst.secret_values,
            self.settings.time_scale,
            events,
            release_id,
        )

    async def _probes_only(self, event: ProgressEvent) -> None:
        if isinstance(event, ProbeObserved):  # the engine reports the units itself
            await emit(self.events, event)

    @property
    def _staged(self) -> list[Unit]:
        return self.backend.staged.setdefault(self.inst.instance_id, [])

    async def start(self, replica: int, *, beside: bool) -> None:
        """Build the new unit and start it (not serving), gating each wave; in place,
        the old unit stops first."""
        if not beside:
            await self.withdraw(replica)
            stop_unit(self.backend, self.old_units[replica], self.plan.before)
        unit = build_unit(
            self.backend, self.inst, replica, self.plan.after, self.secrets, self.plan.release_id
        )
        self.added[replica] = unit
        self._staged.append(unit)
        try:
            await self._runner(self.plan.release_id, self._probes_only).run_unit(
                unit, self.plan.after
            )
        except UnitFailed as exc:
            step = f"{exc.step} (replica {replica})"
            raise RolloutFailed(step, exc.reason, exc.evidence) from None
        if not beside:
            await self.switch(replica)

    async def gate(self, replica: int, on_probe: ProbeSink) -> GateOutcome | None:
        """Nothing left to probe: a unit is gated as it starts."""
        return None

    async def observe(self, replicas: Sequence[int], on_probe: ProbeSink) -> list[ProbeResult]:
        """One probe of every changed, checked service of the canary units."""
        results: list[ProbeResult] = []
        for r in replicas:
            unit = self.added[r]
            for svc in self.plan.after:
                if svc.name not in self.plan.changed or svc.health_check is None:
                    continue
                container = unit.containers[svc.name]
                if not container.running:
                    reason = f"canary {svc.name} exited with code {container.exit_code}"
                    raise RolloutFailed(f"health {svc.name}", reason, results)
                result = await probe_once(self.backend, container, svc.health_check)
                await on_probe(result)
                results.append(result)
                if not result.healthy:
                    reason = f"canary turned unhealthy: {result.observed}"
                    raise RolloutFailed(f"health {svc.name}", reason, results)
        return results

    async def switch(self, replica: int) -> None:
        """The new unit serves."""
        unit = self.added[replica]
        if unit in self._staged:
            self._staged.remove(unit)
        if unit not in self.inst.units:
            self.inst.units.append(unit)

    async def withdraw(self, replica: int) -> None:
        """The old unit stops serving (it keeps running)."""
        old = self.old_units[replica]
        if old in self.inst.units:
            self.inst.units.remove(old)

    async def retire(self, replica: int, *, withdrawn: bool) -> None:
        """Stop the old unit."""
        if not withdrawn:
            await self.withdraw(replica)
        old = self.old_units[replica]
        stop_unit(self.backend, old, self.plan.before)
        self.retired.append(old)

    async def undo(self, touched: Sequence[int], beside: Sequence[int]) -> str:
        """Remove every new unit and bring the old ones back; ``""``, or which old units
        did not come back (status reports them too)."""
        self.backend.staged.pop(self.inst.instance_id, None)
        for unit in self.added.values():
            stop_unit(self.backend, unit, self.plan.after)
            if unit in self.inst.units:
                self.inst.units.remove(unit)
        problems: list[str] = []
        old = self._runner(self.previous_release, None)
        for unit in self.retired:
            if any(unit is u for u in self.old_units.values()) and not _running(unit):
                try:
                    await old.run_unit(unit, self.plan.before)
                except UnitFailed as exc:
                    problems.append(f"replica {unit.replica}: {exc}")
        self.inst.units[:] = sorted(self.old_units.values(), key=lambda u: u.replica)
        self.inst.services = list(self.plan.before)
        return "; ".join(problems)

    async def record(self) -> None:
        """The release is live: the record's services and units are the new ones."""
        self.inst.services = list(self.plan.after)
        self.inst.units.sort(key=lambda u: u.replica)
        self.inst.add_release(
            self.plan.release_id,
            str(self.plan.strategy),
            self.backend.now(),
            self.history_depth,
            rollback_of=self.plan.rollback_of,
        )


def _running(unit: Unit) -> bool:
    return any(c.running for c in unit.containers.values())


async def deploy_plan(
    backend: FakeBackend,
    record: InstanceRecord,
    plan: ReleasePlan,
    *,
    secrets: dict[str, SecretMaterial],
    settings: RolloutSettings,
    events: Subscriber | None,
    history_depth: int,
    backend_name: str,
) -> None:
    """Roll ``plan`` out on ``record`` with the core engine (every unit, one at a time;
    the canary is the first unit)."""
    units = FakeUnits(backend, record, plan, secrets, settings, events, history_depth)
    shape = RolloutShape(
        instance_id=record.instance_id,
        backend=backend_name,
        strategy=plan.strategy,
        release_id=plan.release_id,
        previous_release=units.previous_release,
        units=sorted(units.old_units),
        services=[s.name for s in plan.after],  # a new unit runs every service
        deadline=Deadline(settings.progress_deadline, f"deploy of {record.instance_id}"),
        beside=True,
        observation=settings.canary_observation * settings.time_scale,
        interval=max(settings.canary_observation * settings.time_scale / 2, 0.001),
    )
    await roll_out(shape, units, events)
