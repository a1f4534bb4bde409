"""An instance's status from its service and tasks (pure).

Each service (container) of each current task (desired ``RUNNING``) has a state:
``PROVISIONING``/``STARTING`` while the task is provisioned or its containers start,
``RUNNING`` (ready once ``HEALTHY`` when it has a health check), ``STOPPING`` while the
task stops, an init that exited 0 ``STOPPED``, any other exit ``FAILED``; a service's
state is the worst over the tasks, the instance's the worst over its long-lived
services (inits are reported but not aggregated). With a desired count of 0 the
instance is ``STOPPED``. ``restarts`` counts, per service, the tasks of the service that
failed because of that container (ECS replaces a failed task as a whole). Endpoints are
the load balancer's listeners (with a target group) and the serving tasks' private
addresses with each mapped port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ctrlplane.provider.ecs.observe.instance import Instance
from ctrlplane.provider.ecs.observe.tasks import container, failed, failure, ordered, task_ip
from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.native import JSON
from ctrlplane.provider.reporting import private_endpoint, web_scheme
from ctrlplane.provider.results import Endpoint, InstanceStatus, ServiceStatus, worst_state
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["container_state", "endpoints", "instance_status", "restarts"]


def container_state(
    task: Mapping[str, Any], name: str, role: ServiceRole
) -> tuple[InstanceState, bool]:
    """The state of container ``name`` in ``task`` and whether it is ready."""
    if task.get("desiredStatus") == "STOPPED":
        return InstanceState.STOPPING, False
    last = task.get("lastStatus")
    if last == "PROVISIONING":
        return InstanceState.PROVISIONING, False
    c = container(task, name)
    if c is None:
        return InstanceState.STARTING, False
    status = c.get("lastStatus")
    if status == "RUNNING":
        health = c.get("healthStatus")
        return InstanceState.RUNNING, health in (None, "HEALTHY")
    if status == "STOPPED":
        if c.get("exitCode") == 0 and role is ServiceRole.INIT:
            return InstanceState.STOPPED, True
        if c.get("exitCode") is None and not c.get("reason"):
            return InstanceState.STOPPED, False
        return InstanceState.FAILED, False
    return InstanceState.STARTING, False


def restarts(req: ProvisionRequest, stopped: Sequence[JSON]) -> dict[str, int]:
    """Per service, how many of ``stopped`` failed because of it."""
    inits = [s.name for s in req.services if s.role is ServiceRole.INIT]
    out = {s.name: 0 for s in req.services}
    for task in stopped:
        if failed(task):
            name = failure(task, inits).container
            if name in out:
                out[name] += 1
    return out


def endpoints(req: ProvisionRequest, serving: Sequence[JSON]) -> list[Endpoint]:
    """``<scheme>://<task address>:<port>`` of every port of every serving task."""
    out: list[Endpoint] = []
    for task in ordered(serving):
        ip = task_ip(task)
        if not ip or task.get("lastStatus") != "RUNNING" or task.get("desiredStatus") != "RUNNING":
            continue
        for svc in req.services:
            for port in svc.ports:
                out.append(private_endpoint(svc.name, port, ip, web_scheme(port)))
    return out


def _started(tasks: Sequence[JSON]) -> datetime | None:
    times = [
        t["startedAt"] for t in tasks if t.get("startedAt") and t.get("desiredStatus") == "RUNNING"
    ]
    return min(times) if times else None


def instance_status(
    inst: Instance,
    current: Sequence[JSON],
    stopped: Sequence[JSON],
    serving: Sequence[JSON],
    balanced: Sequence[Endpoint] = (),
) -> InstanceStatus:
    """The status of ``inst`` from its current tasks, its recently stopped ones, the
    tasks that serve it and its load balancer's endpoints (see the module docs)."""
    req = inst.request
    counts = restarts(req, stopped)
    inits = [s.name for s in req.services if s.role is ServiceRole.INIT]
    deployment = inst.primary_deployment()
    failed_rollout = deployment.get("rolloutState") == "FAILED"
    last_failure = ""
    recent = sorted((t for t in stopped if failed(t)), key=lambda t: str(t.get("stoppedAt") or ""))
    if recent:
        last_failure = failure(recent[-1], inits).reason
    services: dict[str, ServiceStatus] = {}
    for svc in req.services:
        if inst.desired == 0 and not current:
            state, ready = InstanceState.STOPPED, False
        elif not current:
            state = InstanceState.FAILED if failed_rollout else InstanceState.STARTING
            ready = False
        else:
            seen = [container_state(t, svc.name, svc.role) for t in current]
            state = worst_state(s for s, _ in seen)
            ready = all(r for _, r in seen)
        message = ""
        if state is not InstanceState.RUNNING and counts[svc.name] and last_failure:
            message = last_failure
        services[svc.name] = ServiceStatus(
            state=state,
            ready=ready,
            restarts=counts[svc.name],
            provider_ref=svc.name,
            message=message,
        )
    long_lived = [s for name, s in services.items() if name not in inits]
    if inst.desired == 0 and not current:
        state = InstanceState.STOPPED
    else:
        state = worst_state(s.state for s in long_lived)
    ready = state is InstanceState.RUNNING and all(s.ready for s in long_lived)
    message = ""
    if state is InstanceState.FAILED or (failed_rollout and state is not InstanceState.RUNNING):
        message = deployment.get("rolloutStateReason", "") or last_failure
        if last_failure and last_failure not in message:
            message = f"{message}; last failure: {last_failure}" if message else last_failure
    return InstanceStatus(
        state=state,
        ready=ready,
        restarts=sum(counts.values()),
        started_at=_started(current),
        message=message,
        endpoints=[*balanced, *endpoints(req, serving)],
        services=services,
        metadata={
            "service": inst.name,
            "task_definition": inst.definition_arn,
            "release_id": inst.release.release_id,
            "desired_count": str(inst.desired),
            "rollout_state": str(deployment.get("rolloutState", "")),
        },
    )
