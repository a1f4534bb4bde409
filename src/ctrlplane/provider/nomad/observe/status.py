"""Allocations as an ``InstanceStatus``, and their stats as a ``ResourceUsage`` (pure).

Only the allocations of the job's current version count (older versions' and replaced
allocations do not). Per task: ``pending`` -> starting, ``running`` -> running (ready
while every check of that task passes), ``dead`` -> failed if the task failed, else
stopped (an init that finished is not a failure). A service's state is the worst over
its replicas; the instance's the worst over its long-lived services, or failed when an
init failed. Messages come from the newest task event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.nomad.observe.allocations import current_allocs, parse_time
from ctrlplane.provider.nomad.render.meta import RELEASE
from ctrlplane.provider.nomad.render.names import port_label
from ctrlplane.provider.reporting import private_endpoint, url_host, worst_of
from ctrlplane.provider.results import (
    Endpoint,
    InstanceStatus,
    ResourceUsage,
    ServiceStatus,
    worst_state,
)
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["endpoints", "instance_status", "resource_usage", "task_state"]


def task_state(task: Mapping[str, Any] | None) -> tuple[InstanceState, str, int]:
    """State, newest event message and restarts of one task of one allocation."""
    if not task:
        return InstanceState.STARTING, "", 0
    events = task.get("Events") or []
    message = str(events[-1].get("DisplayMessage", "")) if events else ""
    restarts = int(task.get("Restarts") or 0)
    state = task.get("State")
    if state == "running":
        return InstanceState.RUNNING, message, restarts
    if state == "dead":
        if task.get("Failed"):
            return InstanceState.FAILED, message, restarts
        return InstanceState.STOPPED, message, restarts
    return InstanceState.STARTING, message, restarts


def endpoints(req: ProvisionRequest, full_allocs: Sequence[Mapping[str, Any]]) -> list[Endpoint]:
    """In-network endpoints (``<service>:<port>``) and, per allocation, the published
    host address of each port."""
    out: list[Endpoint] = []
    owners: dict[str, tuple[str, int, str]] = {}
    for svc in req.services:
        for port in svc.ports:
            owners[port_label(svc.name, port.container)] = (
                svc.name,
                port.container,
                str(port.protocol),
            )
            out.append(private_endpoint(svc.name, port, svc.name, "http"))
    for alloc in full_allocs:
        shared = ((alloc.get("AllocatedResources") or {}).get("Shared")) or {}
        for port in shared.get("Ports") or []:
            owner = owners.get(str(port.get("Label")))
            if owner is None or not port.get("Value"):
                continue
            host = url_host(str(port.get("HostIP") or "127.0.0.1"))
            out.append(
                Endpoint(
                    service_name=owner[0],
                    url=f"http://{host}:{port['Value']}",
                    port=int(port["Value"]),
                    protocol=owner[2],
                    public=True,
                )
            )
    return out


def instance_status(
    req: ProvisionRequest,
    job: Mapping[str, Any],
    allocs: Sequence[Mapping[str, Any]],
    checks: Mapping[str, Mapping[str, Any]],
    full_allocs: Sequence[Mapping[str, Any]],
) -> InstanceStatus:
    """The status of an instance from its job, allocation stubs, and the check results
    (``alloc ID -> check results``) of its current allocations."""
    meta = {
        "job_id": str(job.get("ID", "")),
        "job_version": str(job.get("Version", "")),
        "namespace": str(job.get("Namespace", "")),
        "release_id": str((job.get("Meta") or {}).get(RELEASE, "")),
    }
    roles = {s.name: s.role for s in req.services}
    if job.get("Stop"):
        return InstanceStatus(
            state=InstanceState.STOPPED,
            services={
                name: ServiceStatus(state=InstanceState.STOPPED, provider_ref=name)
                for name in roles
            },
            metadata=meta,
            message="job is stopped",
        )
    current = current_allocs(job, allocs)
    count = max(req.main.resources.replicas, 1)
    per: dict[str, list[tuple[InstanceState, bool, str, int]]] = {n: [] for n in roles}
    started: list[datetime] = []
    for alloc in current:
        states = alloc.get("TaskStates") or {}
        results = checks.get(str(alloc.get("ID")), {})
        for name, role in roles.items():
            state, message, restarts = task_state(states.get(name))
            mine = [r for r in results.values() if r.get("Task") == name]
            ready = state is InstanceState.RUNNING and all(
                r.get("Status") == "success" for r in mine
            )
            per[name].append((state, ready, message, restarts))
            first = parse_time((states.get(name) or {}).get("StartedAt"))
            if role is not ServiceRole.INIT and first is not None:
                started.append(first)
    services: dict[str, ServiceStatus] = {}
    for name, entries in per.items():
        if not entries:
            services[name] = ServiceStatus(state=InstanceState.STARTING, provider_ref=name)
            continue
        state = worst_state(e[0] for e in entries)
        if len(entries) < count and roles[name] is not ServiceRole.INIT:
            state = worst_state([state, InstanceState.STARTING])
        bad = next((e[2] for e in entries if e[0] is not InstanceState.RUNNING and e[2]), "")
        services[name] = ServiceStatus(
            state=state,
            ready=all(e[1] for e in entries) and len(entries) >= count,
            restarts=sum(e[3] for e in entries),
            provider_ref=name,
            message=bad if state is not InstanceState.RUNNING else "",
        )
    long_lived = [s for n, s in services.items() if roles[n] is not ServiceRole.INIT]
    init_failed = any(
        s.state is InstanceState.FAILED for n, s in services.items() if roles[n] is ServiceRole.INIT
    )
    state = worst_state(s.state for s in long_lived)
    if init_failed:
        state = InstanceState.FAILED
    message = next((f"{n}: {s.message}" for n, s in services.items() if s.message), "")
    return worst_of(
        state,
        services,
        long_lived,
        started=started,
        message=message,
        endpoints=endpoints(req, full_allocs),
        metadata=meta,
    )


def resource_usage(
    job: Mapping[str, Any], samples: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]
) -> ResourceUsage:
    """Usage summed over ``samples`` (each a running allocation and its
    ``/v1/client/allocation/:id/stats``); the limit is the memory of the tasks that run.
    Nomad reports no network counters (0)."""
    limits = {
        t["Name"]: int((t.get("Resources") or {}).get("MemoryMB", 0))
        for t in job["TaskGroups"][0]["Tasks"]
    }
    cpu = 0.0
    used = limit = 0
    for alloc, stats in samples:
        for name, task in ((stats or {}).get("Tasks") or {}).items():
            usage = task.get("ResourceUsage") or {}
            used += int((usage.get("MemoryStats") or {}).get("RSS", 0))
            cpu += float((usage.get("CpuStats") or {}).get("Percent", 0.0))
            state = ((alloc.get("TaskStates") or {}).get(name) or {}).get("State")
            if state == "running":
                limit += limits.get(name, 0)
    return ResourceUsage(
        cpu_percent=cpu,
        memory_used_mb=math.ceil(used / (1024 * 1024)),
        memory_limit_mb=limit,
    )
