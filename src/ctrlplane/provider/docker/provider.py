"""``DockerProvider``: the ``Provider`` contract on one Docker engine.

Model (see :mod:`ctrlplane.provider.docker.translate` for the details): one instance is
one bridge network plus, per replica unit, one container per service; the services of a
unit share a network namespace; all state lives in engine labels, so a fresh provider
object manages instances created by another. Every engine call is label-filtered by the
instance ID (never a scan of the whole engine).

Declared capabilities: ``provision``; ``deploy`` with ``strategy:rolling`` (one replica
unit at a time, each gated by the changed services' health checks, rolled back on a
failed gate), ``strategy:canary`` (the same after an observed canary) and
``strategy:blue-green`` (a whole gated new set, then one traffic switch), see
:mod:`~ctrlplane.provider.docker.rollout` and :mod:`~ctrlplane.provider.docker.bluegreen`;
``rollback`` to any retained release (see :mod:`~ctrlplane.provider.docker.history`);
``scale``, ``logs``, ``exec``, ``volumes``. Not declared: GPUs, autoscaling, custom domains, TLS.

This class is the shell: each method checks its capability, validates what can be
checked without the engine, opens a session and hands over to the module that does the
work: :mod:`.provisioning`, :mod:`.lifecycle`, :mod:`.inspection`, :mod:`.deploys`,
:mod:`.logs` and :mod:`.execution`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from ctrlplane.errors import CtrlplaneError, InvalidSpec, Problem
from ctrlplane.provider.capabilities import Capability, require_capability, strategy_capability
from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.provider.docker.deploys import deploy_release, list_releases, rollback_to
from ctrlplane.provider.docker.engine import BACKEND as NAME
from ctrlplane.provider.docker.engine import open_engine
from ctrlplane.provider.docker.execution import check_command, run_exec
from ctrlplane.provider.docker.inspection import list_summaries, read_status, resource_usage
from ctrlplane.provider.docker.lifecycle import scale_instance, start_instance, stop_instance
from ctrlplane.provider.docker.logs import open_instance_logs
from ctrlplane.provider.docker.provisioning import provision_instance, render_objects
from ctrlplane.provider.docker.rollout import Rollout
from ctrlplane.provider.docker.translate import Translator, check_docker
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.events import Subscriber
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
from ctrlplane.provider.validation import validate_request, validate_scale
from ctrlplane.secrets import SecretResolver

__all__ = ["DockerProvider"]

JSON = dict[str, Any]


_CAPABILITIES = (
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


class DockerProvider:
    """The Docker backend. Holds configuration only; no per-instance state.

    ``secrets`` resolves the services' secret references at provision, deploy and scale
    time; without it a request that references a secret fails before any side effect.
    """

    def __init__(
        self, config: DockerConfig | None = None, *, secrets: SecretResolver | None = None
    ) -> None:
        self.config = config if config is not None else DockerConfig.from_env()
        self._secrets = secrets
        self._tr = Translator(self.config)
        self._engine_version = ""
        self._api_version = self.config.api_version

    def __repr__(self) -> str:
        return f"DockerProvider(docker_host={self.config.docker_host!r})"

    # -- plumbing ---------------------------------------------------------------------

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Rollout]:
        """A session on a fresh engine client for one operation (the API version is
        negotiated once per provider object, then reused)."""
        async with open_engine(self.config.docker_host, self._api_version) as engine:
            if self._api_version == "auto":
                version = await engine.version()
                self._api_version = "v" + str(version.get("ApiVersion", "1.41"))
                self._engine_version = str(version.get("Version", ""))
                engine.client.api_version = self._api_version
            yield Rollout(engine, self._tr, self._secrets)

    # -- Provider: metadata -----------------------------------------------------------

    def info(self) -> ProviderInfo:
        """Name ``docker``, the engine's version (known after the first engine call)."""
        return ProviderInfo(name=NAME, version=self._engine_version, region=self.config.region)

    def capabilities(self) -> Sequence[Capability]:
        """Only what works and is tested on a real engine (see the module docstring)."""
        return _CAPABILITIES

    def render(self, req: ProvisionRequest) -> list[JSON]:
        """The engine objects ``provision`` would create for ``req``: the network, the
        named volumes and the container create bodies, in creation order. No I/O.

        Validates first. Secrets are not resolved: secret env variables and secret files
        are absent from the bodies (they are added when the containers are created).
        """
        return render_objects(self._tr, req)

    async def health_check(self) -> HealthStatus:
        """Ping the engine; never raises (an unreachable engine is ``healthy=False``)."""
        started = time.monotonic()
        try:
            async with self._session() as ses:
                began = time.monotonic()
                await ses.engine.ping()
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
        """Create the instance and wait until its services run (see the module docstring).

        Validates first (including what Docker cannot do, e.g. a fixed host port with
        several replicas); idempotent per instance ID (an existing complete instance is
        returned as it is; a partial one is replaced, keeping its volumes); on failure,
        timeout or cancellation everything this call created is removed and
        :class:`ProvisionFailed` names the step (cancellation re-raises after cleanup).
        ``events`` receives step pairs and a ``UnitStarted`` per started container.
        """
        require_capability(self, Capability.PROVISION)
        validate_request(req)
        replicas = max(req.main.resources.replicas, 1)
        check_docker(req.services, replicas)
        if any(s.volumes for s in req.services):
            require_capability(self, Capability.VOLUMES)
        async with self._session() as ses:
            return await provision_instance(ses, req, events)

    async def deprovision(self, instance_id: str) -> None:
        """Remove every container, volume and the network of the instance. Idempotent."""
        async with self._session() as ses:
            await ses.purge(instance_id, set())

    # -- Provider: lifecycle ------------------------------------------------------------

    async def start(self, instance_id: str) -> None:
        """Start the long-lived services of every unit in dependency order (inits ran
        already). No-op for running services. A unit whose namespace owner is down, or
        whose owner restarted after its joined services (the engine restarted it after a
        crash, which left them cut off), has its joined services stopped first, so they
        rejoin the owner's current namespace."""
        async with self._session() as ses:
            await start_instance(ses, instance_id)

    async def stop(self, instance_id: str) -> None:
        """Stop gracefully (SIGTERM, SIGKILL after ``stop_timeout``) in reverse
        dependency order. No-op for stopped services."""
        async with self._session() as ses:
            await stop_instance(ses, instance_id)

    async def restart(self, instance_id: str) -> None:
        """Stop, then start."""
        await self.stop(instance_id)
        await self.start(instance_id)

    # -- Provider: status ---------------------------------------------------------------

    async def status(self, instance_id: str) -> InstanceStatus:
        """Per-service state (worst-of over replicas), worst-of aggregate, endpoints."""
        async with self._session() as ses:
            return await read_status(ses, instance_id)

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """Every instance on the engine (of ``tenant_id``), oldest first; one list call."""
        async with self._session() as ses:
            return await list_summaries(ses, tenant_id)

    # -- Provider: deploy / rollback -----------------------------------------------------

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll out new image/env of the listed services, one replica unit at a time.

        Each unit's changed containers are replaced (the whole unit when its namespace
        owner or an init changes); if a changed service has a health check, the new
        unit must pass it before the next unit is touched. A failed gate, an error or a
        cancellation restores the previous version on every touched unit; then
        :class:`DeployFailed` carries the probe evidence (cancellation re-raises).
        Unlisted services keep their version. Progress events (beyond Go) go to
        ``events``: steps, units started, probe results, a rollback.
        """
        require_capability(self, Capability.DEPLOY)
        require_capability(
            self, strategy_capability(req.strategy), detail=f"strategy {req.strategy}"
        )
        async with self._session() as ses:
            return await deploy_release(ses, req, events)

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest (live) first; a fresh provider reads the same."""
        async with self._session() as ses:
            return await list_releases(ses, instance_id)

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Restore exactly the snapshot of ``release_id`` with a rolling deploy, recorded
        as a new release whose ``rollback_of`` names it. Unknown or pruned release:
        :class:`ReleaseNotFound`, and nothing changes."""
        require_capability(self, Capability.DEPLOY)
        require_capability(self, strategy_capability(DeployStrategy.ROLLING))
        async with self._session() as ses:
            await rollback_to(ses, instance_id, release_id, events)

    # -- Provider: scale / resources ------------------------------------------------------

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Change the main service's CPU/memory limits in place and the replica count.

        New units start in order (inits first); surplus units (highest numbers) are
        stopped and removed (a stateful set keeps their volumes until deprovision).
        A field of 0 leaves that setting unchanged.
        """
        require_capability(self, Capability.SCALE)
        validate_scale(spec)
        if spec.disk_mb or spec.gpu:
            raise InvalidSpec(
                [Problem("disk_mb" if spec.disk_mb else "gpu", "not supported by Docker")],
                subject="scale request",
            )
        async with self._session() as ses:
            await scale_instance(ses, instance_id, spec)

    async def resources(self, instance_id: str) -> ResourceUsage:
        """CPU (100 = one core), memory and network summed over running containers."""
        async with self._session() as ses:
            return await resource_usage(ses, instance_id)

    # -- Provider: logs / exec ------------------------------------------------------------

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Records of one service (default main), all replicas or ``opts.replica``."""
        options = opts or LogOptions()

        async def opener() -> AsyncIterator[LogRecord]:
            require_capability(self, Capability.LOGS)
            return await open_instance_logs(self._session(), instance_id, options)

        return LogStream(opener)

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` in a service (default main) of a replica (default 0)."""
        require_capability(self, Capability.EXEC)
        check_command(req)
        async with self._session() as ses:
            return await run_exec(ses, instance_id, req)
