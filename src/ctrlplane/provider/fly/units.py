"""Replica units on Fly (I/O): bring a replica up, take Machines down.

A unit is one replica: its inits, each a run-once Machine (in ``depends_on`` waves,
each waited on to ``stopped`` with its exit code checked), then its long-lived services,
one Machine each, started wave by wave; a service with a health check must pass its gate
before the next wave starts (so ``depends_on`` waits for health). A persistent volume is
the replica's own Fly volume, in the replica's region (reused when one of that name is
free there: after a scale-down, a stateful replica finds its data again).

Failures raise :class:`~ctrlplane.provider.failures.RolloutFailed` naming the step
(``init migrate (replica 0)``, ``start web (replica 1)``, ``health web (replica 0)``),
with the probe evidence of a failed gate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.deadlines import Deadline, first_error
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.events import Subscriber, UnitStarted, emit
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.fly import machines
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.gate import Gate, ProbeSink
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.fly.render.machine import Placement, create_body, persistent_volume
from ctrlplane.provider.fly.render.names import volume_name
from ctrlplane.provider.fly.render.plan import region_of
from ctrlplane.provider.fly.render.volumes import volume_body
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.spec import ServiceSpec, VolumeSpec
from ctrlplane.provider.taskgroups import TaskGroup
from ctrlplane.provider.validation import startup_order

__all__ = ["UnitBuilder", "ids_by_service", "long_lived", "unit_step"]


def unit_step(verb: str, service: str, replica: int) -> str:
    """A step's name: ``start web (replica 0)``."""
    return f"{verb} {service} (replica {replica})"


@dataclass
class UnitBuilder:
    """Brings up replica units of one instance for one release."""

    ctx: FlyContext
    app: str
    instance_id: str
    tenant_id: str
    services: Sequence[ServiceSpec]
    release_id: str
    gate: Gate
    deadline: Deadline
    events: Subscriber | None = None
    on_probe: ProbeSink | None = None
    evidence: list[ProbeResult] = field(default_factory=list)

    def place(self, replica: int, generation: int = 0, volume_id: str = "") -> Placement:
        return Placement(
            instance_id=self.instance_id,
            tenant_id=self.tenant_id,
            app=self.app,
            replica=replica,
            region=region_of(self.ctx.config, replica),
            release_id=self.release_id,
            generation=generation,
            volume_id=volume_id,
        )

    async def volumes(self, replica: int, services: Iterable[ServiceSpec]) -> dict[str, str]:
        """Service -> the ID of its persistent volume for ``replica`` (created if needed;
        services mounting the same volume name share it: an init prepares what its service
        then mounts)."""
        wanted = [(s, persistent_volume(s)) for s in services if persistent_volume(s)]
        if not wanted:
            return {}
        region = region_of(self.ctx.config, replica)
        existing = await self.ctx.api.list_volumes(self.app)
        by_name: dict[str, str] = {}
        out: dict[str, str] = {}
        for svc, name in wanted:
            if name not in by_name:
                vol = next(v for v in svc.volumes if v.name == name)
                by_name[name] = await self._volume(existing, vol, svc.name, replica, region)
            out[svc.name] = by_name[name]
        return out

    async def _volume(
        self,
        existing: Sequence[Mapping[str, object]],
        vol: VolumeSpec,
        service: str,
        replica: int,
        region: str,
    ) -> str:
        fly_name = volume_name(vol.name, replica)
        for found in existing:
            if (
                found.get("name") == fly_name
                and found.get("region") == region
                and not found.get("attached_machine_id")
                and found.get("state") != "destroyed"
            ):
                return str(found["id"])
        try:
            created = await self.ctx.api.create_volume(
                self.app, volume_body(vol, replica, region, self.ctx.config), region=region
            )
        except CtrlplaneError as exc:
            raise RolloutFailed(
                unit_step("create volume", f"{vol.name} of {service}", replica), str(exc)
            ) from exc
        return str(created["id"])

    async def _started(self, svc: ServiceSpec, replica: int) -> None:
        await emit(
            self.events,
            UnitStarted(
                instance_id=self.instance_id,
                service=svc.name,
                replica=replica,
                release_id=self.release_id,
            ),
        )

    async def _init(self, svc: ServiceSpec, replica: int, volume_id: str) -> None:
        step = unit_step("init", svc.name, replica)
        body = create_body(svc, self.place(replica, volume_id=volume_id), self.ctx.config)
        await machines.run_once(self.ctx, self.app, body, step, self.deadline)
        await self._started(svc, replica)

    async def start_service(
        self,
        svc: ServiceSpec,
        replica: int,
        *,
        generation: int = 0,
        volume_id: str = "",
        cordoned: bool = False,
    ) -> MachineView:
        """Create ``svc``'s Machine for ``replica`` and confirm it runs."""
        step = unit_step("start", svc.name, replica)
        body = create_body(
            svc, self.place(replica, generation, volume_id), self.ctx.config, cordoned=cordoned
        )
        view = await machines.create(self.ctx, self.app, body, step)
        view = await machines.confirm_started(
            self.ctx,
            self.app,
            view.id,
            step,
            self.deadline,
            since_ms=0,
            settle=svc.health_check is None,
        )
        await self._started(svc, replica)
        return view

    async def check(self, svc: ServiceSpec, view: MachineView) -> None:
        """Gate ``svc``'s Machine on its health check (if it has one)."""
        if svc.health_check is None:
            return
        outcome = await self.gate.gate(
            view, svc.name, svc.health_check, self.deadline, self.on_probe
        )
        self.evidence += outcome.results
        if not outcome.passed:
            raise RolloutFailed(
                unit_step("health", svc.name, view.replica),
                f"{svc.name} of replica {view.replica} failed its health check: {outcome.reason}",
                list(self.evidence),
            )

    async def bring_up(
        self,
        replica: int,
        only: Sequence[str] | None = None,
        *,
        generation: int = 0,
        cordoned: bool = False,
        gated: bool = True,
    ) -> dict[str, str]:
        """Run the unit's inits and start its long-lived services (or ``only`` those) in
        order, each wave gated on its health checks unless ``gated`` is false (the
        caller gates); service -> Machine ID of the long-lived ones. A failure raises the first
        step's :class:`RolloutFailed` (what was created is left for the caller to
        remove: every Machine carries the instance in its metadata)."""
        try:
            return await self._bring_up(replica, only, generation, cordoned, gated)
        except BaseExceptionGroup as group:
            err = first_error(group)
        # Raised outside the handler: raised inside it, the error's context would be the
        # group that holds it (a cycle that error scrubbers walking the chain never leave).
        raise err

    async def _up(
        self,
        svc: ServiceSpec,
        replica: int,
        generation: int,
        volume_id: str,
        cordoned: bool,
        into: dict[str, MachineView],
    ) -> None:
        into[svc.name] = await self.start_service(
            svc, replica, generation=generation, volume_id=volume_id, cordoned=cordoned
        )

    async def _bring_up(
        self,
        replica: int,
        only: Sequence[str] | None,
        generation: int,
        cordoned: bool,
        gated: bool,
    ) -> dict[str, str]:
        chosen = [s for s in self.services if only is None or s.name in only]
        volumes = await self.volumes(replica, chosen)
        out: dict[str, str] = {}
        for wave in startup_order(chosen):
            if wave[0].role is ServiceRole.INIT:
                async with TaskGroup() as tg:
                    for svc in wave:
                        tg.create_task(self._init(svc, replica, volumes.get(svc.name, "")))
                continue
            views: dict[str, MachineView] = {}
            async with TaskGroup() as tg:
                for svc in wave:
                    tg.create_task(
                        self._up(
                            svc, replica, generation, volumes.get(svc.name, ""), cordoned, views
                        )
                    )
            for svc in wave:
                out[svc.name] = views[svc.name].id
                if gated:
                    await self.check(svc, views[svc.name])
        return out


def long_lived(services: Iterable[ServiceSpec]) -> list[ServiceSpec]:
    """The services that are not inits."""
    return [s for s in services if s.role is not ServiceRole.INIT]


def ids_by_service(units: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """A copy of a units record."""
    return {k: list(v) for k, v in units.items()}
