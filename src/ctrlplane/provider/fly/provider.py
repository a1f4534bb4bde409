"""``FlyProvider``: the ``Provider`` contract on Fly.io, over the Machines API.

One instance is one Fly App (or the configured existing one) and its Machines: one per
service per replica, run-once Machines for inits, and a control Machine that records the
spec and the release history and carries the operation lease. Everything lives in Fly,
so a fresh provider object manages what another created.

A thin facade: each method runs the preflight (:func:`~.limits.preflight`: the
capability table, validation, the backend's refusals), opens a
:class:`~.context.FlyContext` and the operation frame (:mod:`.frames`: mutating calls
hold the instance's operation lease, :mod:`.leases`) and calls one function of an operation module
(:mod:`.provisioning`, :mod:`.lifecycle`, :mod:`.inspection`, :mod:`.deploys`,
:mod:`.execution`). What is sent is rendered by :mod:`.render`, read back by
:mod:`.observe`, and travels through :mod:`.client`.

Declared capabilities (:data:`~.limits.CAPABILITIES`): ``provision``, ``deploy`` with
``strategy:rolling``, ``strategy:canary`` and ``strategy:blue-green`` (the core rollout
engine over Machine updates, checks, ``cordon``/``uncordon``), ``scale``, ``exec``,
``volumes``; ``capabilities=`` narrows them. Not declared: ``logs`` (the Machines API has
no logs endpoint: ``logs()`` raises ``NotSupported`` saying so), GPUs, autoscaling,
custom domains, TLS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from ctrlplane.errors import InstanceNotFound
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.fly import (
    deploys,
    execution,
    inspection,
    instances,
    lifecycle,
    provisioning,
)
from ctrlplane.provider.fly.config import BACKEND, FlyConfig
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.frames import FlyFrames
from ctrlplane.provider.fly.limits import LOGS_REASON
from ctrlplane.provider.fly.render import provision_requests
from ctrlplane.provider.releases import Release
from ctrlplane.provider.reporting import with_lease
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

__all__ = ["FlyProvider"]

_RENDERED_RELEASE = "rel_" + "0" * 26


class FlyProvider:
    """The Fly.io backend. Holds its configuration, preflight and operation frames; no
    per-instance state.

    ``secrets`` resolves secret references at provision time; the values are written to
    the app's secrets (never into a Machine's configuration). ``capabilities`` narrows
    what the provider declares (a subset of its table).
    """

    def __init__(
        self,
        config: FlyConfig | None = None,
        *,
        secrets: SecretResolver | None = None,
        capabilities: Iterable[Capability] | None = None,
    ) -> None:
        self.config = config if config is not None else FlyConfig.from_env()
        self._frames = FlyFrames(self.config, secrets, capabilities)
        self._preflight = self._frames.preflight
        self._ops = self._frames.ops

    def __repr__(self) -> str:
        where = self.config.app or f"org {self.config.org_slug}"
        return f"FlyProvider(api_url={self.config.api_url!r}, {where})"

    def _open(self) -> AbstractAsyncContextManager[FlyContext]:
        return self._frames.context()

    # -- metadata ------------------------------------------------------------------------

    def info(self) -> ProviderInfo:
        """Name ``fly``, the API version it speaks, the first configured region."""
        return ProviderInfo(name=BACKEND, version="machines-api-v1", region=self.config.regions[0])

    def capabilities(self) -> Sequence[Capability]:
        """What works and is tested (narrowed if asked)."""
        return self._preflight.declared

    def render(self, req: ProvisionRequest) -> list[dict[str, Any]]:
        """The requests ``provision`` would send for ``req`` (after the same preflight):
        the app, the control Machine, the app secrets (values redacted), volumes and
        Machines. No I/O."""
        self._preflight.provision(req)
        return provision_requests(req, self.config, _RENDERED_RELEASE)

    async def health_check(self) -> HealthStatus:
        """Whether the API answers this token; never raises."""
        async with self._open() as ctx:
            return await inspection.health(ctx)

    # -- provision / deprovision ---------------------------------------------------------

    async def provision(
        self, req: ProvisionRequest, *, events: Subscriber | None = None
    ) -> ProvisionResult:
        """Create the instance's app, Machines and volumes and wait until they run and pass
        their checks; idempotent per instance ID, nothing left behind on failure or
        cancellation (:mod:`~ctrlplane.provider.fly.provisioning`)."""
        self._preflight.require(Capability.PROVISION)
        req = ProvisionRequest.model_validate(req.model_dump(warnings=False))
        self._preflight.provision(req)
        async with self._frames.provisioning(req, events) as (ctx, op):
            return await provisioning.provision(ctx, op, req)

    async def deprovision(self, instance_id: str) -> None:
        """Remove everything of the instance (its app, unless configured). Idempotent."""
        async with self._open() as ctx:
            if await instances.find(ctx, instance_id) is None:
                await provisioning.remove_orphan(ctx, instance_id)
                return
            try:
                async with self._ops.mutating(instance_id, "deprovision") as op:
                    await provisioning.deprovision(ctx, op, instance_id)
            except InstanceNotFound:
                return

    # -- lifecycle -----------------------------------------------------------------------

    async def stop(self, instance_id: str) -> None:
        """Stop every Machine, in reverse dependency order. No-op when stopped."""
        async with self._frames.mutating(instance_id, "stop") as (ctx, op):
            await lifecycle.stop(ctx, op, instance_id)

    async def start(self, instance_id: str) -> None:
        """Start the Machines in dependency order, gated on checks. No-op when running."""
        async with self._frames.mutating(instance_id, "start") as (ctx, op):
            await lifecycle.start(ctx, op, instance_id)

    async def restart(self, instance_id: str) -> None:
        """Restart every Machine in dependency order; a Machine that crashes fails it."""
        async with self._frames.mutating(instance_id, "restart") as (ctx, op):
            await lifecycle.restart(ctx, op, instance_id)

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Change replicas and the main service's resources (0: unchanged). Not a release."""
        self._preflight.scale(spec)
        async with self._frames.mutating(instance_id, "scale") as (ctx, op):
            await lifecycle.scale(ctx, op, instance_id, spec)

    # -- reading -------------------------------------------------------------------------

    async def status(self, instance_id: str) -> InstanceStatus:
        """From the Machines serving the live release; an operation in progress or
        interrupted shows in the metadata and message."""
        async with self._open() as ctx, self._ops.reading(instance_id, "status"):
            status = await inspection.status(ctx, instance_id)
            return with_lease(status, await self._ops.current_lease(instance_id))

    async def units(self, instance_id: str) -> list[UnitStatus]:
        """One row per Machine of the instance but its control Machine (a rollout's
        other set too), in start-up order, then replica; one listing of the Machines."""
        async with self._open() as ctx, self._ops.reading(instance_id, "units"):
            return await inspection.units(ctx, instance_id)

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """The instances of the configured app, or of the organization's apps named with
        ``app_prefix``, oldest first."""
        async with self._open() as ctx:
            return await inspection.list_instances(ctx, tenant_id)

    async def resources(self, instance_id: str) -> ResourceUsage:
        """Memory of the running Machines' processes and their memory limit."""
        async with self._open() as ctx, self._ops.reading(instance_id, "resources"):
            return await inspection.resources(ctx, instance_id)

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest first, from the control Machine's versions."""
        async with self._open() as ctx, self._ops.reading(instance_id, "releases"):
            return await inspection.releases(ctx, instance_id)

    # -- deploys -------------------------------------------------------------------------

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll the listed services out with the core rollout engine over Machine updates,
        gated by their checks; a failure restores the previous release and raises
        ``DeployFailed`` with the evidence."""
        self._preflight.deploy(req)
        async with self._frames.mutating(req.instance_id, "deploy", events) as (ctx, op):
            return await deploys.deploy(ctx, op, req)

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Restore the snapshot of ``release_id`` as a new release; unknown or pruned:
        ``ReleaseNotFound``."""
        self._preflight.rollback()
        async with self._frames.mutating(instance_id, "rollback", events) as (ctx, op):
            await deploys.rollback(ctx, op, instance_id, release_id)

    # -- logs / exec ---------------------------------------------------------------------

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Not declared: the Machines API serves no logs (``NotSupported`` when the stream
        opens, saying where Fly's logs are)."""

        async def opener() -> AsyncIterator[LogRecord]:
            self._preflight.require(Capability.LOGS, LOGS_REASON)
            raise AssertionError("unreachable: logs are not declared")  # pragma: no cover

        return LogStream(opener)

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` in a service's Machine through ``/exec``; stdin and tty are
        refused (the API has neither)."""
        self._preflight.exec(req)
        execution.refuse_unsupported(req)
        async with self._open() as ctx, self._ops.reading(instance_id, "exec"):
            return await execution.run(ctx, instance_id, req)
