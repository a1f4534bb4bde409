"""``DockerProvider``: the ``Provider`` contract on one Docker engine (the facade).

One instance is one bridge network plus one container per service per replica unit
(see :mod:`.render`); all state lives in engine labels, so a fresh provider object
manages instances created by another. What it declares, and what Docker cannot do for
a given request, is in :mod:`.limits`; the deploy strategies are in :mod:`.strategies`.

Each method runs the preflight (capability, validation, the backend's refusals) before
any I/O, opens one operation (a :class:`~.context.DockerContext` on a fresh client) and
calls one function of an operation module: :mod:`.provisioning`, :mod:`.objects`,
:mod:`.lifecycle`, :mod:`.inspection`, :mod:`.deploys`, :mod:`.logs`, :mod:`.execution`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.docker.client import open_client
from ctrlplane.provider.docker.config import BACKEND, DockerConfig
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.deploys import deploy_release, list_releases, rollback_to
from ctrlplane.provider.docker.execution import run_exec
from ctrlplane.provider.docker.inspection import list_summaries, read_status, resource_usage
from ctrlplane.provider.docker.lifecycle import scale_instance, start_instance, stop_instance
from ctrlplane.provider.docker.limits import DECLARED, DockerLimits
from ctrlplane.provider.docker.logs import open_instance_logs
from ctrlplane.provider.docker.objects import purge
from ctrlplane.provider.docker.provisioning import provision_instance
from ctrlplane.provider.docker.render.bodies import RENDER_RELEASE, Renderer
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.native import JSON
from ctrlplane.provider.preflight import Preflight
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

__all__ = ["DockerProvider"]


class DockerProvider:
    """The Docker backend. Holds configuration only; no per-instance state.

    ``secrets`` resolves the services' secret references at provision, deploy and scale
    time; without it a request that references a secret fails before any side effect.
    ``capabilities`` narrows what the provider declares (and so accepts) to a subset of
    :data:`~.limits.DECLARED`.
    """

    def __init__(
        self,
        config: DockerConfig | None = None,
        *,
        secrets: SecretResolver | None = None,
        capabilities: Iterable[Capability] | None = None,
    ) -> None:
        self.config = config if config is not None else DockerConfig.from_env()
        self._secrets = secrets
        self._render = Renderer(self.config)
        self._preflight = Preflight(
            BACKEND, DECLARED, limits=DockerLimits(), narrowed_to=capabilities
        )
        self._engine_version = ""
        self._api_version = self.config.api_version

    def __repr__(self) -> str:
        return f"DockerProvider(docker_host={self.config.docker_host!r})"

    @asynccontextmanager
    async def _operation(self) -> AsyncIterator[DockerContext]:
        """One operation's context on a fresh engine client (the API version is
        negotiated once per provider object, then reused)."""
        async with open_client(self.config, self._api_version) as client:
            if client.engine_version:
                self._api_version = client.api_version
                self._engine_version = client.engine_version
            yield DockerContext(client, self.config, self._secrets)

    # -- Provider: metadata -----------------------------------------------------------

    def info(self) -> ProviderInfo:
        """Name ``docker``, the engine's version (known after the first engine call)."""
        return ProviderInfo(name=BACKEND, version=self._engine_version, region=self.config.region)

    def capabilities(self) -> Sequence[Capability]:
        """Only what works and is tested on a real engine (narrowed, if asked)."""
        return self._preflight.declared

    def render(self, req: ProvisionRequest) -> list[JSON]:
        """The engine objects ``provision`` would create for ``req`` (network, volumes,
        container bodies, in creation order), after the provision preflight; no I/O.
        Secrets are not resolved: secret env variables and files are absent."""
        self._preflight.provision(req)
        return self._render.instance_objects(Workload.from_request(req, RENDER_RELEASE))

    async def health_check(self) -> HealthStatus:
        """Ping the engine; never raises (an unreachable engine is ``healthy=False``)."""
        started = time.monotonic()
        try:
            async with self._operation() as ctx:
                began = time.monotonic()
                await ctx.client.ping()
                latency = time.monotonic() - began
        except CtrlplaneError as exc:
            return HealthStatus(
                healthy=False,
                message=str(exc),
                latency=timedelta(seconds=time.monotonic() - started),
                checked_at=datetime.now(UTC),
            )
        return HealthStatus(
            healthy=True,
            message=f"Docker engine {self._engine_version} (API {self._api_version})",
            latency=timedelta(seconds=latency),
            checked_at=datetime.now(UTC),
        )

    # -- Provider: provision / deprovision ----------------------------------------------

    async def provision(
        self, req: ProvisionRequest, *, events: Subscriber | None = None
    ) -> ProvisionResult:
        """Create the instance and wait until its services run; idempotent per instance
        ID (a partial one is replaced, keeping its volumes). On failure, timeout or
        cancellation everything this call created is removed and :class:`ProvisionFailed`
        names the step (a cancellation re-raises after cleanup). ``events`` receives step
        pairs and a ``UnitStarted`` per started container."""
        self._preflight.provision(req)
        async with self._operation() as ctx:
            return await provision_instance(ctx, req, events)

    async def deprovision(self, instance_id: str) -> None:
        """Remove every container, volume and the network of the instance. Idempotent."""
        async with self._operation() as ctx:
            await purge(ctx, instance_id, set())

    # -- Provider: lifecycle ------------------------------------------------------------

    async def start(self, instance_id: str) -> None:
        """Start the long-lived services of every unit in dependency order (no-op for
        running ones); joined services cut off from a restarted namespace owner rejoin."""
        async with self._operation() as ctx:
            await start_instance(ctx, instance_id)

    async def stop(self, instance_id: str) -> None:
        """Stop gracefully (SIGTERM, SIGKILL after ``stop_timeout``) in reverse
        dependency order. No-op for stopped services."""
        async with self._operation() as ctx:
            await stop_instance(ctx, instance_id)

    async def restart(self, instance_id: str) -> None:
        """Stop, then start."""
        await self.stop(instance_id)
        await self.start(instance_id)

    # -- Provider: status ---------------------------------------------------------------

    async def status(self, instance_id: str) -> InstanceStatus:
        """Per-service state (worst-of over replicas), worst-of aggregate, endpoints."""
        async with self._operation() as ctx:
            return await read_status(ctx, instance_id)

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """Every instance on the engine (of ``tenant_id``), oldest first; one list call."""
        async with self._operation() as ctx:
            return await list_summaries(ctx, tenant_id)

    # -- Provider: deploy / rollback -----------------------------------------------------

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll out new image/env of the listed services with ``req.strategy`` (see
        :mod:`.strategies`), each new unit gated by the changed services' health checks.
        A failed gate, an error or a cancellation restores the previous version on every
        touched unit; then :class:`DeployFailed` carries the probe evidence (a
        cancellation re-raises). Progress events go to ``events``."""
        self._preflight.deploy(req)
        async with self._operation() as ctx:
            return await deploy_release(ctx, self._preflight, req, events)

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest (live) first; a fresh provider reads the same."""
        async with self._operation() as ctx:
            return await list_releases(ctx, instance_id)

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Restore exactly the snapshot of ``release_id`` with a rolling deploy, recorded
        as a new release whose ``rollback_of`` names it. Unknown or pruned release:
        :class:`ReleaseNotFound`, and nothing changes."""
        self._preflight.rollback()
        async with self._operation() as ctx:
            await rollback_to(ctx, self._preflight, instance_id, release_id, events)

    # -- Provider: scale / resources ------------------------------------------------------

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Change the main service's CPU/memory limits in place and the replica count
        (new units start in order; surplus units, highest first, are removed; a stateful
        set keeps their volumes). A field of 0 leaves that setting unchanged."""
        self._preflight.scale(spec)
        async with self._operation() as ctx:
            await scale_instance(ctx, instance_id, spec)

    async def resources(self, instance_id: str) -> ResourceUsage:
        """CPU (100 = one core), memory and network summed over running containers."""
        async with self._operation() as ctx:
            return await resource_usage(ctx, instance_id)

    # -- Provider: logs / exec ------------------------------------------------------------

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Records of one service (default main), all replicas or ``opts.replica``."""
        options = opts or LogOptions()

        async def opener() -> AsyncIterator[LogRecord]:
            self._preflight.logs()
            return await open_instance_logs(self._operation(), instance_id, options)

        return LogStream(opener)

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` in a service (default main) of a replica (default 0)."""
        self._preflight.exec(req)
        async with self._operation() as ctx:
            return await run_exec(ctx, instance_id, req)
