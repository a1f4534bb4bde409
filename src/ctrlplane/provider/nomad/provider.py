"""``NomadProvider``: the ``Provider`` contract on a Nomad cluster, over its HTTP API.

One instance is one job (ID = instance ID) with one task group; the job's ``Meta``
records the request spec and the release, and every registration is a job version, so
all state lives in Nomad and a fresh provider object manages what another created.

A thin facade: each method runs the preflight
(:func:`~ctrlplane.provider.nomad.limits.preflight`: the capability table, validation,
the backend's refusals), opens its frame (:mod:`.frames`: a mutating one for every
change, holding the instance's operation lease, :mod:`.leases`; a reading one
otherwise; both scrub errors, events and log records of the instance's secret values)
with a :class:`~ctrlplane.provider.nomad.context.NomadContext` and calls one function
of an operation module (:mod:`.provisioning`, :mod:`.lifecycle`, :mod:`.inspection`,
:mod:`.deploys`, :mod:`.logs`, :mod:`.execution`); a mutating call first repairs an
interrupted operation (:mod:`.repair`). What is sent is rendered by :mod:`.render`, read
back by :mod:`.observe`, and travels through :mod:`.client`.

Declared capabilities (:data:`~ctrlplane.provider.nomad.limits.CAPABILITIES`):
``provision``, ``deploy`` with ``strategy:rolling``, ``strategy:canary`` and
``strategy:blue-green`` (Nomad deployments gated by the service checks), ``scale``,
``logs``, ``exec``, ``volumes``; ``capabilities=`` narrows them. Not declared
(``NotSupported`` before any work): GPUs, autoscaling, custom domains, TLS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad import deploys, execution, inspection, lifecycle, logs, provisioning
from ctrlplane.provider.nomad.config import BACKEND, NomadConfig
from ctrlplane.provider.nomad.frames import NomadFrames
from ctrlplane.provider.nomad.render import ReleaseMeta, translate
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
from ctrlplane.provider.sessions import ExecSession
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    LogOptions,
    ProvisionRequest,
    ResourceSpec,
)
from ctrlplane.provider.streams import LogStream
from ctrlplane.secrets import SecretResolver

__all__ = ["NomadProvider"]

_RENDERED_RELEASE_ID = "rel_" + "0" * 26
"""The release ID a rendered job shows (``provision`` mints a new one)."""


class NomadProvider:
    """The Nomad backend. Holds its configuration, its preflight, its operation frames
    and what it learned of the agent (read once); no per-instance state.

    ``secrets`` resolves secret references at provision time; values are written to
    Nomad Variables (never into the job) and read by the task's templates.
    ``capabilities`` narrows what the provider declares (a subset of its table).
    """

    def __init__(
        self,
        config: NomadConfig | None = None,
        *,
        secrets: SecretResolver | None = None,
        capabilities: Iterable[Capability] | None = None,
    ) -> None:
        self.config = config if config is not None else NomadConfig.from_env()
        self._frames = NomadFrames(self.config, secrets, capabilities)
        self._preflight = self._frames.preflight

    def __repr__(self) -> str:
        return (
            f"NomadProvider(address={self.config.address!r}, namespace={self.config.namespace!r})"
        )

    # -- metadata ------------------------------------------------------------------------

    def info(self) -> ProviderInfo:
        """Name ``nomad``, the agent's version (once read), the configured region."""
        version = self._frames.facts.version
        return ProviderInfo(name=BACKEND, version=version, region=self.config.region)

    def capabilities(self) -> Sequence[Capability]:
        """What works and is tested (narrowed if asked)."""
        return self._preflight.declared

    def render(self, req: ProvisionRequest) -> list[JSON]:
        """The job ``provision`` would register for ``req`` (API JSON), after the same
        preflight, released and created now (its release ID a placeholder of zeros). No
        I/O; secret values never appear (templates read Variables)."""
        self._preflight.provision(req)
        release = ReleaseMeta(_RENDERED_RELEASE_ID, datetime.now(UTC))
        return [{"Job": translate(req, release, self.config)}]

    async def health_check(self) -> HealthStatus:
        """``/v1/agent/health`` and the agent's version, within ``request_timeout``; never
        raises."""
        async with self._frames.context() as ctx:
            return await inspection.health(ctx)

    # -- provision / deprovision ---------------------------------------------------------

    async def provision(
        self, req: ProvisionRequest, *, events: Subscriber | None = None
    ) -> ProvisionResult:
        """Register the instance's job and wait until its allocations are healthy;
        idempotent per instance ID, nothing left behind on failure or cancellation
        (:mod:`~ctrlplane.provider.nomad.provisioning`). ``events`` receives the steps
        and a ``UnitStarted`` per placed task."""
        self._preflight.provision(req)
        async with self._frames.provisioning(req, events) as (ctx, op):
            return await provisioning.provision(ctx, op, req)

    async def deprovision(self, instance_id: str) -> None:
        """Purge the job and delete its Variables. Idempotent."""
        async with self._frames.mutating(instance_id, "deprovision") as (ctx, _):
            await provisioning.deprovision(ctx, instance_id)

    # -- lifecycle -----------------------------------------------------------------------

    async def stop(self, instance_id: str) -> None:
        """Stop the job and wait for its allocations. No-op when stopped."""
        async with self._frames.mutating(instance_id, "stop") as (ctx, op):
            await lifecycle.stop(ctx, op, instance_id)

    async def start(self, instance_id: str) -> None:
        """Run the last job version again and wait until it is healthy. No-op when running."""
        async with self._frames.mutating(instance_id, "start") as (ctx, op):
            await lifecycle.start(ctx, op, instance_id)

    async def restart(self, instance_id: str) -> None:
        """Restart the running tasks of every current allocation (in place); they must
        stay up through ``stability_window``."""
        async with self._frames.mutating(instance_id, "restart") as (ctx, op):
            await lifecycle.restart(ctx, op, instance_id)

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Change the group count and the main task's CPU, memory and disk (0: unchanged).
        Not a release: the live release stays."""
        self._preflight.scale(spec)
        async with self._frames.mutating(instance_id, "scale") as (ctx, op):
            await lifecycle.scale(ctx, op, instance_id, spec)

    # -- reading -------------------------------------------------------------------------

    async def status(self, instance_id: str) -> InstanceStatus:
        """From the allocations of the current job version only, with the operation that
        runs on the instance (or was interrupted, and what the next call will do about
        it); messages scrubbed of the instance's secret values."""
        async with self._frames.reading(instance_id, "status") as (ctx, op):
            status = await inspection.instance_status(ctx, instance_id, op.redactor)
            lease = await self._frames.lease(ctx, instance_id)
            if lease is not None:
                status = await inspection.with_operation(ctx, instance_id, status, lease)
            return op.redactor.status(status)

    async def units(self, instance_id: str) -> list[UnitStatus]:
        """One row per task of every allocation meant to run (a rollout's too), in the
        services' start-up order, then by replica (:func:`~.inspection.units`)."""
        async with self._frames.reading(instance_id, "units") as (ctx, _):
            return await inspection.units(ctx, instance_id)

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """Every instance in the namespace (of ``tenant_id``, if given), oldest first, in
        one filtered call (agents before 1.4: the candidate jobs read one by one)."""
        async with self._frames.reading("", "list_instances") as (ctx, _):
            return await inspection.list_instances(ctx, tenant_id)

    async def resources(self, instance_id: str) -> ResourceUsage:
        """Allocation stats summed over the running current allocations (no network
        counters on Nomad: 0)."""
        async with self._frames.reading(instance_id, "resources") as (ctx, _):
            return await inspection.resources(ctx, instance_id)

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest first, from the job versions the server still holds
        (at most ``release_history``); every listed one can be rolled back to."""
        async with self._frames.reading(instance_id, "releases") as (ctx, _):
            return await inspection.releases(ctx, instance_id)

    # -- deploys -------------------------------------------------------------------------

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll the listed services out with Nomad deployments gated by the service checks
        (:mod:`~ctrlplane.provider.nomad.strategies`); a failure restores the previous
        version and raises ``DeployFailed``. ``events`` receives progress events."""
        self._preflight.deploy(req)
        async with self._frames.mutating(req.instance_id, "deploy", events) as (ctx, op):
            return await deploys.deploy(ctx, op, req)

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Register the job version that carries ``release_id`` again, as a new release;
        unknown or pruned: ``ReleaseNotFound``."""
        self._preflight.rollback()
        async with self._frames.mutating(instance_id, "rollback", events) as (ctx, op):
            await deploys.rollback(ctx, op, instance_id, release_id)

    # -- logs / exec ---------------------------------------------------------------------

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Lines of one service (default main), stdout and stderr, from the client fs logs
        API (:mod:`~ctrlplane.provider.nomad.logs`); checked when the stream opens. A
        ``since`` after the task's first start is ``NotSupported`` (no per-line times)."""
        options = opts or LogOptions()

        async def opener() -> AsyncIterator[LogRecord]:
            self._preflight.logs()
            async with self._frames.reading(instance_id, "logs") as (ctx, _):
                allocs, service = await logs.select(ctx, instance_id, options)
            return logs.read(self.config, allocs, service, options)

        return LogStream(opener)

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` in a service's task over the exec websocket, bounded by
        ``exec_timeout``."""
        self._preflight.exec(req)
        async with self._frames.reading(instance_id, "exec") as (ctx, _):
            return await execution.run(ctx, instance_id, req)

    @asynccontextmanager
    async def exec_session(self, instance_id: str, req: ExecRequest) -> AsyncIterator[ExecSession]:
        """An interactive session with ``req.command`` in a service's task (with a
        terminal if ``req.tty``; ``req.stdin`` unused), after the ``exec`` checks;
        leaving the block ends the process (:mod:`~ctrlplane.provider.nomad.sessions`).
        Not bounded by ``exec_timeout``: bound :meth:`ExecSession.wait` yourself."""
        self._preflight.exec(req)
        async with (
            self._frames.reading(instance_id, "exec") as (ctx, _),
            execution.session(ctx, instance_id, req) as live,
        ):
            yield live
