"""Container inspects -> ctrlplane status (pure functions, no I/O).

Mapping of one container (``docker inspect`` ``State``):

- ``running`` -> running (ready); ``restarting`` -> starting ("restarting after exit N").
- ``created`` -> provisioning; ``paused`` -> stopped; ``removing`` -> destroying;
  ``dead`` -> failed.
- ``exited`` with code 0 -> stopped (for an init: completed, which counts as done).
- ``exited`` with 143/137 (SIGTERM/SIGKILL, not OOM) -> stopped: what a stop does.
- any other exit code, or OOM-killed -> failed, with the code (and "OOM-killed") in
  the message.

A service aggregates its replicas worst-of; the instance aggregates its services
worst-of, where a completed init counts as done (it is left out) and a failed init
fails the instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.reporting import worst_of
from ctrlplane.provider.results import Endpoint, InstanceStatus, ServiceStatus, worst_state

__all__ = [
    "ContainerState",
    "aggregate_service",
    "container_state",
    "instance_status",
    "parse_time",
]

_STOP_SIGNAL_EXITS = frozenset({128 + 15, 128 + 9})


def parse_time(text: str | None) -> datetime | None:
    """An engine timestamp (RFC 3339 with nanoseconds); ``None`` for the zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    head, sep, rest = value.partition(".")
    if sep:
        digits = ""
        tail = rest
        while tail and tail[0].isdigit():
            digits, tail = digits + tail[0], tail[1:]
        value = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ContainerState:
    """One container's state as ctrlplane sees it."""

    service: str
    role: ServiceRole
    replica: int
    container_id: str
    state: InstanceState
    ready: bool
    restarts: int
    message: str
    started_at: datetime | None
    completed: bool
    """An init that exited 0."""


def container_state(inspect: Mapping[str, Any], label_prefix: str) -> ContainerState:
    """Map one ``docker inspect`` answer to a :class:`ContainerState`."""
    labels = inspect["Config"]["Labels"]
    st = inspect.get("State") or {}
    role = ServiceRole(labels.get(f"{label_prefix}.role", "main"))
    status = str(st.get("Status", ""))
    code = int(st.get("ExitCode") or 0)
    oom = bool(st.get("OOMKilled"))
    error = str(st.get("Error") or "")
    message = ""
    completed = False
    ready = False
    if status == "running":
        state, ready = InstanceState.RUNNING, True
        health = (st.get("Health") or {}).get("Status")
        if health and health != "healthy":
            ready = False
            message = f"health: {health}"
    elif status == "restarting":
        state = InstanceState.STARTING
        message = f"restarting after exit code {code}"
    elif status == "created":
        state = InstanceState.PROVISIONING
        message = "created, not started"
    elif status == "paused":
        state = InstanceState.STOPPED
        message = "paused"
    elif status == "removing":
        state = InstanceState.DESTROYING
    elif status == "exited":
        if oom:
            state = InstanceState.FAILED
            message = f"OOM-killed (exit code {code})"
        elif code == 0:
            state = InstanceState.STOPPED
            completed = role is ServiceRole.INIT
            message = "completed" if completed else "exited with code 0"
        elif code in _STOP_SIGNAL_EXITS and role is not ServiceRole.INIT:
            state = InstanceState.STOPPED
            message = f"stopped (exit code {code})"
        else:
            state = InstanceState.FAILED
            message = f"exited with code {code}"
    else:  # dead or unknown
        state = InstanceState.FAILED
        message = f"container is {status or 'in an unknown state'}"
    if error and state is InstanceState.FAILED:
        message = f"{message}: {error}"
    return ContainerState(
        service=labels.get(f"{label_prefix}.service", ""),
        role=role,
        replica=int(labels.get(f"{label_prefix}.replica", "0")),
        container_id=str(inspect.get("Id", "")),
        state=state,
        ready=ready,
        restarts=int(inspect.get("RestartCount") or 0),
        message=message,
        started_at=parse_time(st.get("StartedAt")) if status == "running" else None,
        completed=completed,
    )


def aggregate_service(states: Sequence[ContainerState]) -> ServiceStatus:
    """Worst-of over the replicas of one service (``states`` non-empty)."""
    ordered = sorted(states, key=lambda s: s.replica)
    worst = worst_state(s.state for s in ordered)
    ready = all(s.completed for s in ordered) or all(s.ready for s in ordered)
    messages = []
    for s in ordered:
        if s.message and (s.state is worst or len(ordered) == 1):
            prefix = f"replica {s.replica}: " if len(ordered) > 1 else ""
            messages.append(prefix + s.message)
    return ServiceStatus(
        state=worst,
        ready=ready,
        restarts=sum(s.restarts for s in ordered),
        provider_ref=ordered[0].container_id,
        message="; ".join(messages),
    )


def counts_for_instance(states: Sequence[ContainerState]) -> bool:
    """Whether a service's replicas take part in the instance's worst-of state."""
    return not all(s.completed for s in states)


def instance_status(
    services: Sequence[str],
    roles: Mapping[str, ServiceRole],
    inspects: Sequence[Mapping[str, Any]],
    probes: Mapping[tuple[str, int], ProbeResult],
    *,
    label_prefix: str,
    endpoints: Sequence[Endpoint],
    metadata: Mapping[str, str],
) -> InstanceStatus:
    """The instance status from its containers (``services`` in request order).

    ``probes`` holds one health probe per running (service, replica) that has a check:
    a failing probe makes that replica not ready. A service without containers is failed.
    ``started_at`` is the earliest start of a running long-lived container.
    """
    per: dict[str, list[ContainerState]] = {}
    for info in inspects:
        cs = container_state(info, label_prefix)
        probe = probes.get((cs.service, cs.replica))
        if cs.ready and probe is not None and not probe.healthy:
            cs = replace(cs, ready=False, message=f"health check failing: {probe.observed}")
        per.setdefault(cs.service, []).append(cs)
    out: dict[str, ServiceStatus] = {}
    counted: list[ServiceStatus] = []
    started: list[datetime] = []
    messages: list[str] = []
    for name in services:
        states = per.get(name, [])
        if not states:
            out[name] = ServiceStatus(state=InstanceState.FAILED, message="container missing")
            counted.append(out[name])
            messages.append(f"{name}: container missing")
            continue
        st = aggregate_service(states)
        out[name] = st
        if counts_for_instance(states):
            counted.append(st)
        if roles.get(name) is not ServiceRole.INIT:
            started.extend(s.started_at for s in states if s.started_at)
        if st.state is InstanceState.FAILED:
            messages.append(f"{name}: {st.message}")
    state = worst_state(s.state for s in counted) if counted else InstanceState.RUNNING
    # a missing service is failed, so only present long-lived ones can be not ready here
    long_lived = [out[n] for n in services if roles.get(n) is not ServiceRole.INIT]
    return worst_of(
        state,
        out,
        long_lived,
        started=started,
        message="; ".join(messages),
        endpoints=endpoints,
        metadata=metadata,
    )
