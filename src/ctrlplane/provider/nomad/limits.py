"""What the Nomad backend can do, and what it cannot do for a given request, with reasons
(pure: every function returns :class:`~ctrlplane.provider.preflight.Refusal` values and
raises nothing; the provider's :class:`~ctrlplane.provider.preflight.Preflight` raises
them, before anything is registered).

- :data:`CAPABILITIES`: the capability table (what works and is tested);
- :class:`NomadLimits`: the spec-dependent refusals the preflight runs for every request
  (:func:`spec_refusals`): ``depends_on`` the lifecycle hooks cannot order, ``depends_on``
  a health-checked service (only with ``dependency_health = "refuse"``), volumes Nomad
  cannot mount, registry secrets it cannot pass, fixed host ports it cannot reserve;
- refusals that need a fact first, computed by the same kind of pure function once the
  fact is read: the agent's version (:func:`version_refusals`, the version read once per
  provider object), canaries of the live instance (:func:`canary_refusals`), a log
  ``since`` against the tasks' start times (:func:`since_refusals`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import SecretType, VolumeType, WorkloadKind
from ctrlplane.provider.nomad.config import (
    BACKEND,
    CSIAccessMode,
    DependencyHealth,
    NetworkMode,
    NomadConfig,
    ServiceProvider,
    VolumeSourceType,
)
from ctrlplane.provider.nomad.observe.allocations import first_start
from ctrlplane.provider.nomad.render.hooks import unorderable
from ctrlplane.provider.nomad.render.shape import JobShape
from ctrlplane.provider.nomad.render.volumes import (
    canary_conflict,
    per_alloc,
    persistent_names,
    source_of,
)
from ctrlplane.provider.nomad.versions import (
    DATACENTER_GLOB,
    NATIVE_SERVICES,
    PER_ALLOC_CSI,
    PER_ALLOC_HOST,
    VARIABLES,
    parse_version,
)
from ctrlplane.provider.preflight import Preflight, Refusal
from ctrlplane.provider.spec import (
    DeployRequest,
    ProvisionRequest,
    ResourceSpec,
    ServiceSpec,
)

__all__ = [
    "CAPABILITIES",
    "NomadLimits",
    "canary_refusals",
    "parse_version",
    "preflight",
    "since_refusals",
    "spec_refusals",
    "version_refusals",
]

CAPABILITIES = (
    Capability.PROVISION,
    Capability.DEPLOY,
    Capability.ROLLING,
    Capability.CANARY,
    Capability.BLUE_GREEN,
    Capability.SCALE,
    Capability.LOGS,
    Capability.EXEC,
    Capability.VOLUMES,
)
"""What the backend declares: only what works and is tested (``docs/nomad.md``)."""


class NomadLimits:
    """The :class:`~ctrlplane.provider.preflight.Limits` of one configuration."""

    def __init__(self, cfg: NomadConfig) -> None:
        self.cfg = cfg

    def provision(self, req: ProvisionRequest) -> list[Refusal]:
        """:func:`spec_refusals` of the request."""
        return spec_refusals(req, self.cfg)

    def deploy(self, req: DeployRequest) -> list[Refusal]:
        """Nothing before the live instance is read: the merged spec gets
        :func:`spec_refusals` then."""
        return []

    def scale(self, spec: ResourceSpec) -> list[Refusal]:
        """Nothing beyond the capability table; the scaled spec gets
        :func:`spec_refusals` once the live instance is read."""
        return []


def preflight(cfg: NomadConfig, capabilities: Iterable[Capability] | None = None) -> Preflight:
    """The preflight of a provider with ``cfg``, narrowed to ``capabilities`` if given."""
    return Preflight(BACKEND, CAPABILITIES, limits=NomadLimits(cfg), narrowed_to=capabilities)


def _refusal(detail: str, capability: Capability = Capability.PROVISION) -> Refusal:
    return Refusal(capability, detail)


def _unawaited_health(services: Sequence[ServiceSpec], cfg: NomadConfig) -> list[Refusal]:
    """``depends_on`` a health-checked service when the configuration refuses the
    started-only ordering (``dependency_health = "refuse"``): Nomad can only start the
    dependant once the dependency's task started, not once its check passes."""
    if cfg.dependency_health != DependencyHealth.REFUSE:
        return []
    checked = {s.name for s in services if s.health_check is not None}
    pairs = [
        f"{svc.name!r} on {dep!r}" for svc in services for dep in svc.depends_on if dep in checked
    ]
    if not pairs:
        return []
    return [
        _refusal(
            f"depends_on {', '.join(pairs)}: the dependency has a health check, and "
            "Nomad's lifecycle hooks wait only until a dependency started, never until it "
            "is healthy. Drop the depends_on (let the service retry), or accept the "
            'started-only ordering (the default) with NomadConfig(dependency_health="started") '
            "(CTRLPLANE_NOMAD_DEPENDENCY_HEALTH=started)"
        )
    ]


def _volumes(req: ProvisionRequest, cfg: NomadConfig) -> list[Refusal]:
    """tmpfs without the docker driver; a single-writer CSI volume shared by the
    replicas of a ``deployment``."""
    out = [
        _refusal(
            f"tmpfs volume {vol.name!r} of {svc.name!r}: tmpfs mounts are written as "
            f"docker driver mount blocks, not for driver {cfg.driver!r}",
            Capability.VOLUMES,
        )
        for svc in req.services
        for vol in svc.volumes
        if vol.type is VolumeType.TMPFS and cfg.driver != "docker"
    ]
    if req.kind is WorkloadKind.STATEFUL_SET:
        return out
    replicas = max(req.main.resources.replicas, 1)
    for name in persistent_names(req):
        src = source_of(cfg, name)
        single = src.access_mode is CSIAccessMode.SINGLE_NODE_WRITER
        if src.type is VolumeSourceType.CSI and single and replicas > 1:
            out.append(
                _refusal(
                    f"volume {name!r} is CSI volume {src.source!r} with access mode "
                    f"single-node-writer, which one allocation can claim, but the deployment "
                    f"has {replicas} replicas: use kind stateful_set (one volume per replica, "
                    f"{src.source!r}[N]) or register the volume with a multi-node access mode "
                    f"and set volume_sources[{name!r}].access_mode",
                    Capability.VOLUMES,
                )
            )
    return out


def _service(svc: ServiceSpec, replicas: int, cfg: NomadConfig) -> list[Refusal]:
    """Registry secrets and ports of one service."""
    out: list[Refusal] = []
    registry = [ref for ref in svc.secrets if ref.type is SecretType.REGISTRY]
    if registry and cfg.driver != "docker":
        out.append(
            _refusal(
                f"registry secret {registry[0].key!r} of {svc.name!r}: pull credentials are "
                f"written as the docker driver's auth block, not for driver {cfg.driver!r}"
            )
        )
    if len(registry) > 1:
        out.append(
            _refusal(
                f"service {svc.name!r} has {len(registry)} registry secrets; the docker "
                "driver takes one auth block per task (keep the one for its image's registry)"
            )
        )
    for port in svc.ports:
        if port.host and replicas > 1:
            out.append(
                _refusal(f"fixed host port {port.host} of {svc.name!r} with {replicas} replicas")
            )
        if cfg.network_mode == NetworkMode.HOST and port.host not in (0, port.container):
            out.append(
                _refusal(
                    f"host network mode binds container ports directly; {svc.name!r} maps "
                    f"{port.container} to host port {port.host}"
                )
            )
    return out


def spec_refusals(req: ProvisionRequest, cfg: NomadConfig) -> list[Refusal]:
    """Everything Nomad cannot run of a valid ``req`` with ``cfg`` (see the module docs),
    in the order the preflight reports them (it raises the first)."""
    out = [_refusal(reason) for reason in unorderable(req.services)]
    out += _unawaited_health(req.services, cfg)
    out += _volumes(req, cfg)
    replicas = max(req.main.resources.replicas, 1)
    for svc in req.services:
        out += _service(svc, replicas, cfg)
    return out


def canary_refusals(req: ProvisionRequest, canaries: int) -> list[Refusal]:
    """A deploy that needs ``canaries`` of an instance whose volumes are ``per_alloc``
    (Nomad rejects ``per_alloc`` in jobs that use canaries)."""
    conflict = canary_conflict(req, canaries)
    return [_refusal(conflict, Capability.DEPLOY)] if conflict else []


def _needs(feature: str, needs: str, version: str) -> Refusal:
    return _refusal(f"{feature} needs Nomad {needs} or newer; the agent runs {version}")


def version_refusals(
    req: ProvisionRequest, cfg: NomadConfig, version: str, shape: JobShape | None = None
) -> list[Refusal]:
    """What ``req`` (with ``cfg``, shaped as ``shape`` for this agent) needs that the
    agent's ``version`` truly lacks; an unknown version (``""``) refuses nothing.

    Secrets need Nomad Variables (1.4; ctrlplane does not use Vault); services
    registered with Nomad (``service_provider = "nomad"``) need 1.3; the ``*``
    datacenter 1.5 (``auto`` resolves it to the nodes' datacenters on older agents);
    ``per_alloc`` volumes (``stateful_set`` with persistent volumes) 1.1 for CSI and 1.5
    for host volumes (hashicorp/nomad#15780). Without Consul or native checks, health
    checks run on ctrlplane's own probes, so they are never refused.
    """
    parsed = parse_version(version)
    if parsed is None:
        return []
    out: list[Refusal] = []
    keys = [ref.key for s in req.services for ref in s.secrets]
    if parsed < VARIABLES and keys:
        named = ", ".join(repr(k) for k in keys)
        out.append(
            _refusal(
                f"secrets ({named}) are written to Nomad Variables, which need Nomad 1.4 or "
                f"newer (ctrlplane does not write Vault secrets); the agent runs {version}"
            )
        )
    registered = any(s.ports or s.health_check for s in req.services)
    if cfg.service_provider == ServiceProvider.NOMAD and parsed < NATIVE_SERVICES and registered:
        out.append(
            _needs(
                'native service discovery (service_provider "nomad"; "auto" registers '
                "nothing before 1.3)",
                "1.3",
                version,
            )
        )
    datacenters = shape.datacenters if shape is not None else tuple(cfg.datacenters)
    if parsed < DATACENTER_GLOB and "*" in datacenters:
        out.append(_needs('the "*" datacenter (set datacenters explicitly)', "1.5", version))
    if per_alloc(req):
        kinds = {source_of(cfg, name).type for name in persistent_names(req)}
        if parsed < PER_ALLOC_HOST and VolumeSourceType.HOST in kinds:
            out.append(
                _needs("per-replica host volumes (per_alloc) of a stateful_set", "1.5", version)
            )
        if parsed < PER_ALLOC_CSI:
            out.append(
                _needs("per-replica CSI volumes (per_alloc) of a stateful_set", "1.1", version)
            )
    return out


def since_refusals(
    allocs: Sequence[Mapping[str, Any]], service: str, since: datetime | None
) -> list[Refusal]:
    """A log ``since`` that Nomad's logs cannot answer exactly.

    Nomad's log files carry no per-line timestamps, so a line is only known to be
    written after its task first started in its allocation. ``since`` at or before every
    selected task's first start is exact (every line qualifies); a later ``since`` would
    need per-line times and is refused instead of guessed.
    """
    if since is None:
        return []
    late = [t for t in (first_start(a, service) for a in allocs) if since > t]
    if not late:
        return []
    return [
        _refusal(
            f"since {since.isoformat()} is after {service!r} started "
            f"({min(late).isoformat()}) and Nomad's log files carry no per-line timestamps; "
            "use tail (lines from the end) or follow instead",
            Capability.LOGS,
        )
    ]
