"""Reading instances back from the engine: status (with one probe round), the instance
list and resource usage.

The I/O half of these answers; the pure mapping of container inspects and stats is in
:mod:`.status` and :mod:`.usage`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any

from ctrlplane.errors import InstanceNotFound
from ctrlplane.provider.docker.engine import BACKEND as NAME
from ctrlplane.provider.docker.engine import Engine
from ctrlplane.provider.docker.gate import gate_service
from ctrlplane.provider.docker.session import Session
from ctrlplane.provider.docker.status import instance_status
from ctrlplane.provider.docker.translate import Translator, Workload
from ctrlplane.provider.docker.usage import sum_usage
from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.health import GateOutcome, ProbeResult
from ctrlplane.provider.results import (
    InstanceStatus,
    InstanceSummary,
    ResourceUsage,
    worst_state,
)

__all__ = ["list_summaries", "read_status", "resource_usage"]

JSON = dict[str, Any]


async def read_status(ses: Session, instance_id: str) -> InstanceStatus:
    """Per-service state (worst-of over replicas), worst-of aggregate, endpoints;
    ``PROVISIONING`` while the network exists without containers."""
    inspects = await ses.inspect_all(instance_id)
    if not inspects:
        nets = await ses.engine.list_networks(ses.tr.labels.instance_filter(instance_id))
        if nets:
            return InstanceStatus(state=InstanceState.PROVISIONING, message="no containers yet")
        raise InstanceNotFound(instance_id, provider=NAME)
    wl = ses.tr.workload_from_containers(inspects)
    probes = await _probe_running(ses.tr, ses.engine, wl, inspects)
    return instance_status(
        [s.name for s in wl.services],
        {s.name: s.role for s in wl.services},
        inspects,
        probes,
        label_prefix=ses.config.label_prefix,
        endpoints=ses.tr.endpoints(wl, inspects),
        metadata={
            "network": ses.tr.names.network(instance_id),
            "release_id": wl.release_id,
            "replicas": str(len(ses.units(inspects))),
            "kind": str(wl.kind),
        },
    )


async def _probe_running(
    tr: Translator, engine: Engine, wl: Workload, inspects: Sequence[JSON]
) -> dict[tuple[str, int], ProbeResult]:
    """One probe of every running long-lived container whose service has a health
    check (concurrently): a service is ready only while its check passes."""
    keys = tr.labels
    jobs: dict[tuple[str, int], Awaitable[GateOutcome]] = {}
    for info in inspects:
        labels = info["Config"]["Labels"]
        if not (info.get("State") or {}).get("Running"):
            continue
        name = labels.get(keys.service, "")
        try:
            svc = wl.service(name)
        except KeyError:
            continue
        if svc.health_check is None or svc.role is ServiceRole.INIT:
            continue
        replica = int(labels.get(keys.replica, "0"))
        jobs[(name, replica)] = gate_service(
            engine,
            svc.health_check.model_copy(update={"retries": 1}),
            service=name,
            replica=replica,
            address=tr.unit_address(wl, inspects, replica),
            container=str(info["Id"]),
        )
    outcomes = await asyncio.gather(*jobs.values())
    return {
        key: outcome.results[-1]
        for key, outcome in zip(jobs, outcomes, strict=True)
        if outcome.results
    }


async def list_summaries(ses: Session, tenant_id: str | None) -> list[InstanceSummary]:
    """Every instance on the engine (of ``tenant_id``), oldest first; one list call."""
    keys = ses.tr.labels
    filters = {"label": [f"{keys.managed}=true"]}
    if tenant_id is not None:
        filters["label"].append(f"{keys.tenant}={tenant_id}")
    found = await ses.engine.list_containers(filters)
    by_instance: dict[str, list[JSON]] = {}
    for c in found:
        iid = c["Labels"].get(keys.instance)
        if iid:
            by_instance.setdefault(iid, []).append(c)
    out: list[InstanceSummary] = []
    for iid, containers in by_instance.items():
        labels = containers[0]["Labels"]
        meta = _json_label(labels.get(keys.workload, "{}"))
        states = []
        for c in containers:
            running = c.get("State") == "running"
            init = c["Labels"].get(keys.role) == str(ServiceRole.INIT)
            if init:
                continue
            states.append(InstanceState.RUNNING if running else InstanceState.STOPPED)
        created = min(int(c.get("Created") or 0) for c in containers)
        out.append(
            InstanceSummary(
                instance_id=iid,
                tenant_id=labels.get(keys.tenant, ""),
                name=str(meta.get("name", "")),
                state=worst_state(states),
                release_id=max(c["Labels"].get(keys.release, "") for c in containers),
                created_at=datetime.fromtimestamp(created, UTC),
            )
        )
    out.sort(key=lambda s: (s.created_at or datetime.min.replace(tzinfo=UTC), s.instance_id))
    return out


def _json_label(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def resource_usage(ses: Session, instance_id: str) -> ResourceUsage:
    """CPU (100 = one core), memory and network summed over running containers."""
    _, inspects = await ses.load(instance_id)
    running = [i for i in inspects if (i.get("State") or {}).get("Running")]
    stats = await asyncio.gather(*(ses.engine.stats(i["Id"]) for i in running))
    samples = []
    for info, sample in zip(running, stats, strict=True):
        if sample is None:
            continue
        configured = int((info.get("HostConfig") or {}).get("Memory") or 0)
        owns = info["Config"]["Labels"].get(ses.tr.labels.netns) in ("owner", "own")
        samples.append((sample, configured, owns))
    return sum_usage(samples)
