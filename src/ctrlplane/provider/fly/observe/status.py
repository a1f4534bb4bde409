"""An instance's Machines -> ``InstanceStatus``, endpoints and usage (pure).

Only the Machines recorded as serving the live release count (the control Machine's
``ctrlplane_units``; a rollout's new Machines do not until it records them). Per Machine:
``started`` -> running (ready while every check passes), ``created``/``starting``/
``replacing`` -> starting, ``stopping`` -> stopping, ``stopped`` -> failed when its last
exit was a crash with a non-zero code, else stopped, ``failed`` (could not launch) or gone
-> failed. A service's state is the worst over its replicas, the instance's the worst
over its long-lived services. Inits ran to completion before the release was recorded:
they report ``stopped``. ``restarts`` counts the exits a Machine did not ask for.
Messages say what happened (exit codes, launch errors), never container output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.reporting import private_endpoint, worst_of
from ctrlplane.provider.results import (
    Endpoint,
    InstanceStatus,
    ResourceUsage,
    ServiceStatus,
    worst_state,
)
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["endpoints", "instance_status", "machine_state", "process_group", "usage"]

_STATES = {
    "started": InstanceState.RUNNING,
    "created": InstanceState.STARTING,
    "starting": InstanceState.STARTING,
    "replacing": InstanceState.STARTING,
    "stopping": InstanceState.STOPPING,
    "destroying": InstanceState.FAILED,
    "destroyed": InstanceState.FAILED,
    "failed": InstanceState.FAILED,
}


def process_group(service: str, app: str) -> str:
    """The private DNS name of a service's Machines."""
    return f"{service}.process.{app}.internal"


def machine_state(view: MachineView | None, machine_id: str = "") -> tuple[InstanceState, str]:
    """The state of one serving Machine and what to say about it."""
    if view is None:
        return InstanceState.FAILED, f"machine {machine_id} is gone"
    if view.state == "stopped":
        crashes = view.crashes()
        last = view.exits()[-1:] if view.exits() else []
        if crashes and last and not last[0].requested and last[0].code != 0:
            return InstanceState.FAILED, f"machine {view.id} exited with code {last[0].code}"
        return InstanceState.STOPPED, ""
    state = _STATES.get(view.state, InstanceState.STARTING)
    if view.state == "failed":
        return state, f"machine {view.id} failed to launch: {view.launch_error()}"
    if view.gone:
        return state, f"machine {view.id} was destroyed"
    return state, ""


def endpoints(req: ProvisionRequest, app: str, public_domain: str) -> list[Endpoint]:
    """Per service port: the private name (``<service>.process.<app>.internal``) and the
    public address through the Fly Proxy (``<app>.<public_domain>:<port>``)."""
    out: list[Endpoint] = []
    for svc in req.services:
        for port in svc.ports:
            out.append(private_endpoint(svc.name, port, process_group(svc.name, app), "http"))
            public = port.host or port.container
            out.append(
                Endpoint(
                    service_name=svc.name,
                    url=f"http://{app}.{public_domain}:{public}",
                    port=public,
                    protocol=str(port.protocol),
                    public=True,
                )
            )
    return out


def instance_status(
    req: ProvisionRequest,
    app: str,
    units: Mapping[str, Sequence[str]],
    machines: Mapping[str, MachineView],
    public_domain: str,
    metadata: Mapping[str, str],
) -> InstanceStatus:
    """The status of the instance ``req`` describes (see the module docs)."""
    services: dict[str, ServiceStatus] = {}
    started: list[datetime] = []
    for svc in req.services:
        if svc.role is ServiceRole.INIT:
            services[svc.name] = ServiceStatus(
                state=InstanceState.STOPPED,
                provider_ref=process_group(svc.name, app),
                message="ran to completion before the release went live",
            )
            continue
        ids = list(units.get(svc.name, []))
        states: list[InstanceState] = []
        ready = bool(ids)
        restarts = 0
        message = ""
        for machine_id in ids:
            view = machines.get(machine_id)
            state, why = machine_state(view, machine_id)
            states.append(state)
            message = message or why
            if view is not None:
                restarts += len(view.crashes())
                ready = ready and state is InstanceState.RUNNING and view.checks_passing()
                at = view.started_at()
                if at is not None and state is InstanceState.RUNNING:
                    started.append(at)
            else:
                ready = False
        state = worst_state(states) if states else InstanceState.FAILED
        services[svc.name] = ServiceStatus(
            state=state,
            ready=ready and state is InstanceState.RUNNING,
            restarts=restarts,
            provider_ref=process_group(svc.name, app),
            message=message if state is not InstanceState.RUNNING else "",
        )
    long_lived = [services[s.name] for s in req.services if s.role is not ServiceRole.INIT]
    state = worst_state(s.state for s in long_lived)
    inits = {s.name for s in req.services if s.role is ServiceRole.INIT}
    message = next(
        (f"{n}: {s.message}" for n, s in services.items() if s.message and n not in inits), ""
    )
    return worst_of(
        state,
        services,
        long_lived,
        started=started,
        message=message,
        endpoints=endpoints(req, app, public_domain),
        metadata=metadata,
    )


def usage(serving: Sequence[MachineView], rss: Mapping[str, int]) -> ResourceUsage:
    """Usage of the serving Machines: memory used from each started Machine's processes
    (``rss``: Machine ID -> bytes), the limit from their ``guest.memory_mb``. The
    Machines API reports no CPU percentage and no network counters (0)."""
    running = [m for m in serving if m.state == "started"]
    used = sum(rss.get(m.id, 0) for m in running)
    return ResourceUsage(
        cpu_percent=0.0,
        memory_used_mb=math.ceil(used / (1024 * 1024)),
        memory_limit_mb=sum(m.memory_mb for m in running),
    )
