"""Reading an instance (I/O): status, units, provision results, usage, releases, listing,
health.

Each is one listing of the app's Machines (plus the control Machine's versions for
releases, each serving Machine's processes for usage); see :mod:`.observe.status`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from ctrlplane.errors import CtrlplaneError, InstanceNotFound
from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.fly import control, instances
from ctrlplane.provider.fly.config import BACKEND
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.instances import Instance
from ctrlplane.provider.fly.observe.listing import summary
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.fly.observe.status import instance_status, process_group, usage
from ctrlplane.provider.fly.observe.units import unit_rows
from ctrlplane.provider.releases import Release
from ctrlplane.provider.reporting import measured_health
from ctrlplane.provider.results import (
    HealthStatus,
    InstanceStatus,
    InstanceSummary,
    ProvisionResult,
    ResourceUsage,
    ServiceStatus,
    UnitStatus,
)

__all__ = [
    "health",
    "list_instances",
    "provision_result",
    "releases",
    "resources",
    "status",
    "units",
]


def _status(ctx: FlyContext, inst: Instance) -> InstanceStatus:
    spec, release = inst.spec, inst.release
    assert spec is not None
    assert release is not None
    metadata = {
        "app": inst.app,
        "release_id": release.release_id,
        "control_machine": inst.control.id,
    }
    by_id = {m.id: m for m in inst.machines}
    return instance_status(spec, inst.app, inst.units, by_id, ctx.config.public_domain, metadata)


async def status(ctx: FlyContext, instance_id: str) -> InstanceStatus:
    """The instance's status (``InstanceNotFound`` when it does not exist); an instance
    whose provision has not recorded a release yet is ``provisioning``."""
    inst = await instances.find(ctx, instance_id)
    if inst is not None and inst.release is None and inst.spec is not None:
        return InstanceStatus(
            state=InstanceState.PROVISIONING,
            message="provision has not finished (in progress, or cut off: provision again)",
            services={
                s.name: ServiceStatus(
                    state=InstanceState.PROVISIONING,
                    provider_ref=process_group(s.name, inst.app),
                )
                for s in inst.spec.services
            },
            metadata={"app": inst.app, "control_machine": inst.control.id},
        )
    if inst is None or inst.release is None or inst.spec is None:
        raise InstanceNotFound(instance_id, provider=BACKEND)
    return _status(ctx, inst)


async def units(ctx: FlyContext, instance_id: str) -> list[UnitStatus]:
    """One row per Machine of the instance but its control Machine
    (:func:`~.observe.units.unit_rows`), from one listing of the app's Machines;
    ``InstanceNotFound`` when there is no instance (or no spec recorded yet)."""
    inst = await instances.find(ctx, instance_id)
    if inst is None or inst.spec is None:
        raise InstanceNotFound(instance_id, provider=BACKEND)
    return unit_rows(inst.spec, instance_id, inst.machines, inst.units)


async def provision_result(ctx: FlyContext, inst: Instance) -> ProvisionResult:
    """What ``provision`` returns for a provisioned instance."""
    spec, release = inst.spec, inst.release
    assert spec is not None
    assert release is not None
    current = _status(ctx, inst)
    return ProvisionResult(
        provider_ref=inst.app,
        service_refs={s.name: process_group(s.name, inst.app) for s in spec.services},
        endpoints=current.endpoints,
        metadata={"app": inst.app, "release_id": release.release_id},
    )


async def resources(ctx: FlyContext, instance_id: str) -> ResourceUsage:
    """Usage of the serving Machines (memory from their processes, sampled together)."""
    inst = await instances.load(ctx, instance_id)
    serving = [m for ids in inst.units.values() for i in ids if (m := inst.machine(i))]
    running = [m for m in serving if m.state == "started"]
    samples = await asyncio.gather(*(ctx.api.processes(inst.app, m.id) for m in running))
    rss = {
        m.id: sum(int(p.get("rss") or 0) for p in procs)
        for m, procs in zip(running, samples, strict=True)
    }
    return usage(serving, rss)


async def releases(ctx: FlyContext, instance_id: str) -> list[Release]:
    """The retained releases, newest first (the first is live)."""
    inst = await instances.load(ctx, instance_id)
    return await control.releases(ctx, inst.app, inst.control)


async def list_instances(ctx: FlyContext, tenant_id: str | None) -> list[InstanceSummary]:
    """The instances of the configured app, or of the organization's apps named with
    ``app_prefix`` (one listing of the apps, then one of each such app's Machines: the
    Machines API has no query across apps), oldest first."""
    if ctx.config.app:
        names = [ctx.config.app]
    else:
        names = [
            str(a.get("name", ""))
            for a in await ctx.api.list_apps(ctx.config.org_slug)
            if str(a.get("name", "")).startswith(ctx.config.app_prefix)
        ]
    listed = await asyncio.gather(*(instances.machines_of(ctx, name) for name in names))
    out: list[InstanceSummary] = []
    for app, machines in zip(names, listed, strict=True):
        for view in machines:
            if not view.control:
                continue
            found = summary(view, _instance_state(ctx, app, view, machines))
            if tenant_id is None or found.tenant_id == tenant_id:
                out.append(found)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return sorted(out, key=lambda s: (s.created_at or epoch, s.instance_id))


def _instance_state(
    ctx: FlyContext, app: str, control_view: MachineView, machines: list[MachineView]
) -> InstanceState:
    inst = Instance(control_view.instance, app, control_view, machines)
    if inst.spec is None or inst.release is None:
        return InstanceState.PROVISIONING
    return _status(ctx, inst).state


async def health(ctx: FlyContext) -> HealthStatus:
    """Whether the API answers this token (one listing of the organization's apps, or a
    read of the configured app); never raises. Without a token nothing is asked: the
    answer is unhealthy, saying which setting to fill."""
    began = time.monotonic()
    if not ctx.config.token_value():
        return HealthStatus(
            healthy=False,
            message="no Fly API token: set CTRLPLANE_FLY_TOKEN (or FLY_API_TOKEN, or token "
            "in ctrlplane.toml)",
            checked_at=datetime.now(UTC),
        )
    try:
        if ctx.config.app:
            found = await ctx.api.get_app(ctx.config.app)
            message = "ok" if found is not None else f"app {ctx.config.app!r} not found"
            healthy = found is not None
        else:
            await ctx.api.list_apps(ctx.config.org_slug)
            healthy, message = True, f"ok (organization {ctx.config.org_slug})"
    except CtrlplaneError as exc:
        healthy, message = False, str(exc)
    return measured_health(healthy, message, began)
