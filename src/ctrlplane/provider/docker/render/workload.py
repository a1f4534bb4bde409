"""The Docker model of an instance (pure, no I/O): its :class:`Workload`, the start-up
order of a unit's services, who owns a unit's network namespace, which containers a
change replaces, and the spec as the spec label keeps it.

One instance is one bridge network plus, per replica unit, one container per service.
The services of a unit share one network namespace, owned by the unit's first
long-lived service to start (the main service unless it depends on a sidecar); the
other long-lived services join it, so they reach each other on ``localhost`` as in a
pod. Inits run before that namespace exists, each in its own namespace on the instance
network.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctrlplane.provider.enums import ServiceRole, WorkloadKind
from ctrlplane.provider.releases import config_digest
from ctrlplane.provider.spec import ProvisionRequest, ResourceSpec, ServiceSpec
from ctrlplane.provider.validation import startup_order

__all__ = [
    "Workload",
    "blue_green_services",
    "config_digest",
    "init_waves",
    "long_lived_waves",
    "netns_owner",
    "redacted_spec",
    "replaced_services",
    "scaled",
    "startup_names",
]


@dataclass(frozen=True, slots=True)
class Workload:
    """An instance's desired shape, from a request or read back from container labels.

    ``services`` keeps request order. Config file contents are empty when read back
    (they live only inside the containers). ``replicas`` is the number of replica units.
    """

    instance_id: str
    tenant_id: str
    name: str
    kind: WorkloadKind
    labels: Mapping[str, str]
    services: tuple[ServiceSpec, ...]
    replicas: int
    release_id: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(cls, req: ProvisionRequest, release_id: str) -> Workload:
        """The workload a (valid) provision request describes."""
        replicas = max(req.main.resources.replicas, 1)
        return cls(
            instance_id=req.instance_id,
            tenant_id=req.tenant_id,
            name=req.name,
            kind=req.kind,
            labels=dict(req.labels),
            services=tuple(req.services),
            replicas=replicas,
            release_id=release_id,
        )

    @property
    def main(self) -> ServiceSpec:
        return next(s for s in self.services if s.role is ServiceRole.MAIN)

    @property
    def owner(self) -> str:
        """The name of the service that owns each unit's network namespace."""
        return netns_owner(self.services).name

    def service(self, name: str) -> ServiceSpec:
        """The service called ``name``; ``KeyError`` if there is none."""
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)

    def is_init(self, name: str) -> bool:
        """Whether service ``name`` is an init."""
        return self.service(name).role is ServiceRole.INIT

    def with_services(self, services: Sequence[ServiceSpec], release_id: str) -> Workload:
        """A copy with ``services`` replaced and a new release."""
        return Workload(
            self.instance_id,
            self.tenant_id,
            self.name,
            self.kind,
            self.labels,
            tuple(services),
            self.replicas,
            release_id,
        )


def long_lived_waves(services: Sequence[ServiceSpec]) -> list[list[ServiceSpec]]:
    """Start-up waves of the mains and sidecars (inits excluded), in dependency order."""
    waves = startup_order(services)
    out = [[s for s in wave if s.role is not ServiceRole.INIT] for wave in waves]
    return [w for w in out if w]


def init_waves(services: Sequence[ServiceSpec]) -> list[list[ServiceSpec]]:
    """Waves of the init services, in dependency order."""
    waves = startup_order(services)
    out = [[s for s in wave if s.role is ServiceRole.INIT] for wave in waves]
    return [w for w in out if w]


def startup_names(services: Sequence[ServiceSpec]) -> list[list[str]]:
    """Service names in start-up order (inits first), wave by wave."""
    return [[s.name for s in w] for w in (*init_waves(services), *long_lived_waves(services))]


def netns_owner(services: Sequence[ServiceSpec]) -> ServiceSpec:
    """The long-lived service whose container owns the unit's network namespace.

    The main service if it is in the first start-up wave, else the first service of
    that wave (a main that depends on a sidecar joins the sidecar's namespace).
    """
    first = long_lived_waves(services)[0]
    for svc in first:
        if svc.role is ServiceRole.MAIN:
            return svc
    return first[0]


def replaced_services(wl: Workload, changed: Collection[str]) -> list[str]:
    """Which services' containers a change of ``changed`` replaces in each unit: every
    service when an init changes, every long-lived one when the namespace owner changes,
    else the changed ones."""
    services = wl.services
    if any(wl.is_init(n) for n in changed):
        return [s.name for s in services]
    if wl.owner in changed:
        return [s.name for s in services if s.role is not ServiceRole.INIT]
    return [s.name for s in services if s.name in changed]


def blue_green_services(wl: Workload, changed: Collection[str]) -> list[str]:
    """Which services' containers a blue-green deploy of ``changed`` starts anew in each
    unit: every long-lived one (a whole new set), and the inits too when one changes."""
    inits_change = any(wl.is_init(n) for n in changed)
    return [s.name for s in wl.services if s.role is not ServiceRole.INIT or inits_change]


def scaled(svc: ServiceSpec, spec: ResourceSpec) -> ServiceSpec:
    """``svc`` with the non-zero CPU and memory of ``spec`` applied."""
    res = svc.resources
    update: dict[str, Any] = {}
    if spec.cpu_millis:
        update["cpu_millis"] = spec.cpu_millis
    if spec.memory_mb:
        update["memory_mb"] = spec.memory_mb
    return svc.model_copy(update={"resources": res.model_copy(update=update)})


def redacted_spec(svc: ServiceSpec) -> str:
    """The service spec as stored in the spec label: config contents replaced by a digest
    (:func:`~ctrlplane.provider.releases.config_digest`, the one a release keeps).

    Secret references (keys and types) are kept; secret values are never part of a spec.
    Read back by :func:`ctrlplane.provider.docker.observe.workload.spec_from_label`.
    """
    data = svc.model_dump(mode="json")
    for cf in data.get("config_files", []):
        cf["content"] = ""
    data["config_digest"] = config_digest(svc.config_files) if svc.config_files else ""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
