"""``KubernetesProvider``: the ``Provider`` contract on a Kubernetes cluster, via lightkube.

The facade: each public method runs the preflight (capabilities, validation, the
backend's refusals of :mod:`.limits`) before any I/O, opens a :class:`~.context.Context`
and calls one function of an operation module: :mod:`.provisioning`, :mod:`.lifecycle`,
:mod:`.inspection`, :mod:`.deploys` (with :mod:`.strategies` and :mod:`.recovery`),
:mod:`.usage`, :mod:`.logs`, :mod:`.execution`. What is sent comes from :mod:`.render`
(pure), what is read back is understood by :mod:`.observe` (pure), and every call goes
through :mod:`.client`.

Every mutating method (provision, deprovision, start, stop, restart, deploy, rollback,
scale) runs in an operation that holds the instance's lease, a ``coordination.k8s.io``
Lease (:mod:`.leases`; a second caller waits ``lock_wait``, then ``InstanceBusy``), and
first repairs an operation whose holder died (:mod:`.repair`); the others run in a
read-only operation. Every operation's errors and events are scrubbed of the secret
values it learnt.

Objects are written with server-side apply under one field manager. Nothing is kept in the
provider object: the request, the release history and the replica count ``start``
restores are annotations of the controller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.frames import operation_frames
from ctrlplane.provider.kubernetes import (
    deploys,
    execution,
    inspection,
    lifecycle,
    provisioning,
    repair,
    usage,
)
from ctrlplane.provider.kubernetes.client import Connections
from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.context import Settings
from ctrlplane.provider.kubernetes.leases import KubernetesLeases
from ctrlplane.provider.kubernetes.limits import CAPABILITIES, KubernetesLimits, exec_refusals
from ctrlplane.provider.kubernetes.logs import open_instance_logs
from ctrlplane.provider.kubernetes.render.naming import BACKEND
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
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    LogOptions,
    ProvisionRequest,
    ResourceSpec,
)
from ctrlplane.provider.streams import LogStream
from ctrlplane.secrets import SecretResolver

__all__ = ["CAPABILITIES", "KubernetesProvider"]


class KubernetesProvider:
    """The Kubernetes backend. ``config`` defaults to :meth:`KubernetesConfig.from_env`;
    ``secrets`` resolves the spec's secret references; ``capabilities`` narrows what the
    provider declares (a subset of :data:`~.limits.CAPABILITIES`: the others are refused, before
    any work, as if the backend had not got them)."""

    def __init__(
        self,
        config: KubernetesConfig | None = None,
        *,
        secrets: SecretResolver | None = None,
        capabilities: Iterable[Capability] | None = None,
    ) -> None:
        self.config = config if config is not None else KubernetesConfig.from_env()
        self._preflight = Preflight(
            BACKEND, CAPABILITIES, limits=KubernetesLimits(), narrowed_to=capabilities
        )
        connections = Connections(self.config)
        ops = operation_frames(
            KubernetesLeases(connections),
            provider=BACKEND,
            config=self.config,
            secrets=secrets,
            poll=min(seconds(self.config.poll_interval), seconds(self.config.lease_ttl) / 3),
        )
        self._settings = Settings(connections, ops, self._preflight, repair.repair)

    def __repr__(self) -> str:
        return f"KubernetesProvider(namespace={self.config.namespace!r})"

    async def aclose(self) -> None:
        """Close this event loop's connections to the API server (the provider's calls
        share them; the next call opens new ones)."""
        await self._settings.connections.aclose()

    def info(self) -> ProviderInfo:
        """Name ``kubernetes``, the server's version (``v1.33.0``) once a call has read it
        (``health_check``, ``provision``, ...; empty before), region from the config. No I/O."""
        version = self._settings.facts.git_version
        return ProviderInfo(name=BACKEND, version=version, region=self.config.region)

    def capabilities(self) -> Sequence[Capability]:
        """See :data:`~.limits.CAPABILITIES` (narrowed by the constructor's ``capabilities``)."""
        return self._preflight.declared

    def render(
        self, req: ProvisionRequest, *, server_version: tuple[int, int] = (1, 33)
    ) -> list[JSON]:
        """The manifests ``provision`` would apply for ``req`` on a server of
        ``server_version``, secrets redacted. No I/O. Runs the provision preflight first
        (``InvalidSpec``, ``NotSupported``); see :func:`.provisioning.preview`."""
        self._preflight.provision(req)
        return provisioning.preview(self.config, self._preflight, req, server_version)

    async def provision(
        self, req: ProvisionRequest, *, events: Subscriber | None = None
    ) -> ProvisionResult:
        """Apply every object, wait until every pod is ready and steady; all-or-nothing;
        idempotent per instance ID (an existing instance is waited for and returned as it
        is). Steps ``resolve-secrets``, ``apply``, ``start``; see :mod:`.provisioning`."""
        self._preflight.provision(req)
        async with self._settings.mutating(req.instance_id, "provision", events) as ctx:
            return await provisioning.provision(ctx, req)

    async def deprovision(self, instance_id: str) -> None:
        """Delete every object of the instance (PVCs unless ``keep_volumes``) and its
        Lease; wait until gone."""
        async with self._settings.mutating(instance_id, "deprovision") as ctx:
            await provisioning.delete_all(ctx, instance_id, wait=True)

    async def start(self, instance_id: str) -> None:
        """Scale back to the remembered replica count and wait until ready. No-op if running."""
        async with self._settings.mutating(instance_id, "start") as ctx:
            await lifecycle.start(ctx, instance_id)

    async def stop(self, instance_id: str) -> None:
        """Scale to 0 (the count to restore stays in an annotation); wait until no pod runs."""
        async with self._settings.mutating(instance_id, "stop") as ctx:
            await lifecycle.stop(ctx, instance_id)

    async def restart(self, instance_id: str) -> None:
        """A rollout restart: new pods replace the old ones (stopped instances just start);
        restored when the new pods do not come up and stay up."""
        async with self._settings.mutating(instance_id, "restart") as ctx:
            await lifecycle.restart(ctx, instance_id)

    async def status(self, instance_id: str) -> InstanceStatus:
        """Per-service states from the pods' container statuses; worst-of aggregate; the
        operation running or interrupted (see :mod:`.inspection`)."""
        async with self._settings.reading(instance_id, "status") as ctx:
            return await inspection.status(ctx, instance_id)

    async def units(self, instance_id: str) -> list[UnitStatus]:
        """One row per container of every pod meant to run (a rollout's too), in start-up
        order, then replica; one pod list (see :func:`.inspection.units`)."""
        async with self._settings.reading(instance_id, "units") as ctx:
            return await inspection.units(ctx, instance_id)

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """Every instance in the namespace (of ``tenant_id``), oldest first; state from the
        controller: 0 replicas -> stopped, all ready -> running, else starting."""
        async with self._settings.reading("", "list_instances") as ctx:
            return await inspection.list_instances(ctx, tenant_id)

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest first (the newest is live)."""
        async with self._settings.reading(instance_id, "releases") as ctx:
            return await inspection.releases(ctx, instance_id)

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll out the listed services' new versions with ``req.strategy``, gated by the
        readiness probes and the stability window; any failure, cancellation or API error
        once something changed restores the previous release (``DeployFailed`` with the
        probe evidence, or the error itself). See :mod:`.strategies`, :mod:`.recovery`."""
        self._preflight.deploy(req)
        async with self._settings.mutating(req.instance_id, "deploy", events) as ctx:
            return await deploys.deploy(ctx, req)

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Restore exactly ``release_id``'s snapshot, recorded as a new release (rolling,
        gated like a deploy; the instance's secrets are resolved again and re-applied)."""
        self._preflight.rollback()
        async with self._settings.mutating(instance_id, "rollback", events) as ctx:
            await deploys.rollback(ctx, instance_id, release_id)

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Replicas (of the whole pod) and the main service's limits; 0 leaves a field as
        is; restored when the new pods do not come up (e.g. the scheduler cannot place
        them)."""
        self._preflight.scale(spec)
        async with self._settings.mutating(instance_id, "scale") as ctx:
            await lifecycle.scale(ctx, instance_id, spec)

    async def resources(self, instance_id: str) -> ResourceUsage:
        """Usage from the metrics API (``metrics.k8s.io``); limits from the pod specs (the
        node's allocatable memory for containers without a limit)."""
        async with self._settings.reading(instance_id, "resources") as ctx:
            return await usage.resource_usage(ctx, instance_id)

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Logs of one service (default main) of every pod (or ``opts.replica``), merged in
        time order; ``follow`` streams until the caller stops or the containers end."""
        options = opts or LogOptions()

        async def opener() -> AsyncIterator[LogRecord]:
            self._preflight.logs()
            return await open_instance_logs(self._settings, instance_id, options)

        return LogStream(opener)

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` in a service's container of one pod (replica 0 by default)
        over the ``pods/exec`` websocket; stdin is written and closed; the exit code is the
        process's. No tty."""
        self._preflight.exec(req)
        self._preflight.refuse(exec_refusals(req), subject="exec request")
        async with self._settings.reading(instance_id, "exec") as ctx:
            return await execution.run_exec(ctx, instance_id, req)

    async def health_check(self) -> HealthStatus:
        """Ask the server's ``/version`` (within ``request_timeout``); never raises."""
        return await inspection.health(self._settings)
