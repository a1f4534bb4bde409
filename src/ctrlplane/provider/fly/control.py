"""The control Machine (I/O): ensure it exists, write records to it, read its history.

See :mod:`~ctrlplane.provider.fly.render.control` for what it holds. Writing a record is
one ``update`` of the control Machine with ``skip_launch`` (it stays stopped),
``current_version`` (check-and-set: a record written by someone else meanwhile fails the
write) and the operation lease's nonce (the operation holds the control Machine's lease).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ctrlplane.errors import BackendError
from ctrlplane.provider.fly.config import BACKEND
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.errors import MachineConflict
from ctrlplane.provider.fly.instances import control_of, machines_of
from ctrlplane.provider.fly.leases import nonce_of
from ctrlplane.provider.fly.observe.control import history
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.fly.render.control import control_body, control_config
from ctrlplane.provider.fly.render.plan import region_of
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["ensure_control", "op_nonce", "releases", "write_record"]


def op_nonce(op: Operation) -> str:
    """The nonce of the control Machine lease the operation holds (``""``: none)."""
    return nonce_of(op.held.record) if op.held is not None else ""


async def ensure_control(ctx: FlyContext, app: str, req: ProvisionRequest) -> MachineView:
    """The instance's control Machine, created (not launched) if there is none. When a
    racing provision created one too, the oldest stays and ours is destroyed."""
    machines = await machines_of(ctx, app)
    found = control_of(machines, req.instance_id)
    if found is not None:
        return found
    body = control_body(req, ctx.config, region_of(ctx.config, 0))
    mine = MachineView.of(await ctx.api.create_machine(app, body, region=str(body["region"])))
    winner = control_of(await machines_of(ctx, app), req.instance_id) or mine
    if winner.id != mine.id:
        await ctx.api.destroy_machine(app, mine.id)
    return winner


async def write_record(
    ctx: FlyContext,
    op: Operation,
    app: str,
    control: MachineView,
    spec: ProvisionRequest,
    release: Release,
    units: Mapping[str, Sequence[str]],
) -> MachineView:
    """Record ``release`` as live, with ``spec`` and the Machines serving it; the control
    Machine as updated. A record changed meanwhile is a :class:`BackendError`."""
    config = control_config(spec, release.model_copy(update={"live": False}), ctx.config, units)
    body = {"config": config, "current_version": control.version, "skip_launch": True}
    try:
        updated = await ctx.api.update_machine(app, control.id, body, nonce=op_nonce(op))
    except MachineConflict as exc:
        raise BackendError(
            f"the release record of {spec.instance_id!r} changed meanwhile ({exc}); "
            "the instance may be partly updated: check status, then deploy again",
            backend=BACKEND,
        ) from exc
    return MachineView.of(updated)


async def releases(ctx: FlyContext, app: str, control: MachineView) -> list[Release]:
    """The retained releases, newest first (the first is live), from the control
    Machine's versions."""
    versions = await ctx.api.versions(app, control.id)
    return history(versions, ctx.config.release_history)
