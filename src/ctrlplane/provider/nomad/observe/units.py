"""An instance's units (pure): one :class:`~ctrlplane.provider.results.UnitStatus` per
task of every allocation meant to run (:func:`live_allocs`: the current version's, and
during a rollout the old version's and the canaries'), in the services' start-up order,
then by replica.

Per task: the service (the task's name), the replica (the allocation's index), the
release and image of the job version the allocation runs (its ``Meta`` and the task's
docker ``image``), the state and restarts from the task state (as ``status`` reads
them), the published host ports of the allocation's ports of that service, when the
task started, and ``health`` for a running long-lived service with a health check:
from its check results (Nomad's native checks, or ctrlplane's probes) -- ``healthy``,
``unhealthy``, or ``starting`` while the check has no result yet -- or, where the
agent cannot see the checks (Consul's), from the allocation's deployment health.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.nomad.observe.allocations import alloc_replica, parse_time
from ctrlplane.provider.nomad.observe.history import release_meta, request_from_job
from ctrlplane.provider.nomad.observe.status import endpoints, task_state
from ctrlplane.provider.results import UnitStatus
from ctrlplane.provider.validation import startup_order

__all__ = ["has_native_checks", "live_allocs", "unit_rows"]

HEALTH = {"success": "healthy", "failure": "unhealthy"}
"""A check result's ``Status`` as a unit's health (``pending`` and others: starting)."""


def live_allocs(allocs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The allocations meant to run, of any job version, by replica then age."""
    found = [dict(a) for a in allocs if a.get("DesiredStatus") == "run"]
    return sorted(found, key=lambda a: (alloc_replica(a), int(a.get("CreateIndex") or 0)))


def has_native_checks(job: Mapping[str, Any]) -> bool:
    """Whether ``job``'s checks are Nomad's own (their results are read per allocation
    from its client); Consul's are not visible to Nomad's API."""
    for group in job.get("TaskGroups") or []:
        for service in group.get("Services") or []:
            if service.get("Provider") == "nomad" and service.get("Checks"):
                return True
    return False


def _image(job: Mapping[str, Any], task: str, fallback: str) -> str:
    for group in job.get("TaskGroups") or []:
        for entry in group.get("Tasks") or []:
            if entry.get("Name") == task:
                return str((entry.get("Config") or {}).get("image") or fallback)
    return fallback


def _health(
    results: Mapping[str, Mapping[str, Any]] | None,
    alloc: Mapping[str, Any],
    task: str,
) -> str:
    """A running health-checked task's health: from its check results, or (``None``:
    the checks are not visible) from the allocation's deployment health."""
    if results is None:
        healthy = (alloc.get("DeploymentStatus") or {}).get("Healthy")
        return "starting" if healthy is None else ("healthy" if healthy else "unhealthy")
    mine = [r for r in results.values() if r.get("Task") == task]
    if not mine:
        return "starting"
    verdicts = {HEALTH.get(str(r.get("Status")), "starting") for r in mine}
    for verdict in ("unhealthy", "starting"):
        if verdict in verdicts:
            return verdict
    return "healthy"


def unit_rows(
    job: Mapping[str, Any],
    allocs: Sequence[Mapping[str, Any]],
    checks: Mapping[str, Mapping[str, Mapping[str, Any]]] | None,
    older: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[UnitStatus]:
    """The units of ``allocs`` (allocations meant to run, with their allocated
    resources) of ``job`` (its current version); ``older`` holds the other job versions
    some of them run, by version number. ``checks`` maps an allocation ID to its check
    results, or is ``None`` when the agent cannot see them (Consul checks)."""
    versions = {int(job.get("Version") or 0): job, **(older or {})}
    specs = {n: request_from_job(version) for n, version in versions.items()}
    waves = startup_order(request_from_job(job).services)
    order = {s.name: i for i, s in enumerate(s for wave in waves for s in wave)}
    rows: list[tuple[int, int, int, UnitStatus]] = []
    for n, alloc in enumerate(allocs):
        version = int(alloc.get("JobVersion") or 0)
        runs = versions.get(version, job)
        spec = specs.get(version) or request_from_job(job)
        states = alloc.get("TaskStates") or {}
        alloc_id = str(alloc.get("ID", ""))
        ports = [e for e in endpoints(spec, [alloc]) if e.public]
        for svc in spec.services:
            state, message, restarts = task_state(states.get(svc.name))
            checked = svc.health_check is not None and svc.role is not ServiceRole.INIT
            health = ""
            if checked and state is InstanceState.RUNNING:
                found = None if checks is None else checks.get(alloc_id, {})
                health = _health(found, alloc, svc.name)
            unit = UnitStatus(
                service=svc.name,
                replica=alloc_replica(alloc),
                release_id=release_meta(runs).release_id,
                image=_image(runs, svc.name, svc.image),
                state=state,
                ready=state is InstanceState.RUNNING and health in ("", "healthy"),
                health=health,
                restarts=restarts,
                ports=[p for p in ports if p.service_name == svc.name],
                started_at=parse_time((states.get(svc.name) or {}).get("StartedAt")),
                provider_ref=f"{alloc_id}/{svc.name}",
                message=message if state is not InstanceState.RUNNING else "",
            )
            rows.append((order.get(svc.name, len(order)), alloc_replica(alloc), n, unit))
    return [unit for *_, unit in sorted(rows, key=lambda r: r[:3])]
