"""Container inspects -> one :class:`UnitStatus` row per container (pure, no I/O).

Every container of an instance is a row (a rollout's new units and the old ones renamed
``-retiring`` beside them too): its service, replica, the release it was created for
(its label), image, state, health (from one probe when its service has a check),
restarts, the endpoints that reach it, its start time. Rows come in the services'
start-up order, then by replica (a ``-retiring`` container after its successor).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.provider.docker.observe.state import container_state
from ctrlplane.provider.docker.observe.workload import endpoints, replica_of
from ctrlplane.provider.docker.render.naming import RETIRING_SUFFIX, Labels
from ctrlplane.provider.docker.render.workload import Workload, startup_names
from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.reporting import private_endpoint
from ctrlplane.provider.results import Endpoint, UnitStatus

__all__ = ["unit_rows"]

_RETIRING = "retiring (the previous version, beside its successor)"


def _retiring(info: Mapping[str, Any]) -> bool:
    return str(info.get("Name", "")).endswith(RETIRING_SUFFIX)


def _reaching(
    config: DockerConfig,
    wl: Workload,
    unit: Sequence[Mapping[str, Any]],
    fronts: Sequence[Mapping[str, Any]],
) -> list[Endpoint]:
    """The endpoints that reach the containers of ``unit`` (one replica unit's
    containers, all ``-retiring`` or none): unless retiring, the instance's published
    ports (their fronts forward to every unit holding the service names) and each
    service's own in-network name ``<service>-<replica>``."""
    keys = Labels(config.label_prefix)
    out: list[Endpoint] = []
    if unit and not _retiring(unit[0]):
        out += [e for e in endpoints(config, wl, fronts) if e.public]
        replica = replica_of(keys, unit[0])
        out += [
            private_endpoint(svc.name, p, f"{svc.name}-{replica}", str(p.protocol))
            for svc in wl.services
            for p in svc.ports
        ]
    return out


def unit_rows(
    config: DockerConfig,
    wl: Workload,
    inspects: Sequence[Mapping[str, Any]],
    probes: Mapping[str, ProbeResult],
    fronts: Sequence[Mapping[str, Any]] = (),
) -> list[UnitStatus]:
    """The rows of an instance's containers; ``probes`` holds one probe result per
    running container (by container ID) whose service has a health check; ``fronts``
    the instance's fronts (its published ports)."""
    keys = Labels(config.label_prefix)
    order = {
        name: i for i, name in enumerate(n for wave in startup_names(wl.services) for n in wave)
    }
    rows: list[tuple[int, int, bool, UnitStatus]] = []
    for info in inspects:
        cs = container_state(info, config.label_prefix)
        probe = probes.get(cs.container_id)
        health, ready, message = "", cs.ready, cs.message
        if probe is not None:
            health = "healthy" if probe.healthy else "unhealthy"
            if not probe.healthy and cs.ready:
                ready, message = False, f"health check failing: {probe.observed}"
        elif cs.state is InstanceState.RUNNING and _has_check(wl, cs.service):
            health = "starting"
        labels = info["Config"]["Labels"]
        unit = [
            i
            for i in inspects
            if replica_of(keys, i) == cs.replica and _retiring(i) == _retiring(info)
        ]
        row = UnitStatus(
            service=cs.service,
            replica=cs.replica,
            release_id=str(labels.get(keys.release, "")),
            image=str((info.get("Config") or {}).get("Image", "")),
            state=cs.state,
            ready=ready,
            health=health,
            restarts=cs.restarts,
            ports=[e for e in _reaching(config, wl, unit, fronts) if e.service_name == cs.service],
            started_at=cs.started_at,
            provider_ref=cs.container_id,
            message="; ".join(m for m in (_RETIRING if _retiring(info) else "", message) if m),
        )
        rows.append((order.get(cs.service, len(order)), cs.replica, _retiring(info), row))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [row for *_, row in rows]


def _has_check(wl: Workload, service: str) -> bool:
    try:
        return wl.service(service).health_check is not None
    except KeyError:
        return False
