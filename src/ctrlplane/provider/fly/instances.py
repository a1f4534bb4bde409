"""Finding an instance on Fly: its app, its control Machine, its records, its Machines.

An instance exists when its app holds a control Machine whose ``ctrlplane_instance`` is
the instance ID (:mod:`~ctrlplane.provider.fly.render.control`). Two provisions racing to
create it may both create one: the oldest (creation time, then ID) is the instance's and
the other is removed by its creator (:func:`control_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ctrlplane.errors import InstanceNotFound
from ctrlplane.provider.fly.config import BACKEND
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.observe.control import live_release, spec_of, units_of
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["Instance", "control_of", "find", "load", "machines_of"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def control_of(machines: Sequence[MachineView], instance_id: str) -> MachineView | None:
    """The instance's control Machine among ``machines`` (the oldest, if several)."""
    found = [m for m in machines if m.control and m.instance == instance_id and not m.gone]
    found.sort(key=lambda m: (m.created_at or _EPOCH, m.id))
    return found[0] if found else None


async def machines_of(ctx: FlyContext, app: str) -> list[MachineView]:
    """Every Machine of ``app`` that is not destroyed (``[]``: no such app)."""
    return [MachineView.of(m) for m in await ctx.api.list_machines(app)]


@dataclass(frozen=True)
class Instance:
    """An instance as recorded on its control Machine, with the app's Machines as read."""

    instance_id: str
    app: str
    control: MachineView
    machines: list[MachineView] = field(repr=False)

    @property
    def spec(self) -> ProvisionRequest | None:
        """The live spec (``None``: unreadable, or an unfinished provision)."""
        return spec_of(self.control.metadata)

    @property
    def release(self) -> Release | None:
        """The live release (``None``: provision has not finished)."""
        return live_release(self.control.metadata)

    @property
    def units(self) -> dict[str, list[str]]:
        """Service -> Machine ID per replica, of the Machines serving the live release."""
        return units_of(self.control.metadata)

    def machine(self, machine_id: str) -> MachineView | None:
        """The Machine ``machine_id`` of the app, if it is not destroyed."""
        return next((m for m in self.machines if m.id == machine_id), None)

    def workload(self) -> list[MachineView]:
        """Every Machine of the instance but its control Machine."""
        return [m for m in self.machines if m.instance == self.instance_id and not m.control]

    def unit(self, service: str, replica: int) -> MachineView | None:
        """The Machine serving ``service`` for ``replica`` (``None``: none recorded)."""
        ids = self.units.get(service, [])
        return self.machine(ids[replica]) if replica < len(ids) else None


async def find(ctx: FlyContext, instance_id: str) -> Instance | None:
    """The instance, or ``None`` when its app or control Machine does not exist."""
    app = ctx.app(instance_id)
    machines = await machines_of(ctx, app)
    control = control_of(machines, instance_id)
    if control is None:
        return None
    return Instance(instance_id, app, control, machines)


async def load(ctx: FlyContext, instance_id: str) -> Instance:
    """The instance with a live release; :class:`~ctrlplane.errors.InstanceNotFound` when
    it does not exist or its provision never finished."""
    inst = await find(ctx, instance_id)
    if inst is None or inst.release is None or inst.spec is None:
        raise InstanceNotFound(instance_id, provider=BACKEND)
    return inst
