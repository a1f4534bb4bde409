"""What the Fly backend cannot do for a request (pure), and its capability table.

Declared (:data:`CAPABILITIES`): ``provision``, ``deploy`` with ``strategy:rolling``,
``strategy:canary`` and ``strategy:blue-green``, ``scale``, ``exec``, ``volumes``.

Not declared:

- ``logs``: the Machines API (``fly-machines-v1.swagger.json``) has no logs endpoint
  (Fly serves logs through its log stream, outside that API: ``fly logs``, NATS, the log
  shipper), so :data:`LOGS_REASON` is what ``logs()`` says;
- ``gpu``, ``autoscale``, ``custom-domains``, ``tls``: not built on the Machines API here.

Refused for a request (:class:`FlyLimits`, ``NotSupported`` with the reason):

- ``registry`` secrets: Fly pulls images with the organization's registry credentials;
  the Machines API takes no pull credentials;
- ``tmpfs`` volumes (Machines mount Fly volumes only), a service mounting more than one
  persistent volume (a Machine mounts at most one), a volume shared by two services (a
  Fly volume attaches to one Machine), a ``deployment`` with a persistent volume and more
  than one replica (its replicas would not share the data: use ``stateful_set``, one
  volume per replica);
- ``sctp`` ports (Fly services carry tcp and udp);
- more than 16 CPUs or 128 GB of memory for a service (``InvalidSpec`` at the field).

Facts of the live instance (its volumes) refuse blue-green deploys of services with a
persistent volume (the new Machine could not attach the old one's volume) and scaling a
``deployment`` with a volume past one replica: :func:`deploy_refusals`,
:func:`scale_refusals`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import (
    DeployStrategy,
    PortProtocol,
    SecretType,
    ServiceRole,
    VolumeType,
    WorkloadKind,
)
from ctrlplane.provider.fly.config import BACKEND
from ctrlplane.provider.fly.render.guest import MAX_CPUS, MAX_MEMORY_MB
from ctrlplane.provider.preflight import Preflight, Refusal
from ctrlplane.provider.spec import DeployRequest, ProvisionRequest, ResourceSpec, ServiceSpec
from ctrlplane.provider.validation import startup_order

__all__ = [
    "CAPABILITIES",
    "EXEC_STDIN_REASON",
    "EXEC_TTY_REASON",
    "LOGS_REASON",
    "FlyLimits",
    "deploy_refusals",
    "preflight",
    "scale_refusals",
]

CAPABILITIES: tuple[Capability, ...] = (
    Capability.PROVISION,
    Capability.DEPLOY,
    Capability.SCALE,
    Capability.EXEC,
    Capability.VOLUMES,
    Capability.ROLLING,
    Capability.CANARY,
    Capability.BLUE_GREEN,
)
"""What works and is tested on Fly."""

LOGS_REASON = (
    "the Fly Machines API (fly-machines-v1.swagger.json) has no logs endpoint; Fly serves "
    "logs outside it (fly logs -a <app>, or the fly-log-shipper)"
)
EXEC_STDIN_REASON = (
    "the Machines API's exec request (MachineExecRequest: command, timeout) has no stdin"
)
EXEC_TTY_REASON = "the Machines API's exec request (MachineExecRequest) has no tty"


def _resources(path: str, res: ResourceSpec) -> Iterable[Refusal]:
    if res.cpu_millis > MAX_CPUS * 1000:
        yield Refusal(
            Capability.PROVISION,
            f"{res.cpu_millis} millicores: a Fly Machine has at most {MAX_CPUS} CPUs",
            f"{path}.cpu_millis",
        )
    if res.memory_mb > MAX_MEMORY_MB:
        yield Refusal(
            Capability.PROVISION,
            f"{res.memory_mb} MB: a Fly Machine has at most {MAX_MEMORY_MB} MB",
            f"{path}.memory_mb",
        )


def _wave_of(services: Sequence[ServiceSpec]) -> dict[str, int]:
    return {s.name: i for i, wave in enumerate(startup_order(services)) for s in wave}


def _volume_refusals(
    services: Sequence[ServiceSpec], kind: WorkloadKind, replicas: int
) -> Iterable[Refusal]:
    """Volumes Fly cannot attach as asked. Inits run (and their Machines are destroyed)
    before the long-lived services start, so an init may share a volume with one
    long-lived service and with inits of other waves; two long-lived services, or two
    inits that run at the same time, cannot."""
    waves = _wave_of(services)
    owners: dict[str, ServiceSpec] = {}
    for svc in services:
        persistent = [v for v in svc.volumes if v.type is VolumeType.PERSISTENT]
        if any(v.type is VolumeType.TMPFS for v in svc.volumes):
            yield Refusal(
                Capability.VOLUMES,
                f"service {svc.name!r} mounts a tmpfs volume: Fly Machines mount only Fly "
                "volumes (write scratch data under /tmp instead)",
            )
        if len(persistent) > 1:
            yield Refusal(
                Capability.VOLUMES,
                f"service {svc.name!r} mounts {len(persistent)} volumes: a Fly Machine mounts "
                "at most one",
            )
        for vol in persistent:
            other = owners.get(vol.name)
            init = ServiceRole.INIT
            clash = other is not None and (
                (svc.role is not init and other.role is not init)
                or (
                    svc.role is init and other.role is init and waves[svc.name] == waves[other.name]
                )
            )
            if other is not None and clash:
                yield Refusal(
                    Capability.VOLUMES,
                    f"volume {vol.name!r} is mounted by {other.name!r} and {svc.name!r}, which "
                    "run at the same time: a Fly volume attaches to one Machine",
                )
            if other is None or other.role is init:
                owners[vol.name] = svc
        if persistent and kind is WorkloadKind.DEPLOYMENT and replicas > 1:
            yield Refusal(
                Capability.VOLUMES,
                f"service {svc.name!r} has a volume and {replicas} replicas of a deployment: "
                "each Fly volume attaches to one Machine, so replicas cannot share it; use "
                "kind stateful_set (one volume per replica)",
            )


class FlyLimits:
    """The spec-dependent refusals of the Fly backend (see the module docs)."""

    def provision(self, req: ProvisionRequest) -> Iterable[Refusal]:
        replicas = max(req.main.resources.replicas, 1)
        for i, svc in enumerate(req.services):
            yield from _resources(f"services[{i}].resources", svc.resources)
            if any(r.type is SecretType.REGISTRY for r in svc.secrets):
                yield Refusal(
                    Capability.PROVISION,
                    f"service {svc.name!r} has a registry secret: Fly pulls images with the "
                    "organization's registry credentials and the Machines API takes none "
                    "(push the image to registry.fly.io, or make it public)",
                )
            if any(p.protocol is PortProtocol.SCTP for p in svc.ports):
                yield Refusal(
                    Capability.PROVISION,
                    f"service {svc.name!r} has an sctp port: Fly services carry tcp and udp",
                )
        yield from _volume_refusals(req.services, req.kind, replicas)

    def deploy(self, req: DeployRequest) -> Iterable[Refusal]:
        return ()

    def scale(self, spec: ResourceSpec) -> Iterable[Refusal]:
        return _resources("", spec)


def _volumes(svc: ServiceSpec) -> set[str]:
    return {v.name for v in svc.volumes if v.type is VolumeType.PERSISTENT}


def deploy_refusals(
    strategy: DeployStrategy, changed: Iterable[str], live: Sequence[ServiceSpec]
) -> list[Refusal]:
    """Refusals of a deploy that only the live spec shows: blue-green of a service with a
    volume (the new Machine could not attach it), and a changed init that shares a volume
    with a long-lived service (its run-once Machine could not attach the volume while the
    service's Machine holds it)."""
    names = set(changed)
    out: list[Refusal] = []
    holders = {
        vol: svc.name for svc in live if svc.role is not ServiceRole.INIT for vol in _volumes(svc)
    }
    for svc in live:
        if svc.name not in names:
            continue
        if svc.role is ServiceRole.INIT:
            shared = sorted(v for v in _volumes(svc) if v in holders)
            if shared:
                out.append(
                    Refusal(
                        Capability.DEPLOY,
                        f"init {svc.name!r} shares volume {shared[0]!r} with "
                        f"{holders[shared[0]]!r}, whose Machine holds it: a changed init could "
                        "not attach it; provision the instance again to rerun its inits",
                    )
                )
        elif strategy is DeployStrategy.BLUE_GREEN and _volumes(svc):
            out.append(
                Refusal(
                    Capability.BLUE_GREEN,
                    f"service {svc.name!r} has a persistent volume: a blue-green deploy starts "
                    "new Machines beside the old ones, and a Fly volume attaches to one "
                    "Machine; deploy it with the rolling or canary strategy",
                )
            )
    return out


def scale_refusals(
    spec: ResourceSpec, live: Sequence[ServiceSpec], kind: WorkloadKind
) -> list[Refusal]:
    """Refusals of a scale request that only the live spec shows."""
    if not spec.replicas:
        return []
    return [
        Refusal(Capability.SCALE, r.reason) for r in _volume_refusals(live, kind, spec.replicas)
    ]


def preflight(capabilities: Iterable[Capability] | None = None) -> Preflight:
    """The Fly backend's preflight (its capability table, narrowed if asked)."""
    return Preflight(BACKEND, CAPABILITIES, limits=FlyLimits(), narrowed_to=capabilities)
