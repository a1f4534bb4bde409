"""What the fake reports about an instance: status, endpoints and resource usage.

- A service's state is the worst over its replicas' containers: running, starting
  (created, not started), stopped (exit 0; an init that completed), failed (non-zero).
  A running service with a health check is ready only while its probe passes.
- The instance's state is the worst over its long-lived services and any failed init;
  it is ready when running and every long-lived service is ready.
- Usage sums each running container's image figures; a container without a memory
  limit counts the backend's ``host_memory_mb`` as its limit.
"""

from __future__ import annotations

from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.reporting import private_endpoint, worst_of
from ctrlplane.provider.results import (
    Endpoint,
    InstanceStatus,
    ResourceUsage,
    ServiceStatus,
    UnitStatus,
    worst_state,
)
from ctrlplane.provider.spec import ServiceSpec
from ctrlplane.provider.validation import startup_order
from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.probes import probe_once
from ctrlplane.testing.records import InstanceRecord

__all__ = ["endpoints", "instance_status", "service_status", "unit_statuses", "usage"]


def endpoints(record: InstanceRecord) -> list[Endpoint]:
    """One in-network endpoint per declared port: ``fake://<service>.<instance>:<port>``."""
    return [
        private_endpoint(svc.name, port, f"{svc.name}.{record.instance_id}", "fake")
        for svc in record.services
        for port in svc.ports
    ]


async def service_status(
    backend: FakeBackend, record: InstanceRecord, svc: ServiceSpec
) -> ServiceStatus:
    """The status of one service, aggregated over its replicas."""
    containers = record.containers(svc.name)
    init = svc.role is ServiceRole.INIT
    states: list[InstanceState] = []
    ready = bool(containers)
    message = ""
    for c in containers:
        if c.running:
            states.append(InstanceState.RUNNING)
            if svc.health_check is not None and not init:
                probe = await probe_once(backend, c, svc.health_check)
                if not probe.healthy:
                    ready, message = False, f"unhealthy: {probe.observed}"
        elif c.state == "created":
            states.append(InstanceState.STARTING)
            ready = False
        elif c.exit_code == 0:
            states.append(InstanceState.STOPPED)
            ready = ready and init
            message = message or ("completed" if init else "exited 0")
        else:
            states.append(InstanceState.FAILED)
            ready = False
            message = f"exited with code {c.exit_code}"
    return ServiceStatus(
        state=worst_state(states),
        ready=ready,
        restarts=sum(c.restarts for c in containers),
        provider_ref=",".join(c.container_id for c in containers),
        message=message,
    )


async def instance_status(backend: FakeBackend, record: InstanceRecord) -> InstanceStatus:
    """The status of an instance (see the module docs)."""
    services = {s.name: await service_status(backend, record, s) for s in record.services}
    inits = {s.name for s in record.services if s.role is ServiceRole.INIT}
    counted = [
        st.state
        for name, st in services.items()
        if name not in inits or st.state is InstanceState.FAILED
    ]
    state = worst_state(counted)
    if record.state in (InstanceState.FAILED, InstanceState.STARTING):
        state = worst_state([state, record.state])
    long_lived = [st for name, st in services.items() if name not in inits]
    started = [
        c.started_at
        for c in record.containers()
        if c.running and c.started_at is not None and c.service not in inits
    ]
    live = record.live_release
    return worst_of(
        state,
        services,
        long_lived,
        started=started,
        message=record.message,
        endpoints=endpoints(record),
        metadata={
            "replicas": str(len(record.units)),
            **({"release_id": live.release_id} if live else {}),
        },
    )


async def unit_statuses(backend: FakeBackend, record: InstanceRecord) -> list[UnitStatus]:
    """One row per container of every unit, serving or staged, in start-up order."""
    order = {
        s.name: i for i, s in enumerate(s for wave in startup_order(record.services) for s in wave)
    }
    units = [*record.units, *backend.staged.get(record.instance_id, [])]
    rows: list[tuple[int, int, UnitStatus]] = []
    for unit in units:
        for name, c in unit.containers.items():
            svc = record.spec(name)
            health = ""
            ready = c.running
            if c.running and svc.health_check is not None and c.role is not ServiceRole.INIT:
                healthy = (await probe_once(backend, c, svc.health_check)).healthy
                health, ready = ("healthy", True) if healthy else ("unhealthy", False)
            if c.running:
                state = InstanceState.RUNNING
            elif c.state == "created":
                state = InstanceState.STARTING
            else:
                state = InstanceState.STOPPED if c.exit_code == 0 else InstanceState.FAILED
            ports = [e for e in endpoints(record) if e.service_name == name]
            failed = c.exit_code not in (None, 0)
            rows.append(
                (
                    order.get(name, len(order)),
                    unit.replica,
                    UnitStatus(
                        service=name,
                        replica=unit.replica,
                        release_id=unit.release_id,
                        image=c.image_ref,
                        state=state,
                        ready=ready,
                        health=health,
                        restarts=c.restarts,
                        ports=ports,
                        started_at=c.started_at,
                        provider_ref=c.container_id,
                        message=f"exited with code {c.exit_code}" if failed else "",
                    ),
                )
            )
    return [row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]


def usage(backend: FakeBackend, record: InstanceRecord) -> ResourceUsage:
    """Resource usage summed over the running containers."""
    used = limit = 0
    cpu = 0.0
    for c in record.containers():
        if c.running:
            used += c.image.memory_mb
            cpu += c.image.cpu_percent
            limit += record.spec(c.service).resources.memory_mb or backend.host_memory_mb
    return ResourceUsage(cpu_percent=cpu, memory_used_mb=used, memory_limit_mb=limit)
