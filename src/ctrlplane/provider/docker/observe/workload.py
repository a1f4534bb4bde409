"""Container and network inspects -> the instance as ctrlplane sees it (pure, no I/O):
the workload read back from labels, its units, addresses, endpoints, the provision result
and the instance list.

The inverse of :mod:`ctrlplane.provider.docker.render`: every fact comes from labels the
render wrote or from the engine's live state (addresses, port bindings, limits that
``scale`` changed in place).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.provider.docker.render.naming import Labels, Names
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.enums import InstanceState, ServiceRole, WorkloadKind
from ctrlplane.provider.native import JSON
from ctrlplane.provider.reporting import private_endpoint
from ctrlplane.provider.results import Endpoint, InstanceSummary, ProvisionResult, worst_state
from ctrlplane.provider.spec import ServiceSpec

__all__ = [
    "address_pools",
    "endpoints",
    "fixed_addressing",
    "front_host_port",
    "front_url",
    "fronts_by_key",
    "instance_metadata",
    "is_complete",
    "network_endpoint",
    "provision_result",
    "replica_of",
    "spec_from_label",
    "summaries",
    "unit_address",
    "units",
    "workload_from_containers",
]


def spec_from_label(text: str, host_config: Mapping[str, Any] | None = None) -> ServiceSpec:
    """A service spec from its label; CPU and memory limits come from ``host_config``
    (the live values, which ``scale`` changes in place)."""
    data = json.loads(text)
    data.pop("config_digest", None)
    svc = ServiceSpec.model_validate(data)
    if host_config is not None:
        cpu = int(host_config.get("NanoCpus") or 0) // 1_000_000
        mem = int(host_config.get("Memory") or 0) // (1024 * 1024)
        svc = svc.model_copy(
            update={
                "resources": svc.resources.model_copy(update={"cpu_millis": cpu, "memory_mb": mem})
            }
        )
    return svc


def _labels(info: Mapping[str, Any]) -> Mapping[str, str]:
    """The labels of a container inspect (``Config.Labels``) or list entry (``Labels``)."""
    found = info["Config"]["Labels"] if "Config" in info else info.get("Labels")
    return found or {}


def replica_of(keys: Labels, info: Mapping[str, Any]) -> int:
    """The replica unit a container (inspect or list entry) belongs to."""
    return int(_labels(info).get(keys.replica, "0"))


def units(keys: Labels, inspects: Iterable[Mapping[str, Any]]) -> list[int]:
    """The replica unit numbers present among ``inspects``, ascending."""
    return sorted({replica_of(keys, i) for i in inspects})


def workload_from_containers(keys: Labels, inspects: Sequence[Mapping[str, Any]]) -> Workload:
    """The workload described by the labels of an instance's containers (non-empty).

    The lowest replica unit present is the template; the replica count is the number
    of distinct units; the release is the newest release label.
    """
    first = _labels(inspects[0])
    meta = json.loads(first.get(keys.workload, "{}"))
    present = units(keys, inspects)
    template = min(present)
    by_index: dict[int, ServiceSpec] = {}
    for c in inspects:
        labels = _labels(c)
        if replica_of(keys, c) != template:
            continue
        by_index[int(labels.get(keys.index, "0"))] = spec_from_label(
            labels[keys.spec], c.get("HostConfig")
        )
    services = tuple(by_index[i] for i in sorted(by_index))
    releases = [_labels(c).get(keys.release, "") for c in inspects]
    return Workload(
        instance_id=first[keys.instance],
        tenant_id=first.get(keys.tenant, ""),
        name=str(meta.get("name", "")),
        kind=WorkloadKind(meta.get("kind") or WorkloadKind.DEPLOYMENT),
        labels=dict(meta.get("labels") or {}),
        services=services,
        replicas=len(present),
        release_id=max(releases, default=""),
    )


def network_endpoint(info: Mapping[str, Any] | None, network: str) -> Mapping[str, Any]:
    """A container's endpoint on ``network`` (``IPAddress``, ``Aliases``...), or ``{}``
    when it is not on it (or ``info`` is ``None``: the container is gone)."""
    networks = ((info or {}).get("NetworkSettings") or {}).get("Networks") or {}
    found: Mapping[str, Any] = networks.get(network) or {}
    return found


def unit_address(
    keys: Labels, network: str, inspects: Sequence[Mapping[str, Any]], replica: int
) -> str:
    """The IP of replica unit ``replica`` on the instance ``network`` ("" if unknown):
    the first of the ``inspects`` (its namespace holders) that holds that unit's."""
    for info in inspects:
        if _labels(info).get(keys.netns) != "owner" or replica_of(keys, info) != replica:
            continue
        return str(network_endpoint(info, network).get("IPAddress") or "")
    return ""


def address_pools(network: Mapping[str, Any]) -> list[JSON]:
    """The subnets (and gateways) the engine gave a network (``[]`` for a driver that
    assigns none)."""
    configs = (network.get("IPAM") or {}).get("Config") or []
    return [
        {k: c[k] for k in ("Subnet", "Gateway") if c.get(k)} for c in configs if c.get("Subnet")
    ]


def fixed_addressing(keys: Labels, network: Mapping[str, Any] | None) -> bool:
    """Whether the instance network's subnet was pinned at creation (a container can then
    rejoin it under the same address)."""
    return ((network or {}).get("Labels") or {}).get(keys.addressing) == "fixed"


def front_host_port(info: Mapping[str, Any] | None) -> tuple[str, int]:
    """The host address and port a front (inspect) holds: its pinned port binding, else
    the port the engine bound while it runs (``("", 0)`` when neither is known)."""
    host = (info or {}).get("HostConfig") or {}
    live = ((info or {}).get("NetworkSettings") or {}).get("Ports") or {}
    for bindings in (host.get("PortBindings") or {}, live):
        for bound in bindings.values():
            for binding in bound or []:
                port = int(binding.get("HostPort") or 0)
                if port:
                    return str(binding.get("HostIp") or ""), port
    return "", 0


def front_url(config: DockerConfig, protocol: str, info: Mapping[str, Any] | None) -> str:
    """``<protocol>://<address>:<port>`` of a front (``""`` when its port is unknown)."""
    addr, port = front_host_port(info)
    if not port:
        return ""
    if not addr or addr in ("0.0.0.0", "::"):
        addr = config.publish_host
    if ":" in addr:
        addr = f"[{addr}]"
    return f"{protocol}://{addr}:{port}"


def fronts_by_key(
    keys: Labels, fronts: Iterable[Mapping[str, Any]]
) -> dict[str, Mapping[str, Any]]:
    """Front inspects (or list entries) by the ``<service>:<port>/<protocol>`` they publish."""
    return {str(_labels(f).get(keys.front, "")): f for f in fronts}


def endpoints(
    config: DockerConfig, wl: Workload, fronts: Sequence[Mapping[str, Any]]
) -> list[Endpoint]:
    """In-network endpoints (one per service port) and published ones (one per front).

    In-network: ``<protocol>://<service>:<port>`` on the instance network (``public``
    false). Published: ``<protocol>://<publish_host>:<host port>`` held by the port's
    front (``public`` true); the same for the instance's whole life.
    """
    keys = Labels(config.label_prefix)
    by_key = fronts_by_key(keys, fronts)
    out: list[Endpoint] = []
    for svc in wl.services:
        for port in svc.ports:
            proto = str(port.protocol)
            out.append(private_endpoint(svc.name, port, svc.name, proto))
            url = front_url(config, proto, by_key.get(f"{svc.name}:{port.container}/{proto}"))
            if url:
                out.append(
                    Endpoint(
                        service_name=svc.name,
                        url=url,
                        port=int(url.rsplit(":", 1)[1]),
                        protocol=proto,
                        public=True,
                    )
                )
    return out


def instance_metadata(names: Names, wl: Workload, replicas: int) -> dict[str, str]:
    """The ``metadata`` of an instance's provision result and status."""
    return {
        "network": names.network(wl.instance_id),
        "release_id": wl.release_id,
        "replicas": str(replicas),
        "kind": str(wl.kind),
    }


def provision_result(
    config: DockerConfig,
    wl: Workload,
    inspects: Sequence[Mapping[str, Any]],
    fronts: Sequence[Mapping[str, Any]],
) -> ProvisionResult:
    """The :class:`ProvisionResult` of an instance from its containers and fronts."""
    keys, names = Labels(config.label_prefix), Names(config.name_prefix)
    present = units(keys, inspects)
    template = min(present) if present else 0
    refs = {
        _labels(i)[keys.service]: str(i["Id"]) for i in inspects if replica_of(keys, i) == template
    }
    return ProvisionResult(
        provider_ref=names.network(wl.instance_id),
        service_refs=refs,
        endpoints=endpoints(config, wl, fronts),
        metadata=instance_metadata(names, wl, len(present) if present else wl.replicas),
    )


def is_complete(config: DockerConfig, wl: Workload, inspects: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every container of every present unit exists (an instance that a provision
    left half made is not)."""
    keys, names = Labels(config.label_prefix), Names(config.name_prefix)
    found = {str(i.get("Name", "")).lstrip("/") for i in inspects}
    present = units(keys, inspects)
    expected = {names.container(wl.instance_id, r, s.name) for r in present for s in wl.services}
    return found == expected and len(present) >= 1


def _json_label(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def summaries(keys: Labels, containers: Iterable[Mapping[str, Any]]) -> list[InstanceSummary]:
    """One summary per instance among ``containers`` (container list entries of every
    managed instance), oldest first."""
    by_instance: dict[str, list[Mapping[str, Any]]] = {}
    for c in containers:
        iid = _labels(c).get(keys.instance)
        # a lease container, a front or a namespace holder is no instance's unit
        own = (keys.lease, keys.front, keys.pod)
        if iid and not any(k in _labels(c) for k in own):
            by_instance.setdefault(iid, []).append(c)
    out: list[InstanceSummary] = []
    for iid, found in by_instance.items():
        labels = _labels(found[0])
        meta = _json_label(labels.get(keys.workload, "{}"))
        states = [
            InstanceState.RUNNING if c.get("State") == "running" else InstanceState.STOPPED
            for c in found
            if _labels(c).get(keys.role) != str(ServiceRole.INIT)
        ]
        created = min(int(c.get("Created") or 0) for c in found)
        out.append(
            InstanceSummary(
                instance_id=iid,
                tenant_id=labels.get(keys.tenant, ""),
                name=str(meta.get("name", "")),
                state=worst_state(states),
                release_id=max(_labels(c).get(keys.release, "") for c in found),
                created_at=datetime.fromtimestamp(created, UTC),
            )
        )
    out.sort(key=lambda s: (s.created_at or datetime.min.replace(tzinfo=UTC), s.instance_id))
    return out
