"""The ``Provider`` contract every backend implements.

Invariants (enforced for every backend by :mod:`ctrlplane.testing.conformance`):

1. **Validate first.** ``provision``/``deploy``/``scale`` run :func:`validate_request`
   (and the capability checks) before any side effect; an invalid request creates nothing.
2. **Idempotent.** Provisioning an existing instance ID converges to one workload;
   ``deprovision``, ``start``, ``stop`` are no-ops when already done.
3. **No leftovers.** A provision that fails or is cancelled removes everything it
   created and raises (``ProvisionFailed`` names the step).
4. **Stateless objects.** Everything needed later lives in the backend, so a fresh
   provider object (in another process) manages instances another one created.
5. **Errors are ours.** Only :mod:`ctrlplane.errors` types escape: unknown instance ->
   ``InstanceNotFound``; undeclared capability -> ``NotSupported`` before any work;
   engine down -> ``BackendUnavailable``; every wait has a deadline -> ``OperationTimeout``.
6. **Secrets stay secret.** Values from the ``SecretResolver`` reach only the service
   that references them: never labels, annotations, status, logs, errors or renders.

Service semantics: the services of one replica share a network namespace (localhost);
each service name resolves to its own replica; inits run to completion in
``depends_on`` order before mains and sidecars start, each after its dependencies run
(and pass their health checks). Status is worst-of over services.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.results import (
    DeployResult,
    ExecResult,
    HealthStatus,
    InstanceStatus,
    InstanceSummary,
    ProviderInfo,
    ProvisionResult,
    ResourceUsage,
    UnitStatus,
)
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    LogOptions,
    ProvisionRequest,
    ResourceSpec,
)
from ctrlplane.provider.streams import LogStream

__all__ = ["HealthChecker", "InstanceLister", "Provider", "Renderer", "UnitLister"]


@runtime_checkable
class Provider(Protocol):
    """Unified interface for infrastructure operations on one backend."""

    def info(self) -> ProviderInfo:
        """Name, version and region of this provider. No I/O."""
        ...

    def capabilities(self) -> Sequence[Capability]:
        """What this provider supports; only what works and is tested. No I/O."""
        ...

    async def provision(
        self, req: ProvisionRequest, *, events: Subscriber | None = None
    ) -> ProvisionResult:
        """Create the instance's workload and wait until its services are running.

        Validates first; idempotent per instance ID; all-or-nothing (see invariants).
        ``events`` (beyond Go) receives a ``StepStarted``/``StepFinished`` pair per step
        (steps do not nest) and a ``UnitStarted`` per service of each started replica; a
        failed or cancelled step's ``StepFinished`` has ``ok`` false and says why in
        ``detail``, and is the last step reported (the cleanup that follows is not a
        step). Re-provisioning a complete instance starts no unit.
        """
        ...

    async def deprovision(self, instance_id: str) -> None:
        """Remove everything of the instance (and wait until gone). Idempotent."""
        ...

    async def start(self, instance_id: str) -> None:
        """Start a stopped instance in dependency order. No-op if running."""
        ...

    async def stop(self, instance_id: str) -> None:
        """Stop gracefully in reverse dependency order. No-op if stopped."""
        ...

    async def restart(self, instance_id: str) -> None:
        """Stop then start (or the backend's rolling equivalent)."""
        ...

    async def status(self, instance_id: str) -> InstanceStatus:
        """Current state: worst-of over services, per-service detail, endpoints."""
        ...

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll out new versions of the listed services and record a release.

        Unlisted services keep their version. Needs ``deploy`` and the strategy's
        capability. A failed gate restores the previous release and raises ``DeployFailed``.
        ``events`` (beyond Go) receives typed progress events as the rollout proceeds.
        """
        ...

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Restore exactly the snapshot of ``release_id``, recorded as a new release.

        Unknown or pruned release: ``ReleaseNotFound``, and nothing changes.
        ``events`` as in :meth:`deploy`.
        """
        ...

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Change replicas and limits; a field of 0 leaves that setting unchanged."""
        ...

    async def resources(self, instance_id: str) -> ResourceUsage:
        """Measured usage summed over the instance's containers."""
        ...

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Log records of one service (default main): tail, since, follow.

        Returns at once; checks run when the stream opens (see :class:`LogStream`).
        """
        ...

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` (an argv list) in a service; return exit code and output."""
        ...


@runtime_checkable
class HealthChecker(Protocol):
    """Optional: providers that can test their backend's reachability."""

    async def health_check(self) -> HealthStatus:
        """Ping the backend; never raises for an unreachable backend (``healthy`` is false)."""
        ...


@runtime_checkable
class InstanceLister(Protocol):
    """Optional (beyond Go): providers that can list the instances on their backend."""

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """Every instance this provider manages (of ``tenant_id``, if given), oldest first.

        One filtered call to the backend, never a scan of unrelated objects.
        """
        ...


@runtime_checkable
class UnitLister(Protocol):
    """Optional (beyond Go): providers that can list an instance's units one by one."""

    async def units(self, instance_id: str) -> list[UnitStatus]:
        """Every unit of the instance (one per service per replica, plus units of a
        rollout in progress), ordered by service start-up order, then replica.

        Unknown instance: :class:`~ctrlplane.errors.InstanceNotFound`.
        """
        ...


@runtime_checkable
class Renderer(Protocol):
    """Optional (beyond Go): providers that can show the native objects they would create."""

    def render(self, req: ProvisionRequest) -> list[dict[str, Any]]:
        """The backend objects ``provision`` would create for ``req``, in creation order.

        No I/O: works with the backend unreachable. Validates ``req`` first
        (``InvalidSpec``). Secrets are never resolved: only references or redacted
        placeholders appear.
        """
        ...
