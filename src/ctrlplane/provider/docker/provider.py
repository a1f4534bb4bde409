"""``DockerProvider``: the ``Provider`` contract on one Docker engine (the facade).

One instance is one bridge network plus one container per service per replica unit
(see :mod:`.render`); all state lives in engine labels, so a fresh provider object
manages instances created by another. What it declares, and what Docker cannot do for
a given request, is in :mod:`.limits`; the deploy strategies are in :mod:`.strategies`.

Each method runs the preflight (capability, validation, the backend's refusals) before
any I/O, opens one operation (:mod:`.frames`: a mutating one holds the instance's lease
and repairs an interrupted operation first; every one scrubs its errors of the secrets
it learns) with a :class:`~.context.DockerContext` on a fresh client, and calls one
function of an operation module: :mod:`.provisioning`, :mod:`.objects`,
:mod:`.lifecycle`, :mod:`.inspection`, :mod:`.deploys`, :mod:`.logs`, :mod:`.execution`,
:mod:`.sessions`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.docker import inspection, lifecycle
from ctrlplane.provider.docker.config import BACKEND, DockerConfig
from ctrlplane.provider.docker.deploys import deploy_release, list_releases, rollback_to
from ctrlplane.provider.docker.execution import run_exec
from ctrlplane.provider.docker.frames import DockerFrames
from ctrlplane.provider.docker.limits import DECLARED, DockerLimits
from ctrlplane.provider.docker.logs import open_instance_logs
from ctrlplane.provider.docker.objects import removal_intent, remove_instance
from ctrlplane.provider.docker.provisioning import provision_instance, provision_intent
from ctrlplane.provider.docker.render.bodies import RENDER_RELEASE, Renderer
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.docker.sessions import open_session
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
        self._render = Renderer(self.config)
        self._preflight = Preflight(
            BACKEND, DECLARED, limits=DockerLimits(), narrowed_to=capabilities
        )
        self._frames = DockerFrames(self.config, secrets)

    def __repr__(self) -> str:
        return f"DockerProvider(docker_host={self.config.docker_host!r})"

    # -- Provider: metadata -----------------------------------------------------------

    def info(self) -> ProviderInfo:
        """Name ``docker``, the engine's version (known after the first engine call)."""
        return ProviderInfo(
            name=BACKEND, version=self._frames.engine_version, region=self.config.region
        )

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
        """Ping the engine (within ``connect_timeout`` + ``request_timeout``); never
        raises (an unreachable or silent engine is ``healthy=False``)."""
        return await inspection.engine_health(self._frames)

    # -- Provider: provision / deprovision ----------------------------------------------

    async def provision(
        self, req: ProvisionRequest, *, events: Subscriber | None = None
    ) -> ProvisionResult:
        """Create the instance and wait until its services run and stay up through the
        stability window; idempotent per instance ID (a partial one is replaced, keeping
        its volumes). On failure, timeout (``provision_timeout``) or cancellation
        everything this call created is removed (bounded) and :class:`ProvisionFailed`
        names the step (a cancellation re-raises after cleanup); a lost engine raises
        :class:`BackendUnavailable`. ``events`` receives step pairs and a
        ``UnitStarted`` per started container."""
        self._preflight.provision(req)
        intent = provision_intent()  # names the new release
        frame = self._frames.mutating(req.instance_id, "provision", events, intent)
        async with frame as (ctx, op):
            return await provision_instance(ctx, op, req, intent["release_id"])

    async def deprovision(self, instance_id: str) -> None:
        """Remove every container, volume (unless ``keep_volumes``) and the network of
        the instance. Idempotent."""
        intent = removal_intent()
        async with self._frames.mutating(instance_id, "deprovision", None, intent) as (ctx, op):
            await remove_instance(ctx, op)

    # -- Provider: lifecycle ------------------------------------------------------------

    async def start(self, instance_id: str) -> None:
        """Start every unit's namespace holder, then its long-lived services in dependency
        order (no-op for running ones); the services of a unit whose holder was down or
        gone are restarted into its new namespace. Each must stay up through the
        stability window."""
        async with self._frames.mutating(instance_id, "start") as (ctx, op):
            await lifecycle.start_instance(ctx, op, instance_id)

    async def stop(self, instance_id: str) -> None:
        """Stop gracefully (SIGTERM, SIGKILL after ``stop_timeout``) in reverse
        dependency order. No-op for stopped services."""
        async with self._frames.mutating(instance_id, "stop") as (ctx, _):
            await lifecycle.stop_instance(ctx, instance_id)

    async def restart(self, instance_id: str) -> None:
        """Stop, then start (one operation)."""
        async with self._frames.mutating(instance_id, "restart") as (ctx, op):
            await lifecycle.restart_instance(ctx, op, instance_id)

    # -- Provider: status ---------------------------------------------------------------

    async def status(self, instance_id: str) -> InstanceStatus:
        """Per-service state (worst-of over replicas), worst-of aggregate, endpoints; a
        running or interrupted operation in ``metadata`` (and the message). Texts that
        quote container output are scrubbed of the instance's secret values."""
        async with self._frames.reading(instance_id, "status") as (ctx, op):
            return await inspection.read_status(ctx, op, await self._frames.lease(instance_id))

    async def units(self, instance_id: str) -> list[UnitStatus]:
        """One row per container (a rollout's new and retiring ones too), in start-up
        order, then replica."""
        async with self._frames.reading(instance_id, "units") as (ctx, op):
            return await inspection.list_units(ctx, op)

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """Every instance on the engine (of ``tenant_id``), oldest first; one list call."""
        async with self._frames.context() as ctx:
            return await inspection.list_summaries(ctx, tenant_id)

    # -- Provider: deploy / rollback -----------------------------------------------------

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll out new image/env of the listed services with ``req.strategy`` (see
        :mod:`.strategies`), each new unit gated by the changed services' health checks
        and the stability window. A failed gate, an error or a cancellation restores the
        previous version on every touched unit; then :class:`DeployFailed` carries the
        probe evidence (a cancellation re-raises). Progress events go to ``events``."""
        self._preflight.deploy(req)
        async with self._frames.mutating(req.instance_id, "deploy", events) as (ctx, op):
            return await deploy_release(ctx, op, self._preflight, req)

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest (live) first; a fresh provider reads the same."""
        async with self._frames.reading(instance_id, "releases") as (ctx, _):
            return await list_releases(ctx, instance_id)

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Restore exactly the snapshot of ``release_id`` with a rolling deploy, recorded
        as a new release whose ``rollback_of`` names it. Unknown or pruned release:
        :class:`ReleaseNotFound`, and nothing changes."""
        self._preflight.rollback()
        async with self._frames.mutating(instance_id, "rollback", events) as (ctx, op):
            await rollback_to(ctx, op, self._preflight, instance_id, release_id)

    # -- Provider: scale / resources ------------------------------------------------------

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Change the main service's CPU/memory limits in place and the replica count
        (new units start in order; surplus units, highest first, are removed; a stateful
        set keeps their volumes). A field of 0 leaves that setting unchanged."""
        self._preflight.scale(spec)
        async with self._frames.mutating(instance_id, "scale") as (ctx, op):
            await lifecycle.scale_instance(ctx, op, instance_id, spec)

    async def resources(self, instance_id: str) -> ResourceUsage:
        """CPU (100 = one core), memory and network summed over running containers."""
        async with self._frames.reading(instance_id, "resources") as (ctx, _):
            return await inspection.resource_usage(ctx, instance_id)

    # -- Provider: logs / exec ------------------------------------------------------------

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Records of one service (default main), all replicas or ``opts.replica``."""
        options = opts or LogOptions()

        async def opener() -> AsyncIterator[LogRecord]:
            self._preflight.logs()
            return await open_instance_logs(self._frames.context(), instance_id, options)

        return LogStream(opener)

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` in a service (default main) of a replica (default 0)."""
        self._preflight.exec(req)
        async with self._frames.reading(instance_id, "exec") as (ctx, _):
            return await run_exec(ctx, instance_id, req)

    @asynccontextmanager
    async def exec_session(self, instance_id: str, req: ExecRequest) -> AsyncIterator[ExecSession]:
        """An interactive session with ``req.command`` (with a tty if ``req.tty``;
        ``req.stdin`` unused), after the ``exec`` checks; leaving the block ends every
        process it started (:mod:`.sessions`). Bound :meth:`ExecSession.wait` yourself."""
        self._preflight.exec(req)
        async with (
            self._frames.reading(instance_id, "exec") as (ctx, _),
            open_session(ctx, instance_id, req) as live,
        ):
            yield live
