"""What the Docker backend does (:data:`DECLARED`), and what it cannot do for a request,
and why (pure, no I/O).

:class:`DockerLimits` is the backend's :class:`~ctrlplane.provider.preflight.Limits`: the
preflight raises its :class:`~ctrlplane.provider.preflight.Refusal` values before any work
(a refusal with a ``path`` is :class:`~ctrlplane.errors.InvalidSpec` at that field,
without one :class:`~ctrlplane.errors.NotSupported`). Refusals that depend on the live
instance (its kind, its ports, the replica count after a scale) are computed by the same
functions once it is read, before anything changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.enums import ServiceRole, WorkloadKind
from ctrlplane.provider.preflight import Refusal
from ctrlplane.provider.spec import DeployRequest, ProvisionRequest, ResourceSpec, ServiceSpec

__all__ = [
    "DECLARED",
    "DockerLimits",
    "blue_green_refusals",
    "check_docker",
    "docker_problems",
    "unit_refusals",
]

DECLARED = (
    Capability.PROVISION,
    Capability.DEPLOY,
    Capability.ROLLING,
    Capability.BLUE_GREEN,
    Capability.CANARY,
    Capability.SCALE,
    Capability.LOGS,
    Capability.EXEC,
    Capability.VOLUMES,
)
"""The capabilities of the Docker backend, each tested on a real engine. Not declared:
GPUs, autoscaling, custom domains, TLS."""


def unit_refusals(services: Sequence[ServiceSpec], replicas: int) -> list[Refusal]:
    """What a valid set of services with ``replicas`` units asks that Docker cannot do
    (each with its field path)."""
    out: list[Refusal] = []
    for i, svc in enumerate(services):
        if svc.resources.disk_mb:
            out.append(
                Refusal(
                    Capability.PROVISION,
                    "the Docker backend cannot limit container disk size; leave it 0",
                    f"services[{i}].resources.disk_mb",
                )
            )
        if svc.resources.gpu:
            out.append(
                Refusal(
                    Capability.GPU,
                    "the Docker backend has no GPU support",
                    f"services[{i}].resources.gpu",
                )
            )
        if svc.role is not ServiceRole.MAIN and svc.resources.replicas not in (0, 1):
            out.append(
                Refusal(
                    Capability.PROVISION,
                    "replicas are set on the main service (one unit holds every service)",
                    f"services[{i}].resources.replicas",
                )
            )
    return out


def docker_problems(services: Sequence[ServiceSpec], replicas: int) -> list[Problem]:
    """:func:`unit_refusals` as spec problems."""
    return [Problem(r.path, r.reason) for r in unit_refusals(services, replicas)]


def check_docker(services: Sequence[ServiceSpec], replicas: int) -> None:
    """Raise :class:`InvalidSpec` for :func:`docker_problems` (a request's services, or
    the live services about to be scaled to ``replicas`` units)."""
    problems = docker_problems(services, replicas)
    if problems:
        raise InvalidSpec(problems, subject="provision request for Docker")


def blue_green_refusals(wl: Workload) -> list[Refusal]:
    """Why the live workload ``wl`` cannot be deployed blue-green (two whole sets side
    by side): a stateful set's volumes are per replica. (Published ports are held by the
    instance's fronts, not by the sets, so fixed host ports are fine.)"""
    if wl.kind is not WorkloadKind.DEPLOYMENT:
        reason = "blue-green needs a deployment (a stateful set's volumes are per replica)"
        return [Refusal(Capability.BLUE_GREEN, reason)]
    return []


class DockerLimits:
    """The Docker backend's :class:`~ctrlplane.provider.preflight.Limits`."""

    def provision(self, req: ProvisionRequest) -> Iterable[Refusal]:
        """Disk limits, GPUs, replicas set on a service other than the main one."""
        return unit_refusals(req.services, max(req.main.resources.replicas, 1))

    def deploy(self, req: DeployRequest) -> Iterable[Refusal]:
        """Nothing before the live instance is read (see :func:`blue_green_refusals`)."""
        return ()

    def scale(self, spec: ResourceSpec) -> Iterable[Refusal]:
        """Disk size and GPUs cannot be changed on Docker."""
        out: list[Refusal] = []
        if spec.disk_mb:
            out.append(Refusal(Capability.SCALE, "not supported by Docker", "disk_mb"))
        if spec.gpu:
            out.append(Refusal(Capability.GPU, "not supported by Docker", "gpu"))
        return out
