"""How deploys roll out on Fly: the core rollout engine over Machine primitives.

The Machines API has no rollout object (flyctl's strategies are client-side loops over
the same calls), so the backend implements :class:`~ctrlplane.provider.rollouts.UnitPrimitives`
for one planned release and :func:`~ctrlplane.provider.rollouts.roll_out` does the rest
(batches, the canary head and its observation, the blue-green switch, the events, and one
failure path: undo, ``RolledBack``, ``DeployFailed`` with the evidence).

- **rolling** and **canary**: a unit's changed services are updated in place, one Machine
  at a time (:func:`~ctrlplane.provider.fly.machines.update_in_place`: the Machine's
  lease, ``current_version``, ``/wait`` for the new version), then gated on their checks;
  a canary's first unit is observed for ``canary_observation`` (its Machines keep running,
  no exit, one passing probe per round) before the rest;
- **blue-green**: a unit's changed services get new Machines beside the old ones (the next
  generation), created with ``skip_service_registration`` so the Fly Proxy sends them
  nothing; once every new Machine passed its gate, each is ``uncordon``-ed, then the old
  ones are ``cordon``-ed and destroyed (flyctl's blue-green, on the documented calls);
- **undo**: Machines updated in place get their previous configuration back (same lease
  and version rules); new Machines are destroyed and the old ones uncordoned;
- **record**: the control Machine records the release, the spec after it and the
  Machines that serve it.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.deadlines import Deadline, seconds
from ctrlplane.provider.enums import DeployStrategy, ServiceRole
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.fly import control, machines
from ctrlplane.provider.fly.config import BACKEND
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.gate import Gate
from ctrlplane.provider.fly.instances import Instance
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.fly.render.machine import machine_config
from ctrlplane.provider.fly.units import UnitBuilder, ids_by_service, unit_step
from ctrlplane.provider.health import GateOutcome, ProbeResult
from ctrlplane.provider.native import JSON
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.releases import ReleasePlan
from ctrlplane.provider.rollouts import ProbeSink, RolloutShape, roll_out
from ctrlplane.provider.spec import ServiceSpec
from ctrlplane.provider.validation import startup_order

__all__ = ["FlyUnits", "roll"]


class FlyUnits:
    """The :class:`~ctrlplane.provider.rollouts.UnitPrimitives` of one release (module docs)."""

    def __init__(
        self, ctx: FlyContext, op: Operation, inst: Instance, plan: ReleasePlan, deadline: Deadline
    ) -> None:
        spec = inst.spec
        assert spec is not None
        self.ctx = ctx
        self.op = op
        self.inst = inst
        self.plan = plan
        self.spec = spec
        self.app = inst.app
        self.deadline = deadline
        self.gate_ = Gate(ctx, inst.app, op.redact)
        self.builder = UnitBuilder(
            ctx,
            inst.app,
            inst.instance_id,
            spec.tenant_id,
            plan.after,
            plan.release_id,
            self.gate_,
            deadline,
        )
        ordered = [s for wave in startup_order(plan.after) for s in wave]
        self.changed = [
            s for s in ordered if s.name in plan.changed and s.role is not ServiceRole.INIT
        ]
        self.inits = [s for s in ordered if s.name in plan.changed and s.role is ServiceRole.INIT]
        self.before = ids_by_service(inst.units)
        self.units = ids_by_service(inst.units)
        self.previous: dict[str, MachineView] = {}
        """Machine ID -> the Machine as it was before its in-place update."""
        self.updated_since: dict[str, int] = {}
        self.staged: dict[int, dict[str, str]] = {}
        self.generation = 1 + max((m.generation for m in inst.workload()), default=0)

    # -- reading ---------------------------------------------------------------------

    async def _view(self, machine_id: str, step: str) -> MachineView:
        found = await self.ctx.api.get_machine(self.app, machine_id)
        if found is None:
            raise RolloutFailed(step, f"machine {machine_id} is gone")
        return MachineView.of(found)

    def _serving(self, service: str, replica: int) -> str:
        staged = self.staged.get(replica, {})
        if service in staged:
            return staged[service]
        return self.units[service][replica]

    def _config(self, svc: ServiceSpec, view: MachineView) -> JSON:
        place = self.builder.place(view.replica, view.generation, view.volume_id)
        return machine_config(svc, place, self.ctx.config)

    # -- primitives --------------------------------------------------------------------

    async def start(self, replica: int, *, beside: bool) -> None:
        if self.inits:
            await self.builder.bring_up(replica, [s.name for s in self.inits])
        if beside:
            self.staged[replica] = await self.builder.bring_up(
                replica,
                [s.name for s in self.changed],
                generation=self.generation,
                cordoned=True,
                gated=False,
            )
            return
        for svc in self.changed:
            step = unit_step("update", svc.name, replica)
            view = await self._view(self.units[svc.name][replica], step)
            self.previous.setdefault(view.id, view)
            self.updated_since[view.id] = machines.latest_event_ms(view)
            await machines.update_in_place(
                self.ctx,
                self.app,
                view,
                self._config(svc, view),
                step,
                self.deadline,
                purpose=f"ctrlplane {self.op.name} of {self.inst.instance_id}",
                settle=svc.health_check is None,
            )

    async def gate(self, replica: int, on_probe: ProbeSink) -> GateOutcome | None:
        results: list[ProbeResult] = []
        checked = [s for s in self.changed if s.health_check is not None]
        for svc in checked:
            assert svc.health_check is not None
            step = unit_step("health", svc.name, replica)
            view = await self._view(self._serving(svc.name, replica), step)
            outcome = await self.gate_.gate(
                view, svc.name, svc.health_check, self.deadline, on_probe
            )
            results += outcome.results
            if not outcome.passed:
                return GateOutcome(False, results, f"{svc.name}: {outcome.reason}")
        return GateOutcome(True, results, "healthy") if checked else None

    async def observe(self, replicas: Sequence[int], on_probe: ProbeSink) -> list[ProbeResult]:
        results: list[ProbeResult] = []
        for replica in replicas:
            for svc in self.changed:
                step = unit_step("observe", svc.name, replica)
                view = await self._view(self._serving(svc.name, replica), step)
                crashes = view.crashes(self.updated_since.get(view.id, 0))
                if crashes or view.state != "started":
                    why = f"exited with code {crashes[-1].code}" if crashes else f"is {view.state}"
                    raise RolloutFailed(step, f"{svc.name} of replica {replica} {why}", results)
                if svc.health_check is None:
                    continue
                result = await self.gate_.probe_once(view, svc.name, svc.health_check)
                results.append(result)
                await on_probe(result)
                if not result.healthy:
                    raise RolloutFailed(
                        step, f"{svc.name} of replica {replica}: {result.observed}", results
                    )
        return results

    async def switch(self, replica: int) -> None:
        for service, machine_id in self.staged.get(replica, {}).items():
            await self.ctx.api.action(self.app, machine_id, "uncordon")
            self.units[service][replica] = machine_id

    async def withdraw(self, replica: int) -> None:
        for service in self.staged.get(replica, {}):
            await self.ctx.api.action(self.app, self.before[service][replica], "cordon")

    async def retire(self, replica: int, *, withdrawn: bool) -> None:
        if not withdrawn:
            await self.withdraw(replica)
        for service in self.staged.get(replica, {}):
            await machines.destroy(self.ctx, self.app, self.before[service][replica])

    async def undo(self, touched: Sequence[int], beside: Sequence[int]) -> str:
        limit = Deadline(self.ctx.config.deploy_timeout, "restore the previous release")
        problems: list[str] = []
        for replica in touched:
            try:
                if replica in beside or replica in self.staged:
                    await self._undo_beside(replica)
                else:
                    await self._undo_in_place(replica, limit)
            except (CtrlplaneError, RolloutFailed) as exc:
                problems.append(f"unit {replica}: {exc}")
        return "; ".join(problems)

    async def _undo_beside(self, replica: int) -> None:
        mine = [
            m
            for m in await self.ctx.api.list_machines(self.app)
            if (v := MachineView.of(m)).instance == self.inst.instance_id
            and v.generation == self.generation
            and v.replica == replica
            and not v.control
        ]
        for machine in mine:
            await machines.destroy(self.ctx, self.app, str(machine["id"]))
        for svc in self.changed:
            await self.ctx.api.action(self.app, self.before[svc.name][replica], "uncordon")
            self.units[svc.name][replica] = self.before[svc.name][replica]
        self.staged.pop(replica, None)

    async def _undo_in_place(self, replica: int, limit: Deadline) -> None:
        for svc in reversed(self.changed):
            old = self.previous.get(self.before[svc.name][replica])
            if old is None:
                continue
            step = unit_step("restore", svc.name, replica)
            now = await self._view(old.id, step)
            if now.version == old.version and now.state == old.state:
                continue  # the update never happened
            await machines.update_in_place(
                self.ctx,
                self.app,
                now,
                dict(old.config),
                step,
                limit,
                purpose=f"ctrlplane undo of {self.inst.instance_id}",
                launch=old.state in ("started", "starting"),
            )

    async def record(self) -> None:
        spec = self.spec.model_copy(update={"services": list(self.plan.after)})
        await control.write_record(
            self.ctx, self.op, self.app, self.inst.control, spec, self.plan.release(), self.units
        )


async def roll(ctx: FlyContext, op: Operation, inst: Instance, plan: ReleasePlan) -> None:
    """Roll ``plan`` out on ``inst`` with its strategy (see the module docs)."""
    release = inst.release
    assert release is not None
    deadline = Deadline(ctx.config.deploy_timeout, f"{plan.strategy} deploy")
    units = FlyUnits(ctx, op, inst, plan, deadline)
    replicas = len(next(iter(inst.units.values()), []))
    intervals = [
        seconds(s.health_check.interval or ctx.config.check_interval)
        for s in units.changed
        if s.health_check is not None
    ]
    shape = RolloutShape(
        instance_id=inst.instance_id,
        backend=BACKEND,
        strategy=DeployStrategy(plan.strategy),
        release_id=plan.release_id,
        previous_release=release.release_id,
        units=list(range(replicas)),
        services=[s.name for s in units.changed],
        deadline=deadline,
        beside=plan.strategy is DeployStrategy.BLUE_GREEN,
        observation=seconds(ctx.config.canary_observation),
        interval=min(intervals, default=seconds(ctx.config.poll_interval)),
    )
    await op.note(phase="roll out", release_id=plan.release_id)
    await roll_out(shape, units, op.events)
