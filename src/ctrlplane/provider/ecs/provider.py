"""``EcsProvider``: the ``Provider`` contract on an AWS ECS cluster, through aiobotocore.

One instance is one ECS service (``<prefix><instance>``) running revisions of one task
definition family, every service a container of the task; the revisions record the
releases and the request (docker labels), the service's tags the rest (role, traffic,
remembered replicas), so all state lives in AWS and a fresh provider object manages what
another created. Secrets are stored in Secrets Manager or SSM and referenced by ARN;
logs are read from CloudWatch Logs; the operation lease is a DynamoDB item.

A thin facade: each method runs the preflight (:func:`~.limits.preflight`: the
capability table, validation, the backend's refusals), opens the operation frame
(:class:`~ctrlplane.provider.operations.Operations`: the lease, the redactor) and an
:class:`~.context.EcsContext` (both held by :class:`~.frames.EcsFrames`), and calls
one function of an operation module (:mod:`.provisioning`, :mod:`.lifecycle`,
:mod:`.inspection`, :mod:`.deploys`, :mod:`.logs`). What is sent is rendered by
:mod:`.render`, read back by :mod:`.observe`, and travels through :mod:`.client`.

Declared capabilities (:data:`~.limits.CAPABILITIES`): ``provision``, ``deploy`` with
``strategy:rolling`` (ECS's rolling update), ``strategy:canary`` and
``strategy:blue-green`` (the core engine over two services; not with a target group),
``scale``, ``logs``; ``capabilities=`` narrows them. Not declared: ``exec`` (refused with
:data:`~.limits.EXEC_REFUSAL`), ``volumes``, GPUs, autoscaling, domains, TLS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager

from ctrlplane.errors import NotSupported
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.ecs import deploys, inspection, lifecycle, logs, provisioning
from ctrlplane.provider.ecs.config import BACKEND, EcsConfig
from ctrlplane.provider.ecs.context import EcsContext
from ctrlplane.provider.ecs.frames import EcsFrames
from ctrlplane.provider.ecs.instances import require
from ctrlplane.provider.ecs.limits import EXEC_REFUSAL
from ctrlplane.provider.ecs.render import provision_requests
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.native import JSON
from ctrlplane.provider.releases import Release
from ctrlplane.provider.results import (
    DeployResult,
    ExecResult,
    HealthStatus,
    InstanceStatus,
    InstanceSummary,
    LogRecord,
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
from ctrlplane.secrets import SecretResolver

__all__ = ["EcsProvider"]


class EcsProvider:
    """The ECS backend. Holds its configuration, preflight, AWS session and the facts it
    learned (immutable task definitions, the cluster); no per-instance state.

    ``secrets`` resolves secret references at provision and deploy time (see
    :mod:`~ctrlplane.provider.ecs.secrets` for where the values go). ``capabilities``
    narrows what the provider declares.
    """

    def __init__(
        self,
        config: EcsConfig | None = None,
        *,
        secrets: SecretResolver | None = None,
        capabilities: Iterable[Capability] | None = None,
    ) -> None:
        self.config = config if config is not None else EcsConfig.from_env()
        self._frames = EcsFrames(self.config, secrets, capabilities)
        self._preflight = self._frames.preflight
        self._ops = self._frames.ops

    def __repr__(self) -> str:
        return f"EcsProvider(cluster={self.config.cluster!r}, region={self.config.region!r})"

    def _open(self) -> AbstractAsyncContextManager[EcsContext]:
        return self._frames.context()

    async def aclose(self) -> None:
        """Close the provider's AWS clients now (else they close with their event loop)."""
        await self._frames.session.close()

    # -- metadata ------------------------------------------------------------------------

    def info(self) -> ProviderInfo:
        """Name ``ecs``, the configured region."""
        return ProviderInfo(name=BACKEND, region=self.config.region)

    def capabilities(self) -> Sequence[Capability]:
        """What works and is tested (narrowed if asked)."""
        return self._preflight.declared

    def render(self, req: ProvisionRequest) -> list[JSON]:
        """The ``RegisterTaskDefinition`` and ``CreateService`` requests ``provision``
        would send for ``req``, after the same preflight. No I/O: secrets appear only as
        references to where their values would be stored (the account as ``<account>``),
        the task definition as ``<family>:<revision>``. Works before the setup is done:
        missing subnets or execution role are refused by ``provision``, not here."""
        self._frames.render_checks.provision(req)
        return provision_requests(req, self.config)

    async def health_check(self) -> HealthStatus:
        """Whether the cluster exists and answers; never raises."""
        async with self._open() as ctx:
            return await inspection.health(ctx)

    # -- provision / deprovision ---------------------------------------------------------

    async def provision(
        self, req: ProvisionRequest, *, events: Subscriber | None = None
    ) -> ProvisionResult:
        """Create the instance's task definition and service, and wait until its tasks
        run (:mod:`~ctrlplane.provider.ecs.provisioning`)."""
        self._preflight.provision(req)
        async with (
            self._ops.mutating(req.instance_id, "provision", events=events) as op,
            self._open() as ctx,
        ):
            return await provisioning.provision(ctx, op, req)

    async def deprovision(self, instance_id: str) -> None:
        """Delete the services, log streams, revisions and secrets. Idempotent."""
        async with self._open() as ctx, self._ops.mutating(instance_id, "deprovision") as op:
            await provisioning.deprovision(ctx, op, instance_id)

    # -- lifecycle -----------------------------------------------------------------------

    async def stop(self, instance_id: str) -> None:
        """Desired count 0 (remembered), and wait until the tasks stopped."""
        async with self._open() as ctx, self._ops.mutating(instance_id, "stop") as op:
            await lifecycle.stop(ctx, op, instance_id)

    async def start(self, instance_id: str) -> None:
        """The remembered desired count, and wait until it runs. No-op when running."""
        async with self._open() as ctx, self._ops.mutating(instance_id, "start") as op:
            await lifecycle.start(ctx, op, instance_id)

    async def restart(self, instance_id: str) -> None:
        """A new deployment of the same revision (new tasks before the old ones stop)."""
        async with self._open() as ctx, self._ops.mutating(instance_id, "restart") as op:
            await lifecycle.restart(ctx, op, instance_id)

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """The desired count and the main service's size (a new revision of the live
        release). Not a release."""
        self._preflight.scale(spec)
        async with self._open() as ctx, self._ops.mutating(instance_id, "scale") as op:
            await lifecycle.scale(ctx, op, instance_id, spec)

    # -- reading -------------------------------------------------------------------------

    async def status(self, instance_id: str) -> InstanceStatus:
        """From ``DescribeServices`` and ``DescribeTasks``; an operation in progress (or
        interrupted) shows in the metadata (``operation: unknown: ...`` when the lease
        table cannot be read)."""
        async with self._open() as ctx, self._ops.reading(instance_id, "status"):
            found = await inspection.status(ctx, instance_id)
            return await self._frames.with_operation(instance_id, found)

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """The instances of the cluster (of ``tenant_id``), oldest first."""
        async with self._open() as ctx:
            return await inspection.list_instances(ctx, tenant_id)

    async def units(self, instance_id: str) -> list[UnitStatus]:
        """One row per service per task (a deploy's new tasks too)."""
        async with self._ops.reading(instance_id, "units"), self._open() as ctx:
            return await inspection.units(ctx, instance_id)

    async def resources(self, instance_id: str) -> ResourceUsage:
        """From CloudWatch Container Insights; ``NotSupported`` without it."""
        async with self._ops.reading(instance_id, "resources"), self._open() as ctx:
            return await inspection.resources(ctx, instance_id)

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest first (task definition revisions)."""
        async with self._ops.reading(instance_id, "releases"), self._open() as ctx:
            return await inspection.releases(ctx, await require(ctx, instance_id))

    # -- deploys -------------------------------------------------------------------------

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll the listed services out (:mod:`~ctrlplane.provider.ecs.strategies`); a
        failure restores the previous release and raises ``DeployFailed``."""
        self._preflight.deploy(req)
        async with (
            self._ops.mutating(req.instance_id, "deploy", events=events) as op,
            self._open() as ctx,
        ):
            return await deploys.deploy(ctx, op, req)

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Restore ``release_id``'s snapshot as a new release (a new revision, rolled out
        with ECS's rolling update); unknown or pruned: ``ReleaseNotFound``."""
        self._preflight.rollback()
        async with (
            self._ops.mutating(instance_id, "rollback", events=events) as op,
            self._open() as ctx,
        ):
            await deploys.rollback(ctx, op, instance_id, release_id)

    # -- logs / exec ---------------------------------------------------------------------

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Lines of one service (default main) from CloudWatch Logs
        (:mod:`~ctrlplane.provider.ecs.logs`); checked when the stream opens."""
        options = opts or LogOptions()

        async def opener() -> AsyncIterator[LogRecord]:
            self._preflight.logs()
            async with self._ops.reading(instance_id, "logs"), self._open() as ctx:
                selection = await logs.select(ctx, instance_id, options)
            return logs.read(self._frames.stream_context, selection, options)

        return LogStream(opener)

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Not supported on ECS: see :data:`~ctrlplane.provider.ecs.limits.EXEC_REFUSAL`."""
        raise NotSupported(BACKEND, Capability.EXEC.value, detail=EXEC_REFUSAL)
