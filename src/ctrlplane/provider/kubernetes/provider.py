"""``KubernetesProvider``: the ``Provider`` contract on a Kubernetes cluster, via lightkube.

Every object is written with server-side apply under one field manager, so provisioning
twice converges. Nothing is kept in the provider object: the request (``ctrlplane.io/spec``),
the release history (``ctrlplane.io/releases``) and the replica count ``start`` restores
(``ctrlplane.io/replicas``) are annotations of the controller.

This module is the shell: each public operation states its contract, checks the declared
capability and hands over to the module that does it. Translation from the spec is
:mod:`.manifests` (pure); reading pods back is :mod:`.podstate` (pure); the shared I/O
(client, reading back, applying, waiting) is :mod:`.session`. The operations:
:mod:`.provisioning` (provision, deprovision), :mod:`.lifecycle` (start, stop, restart,
scale), :mod:`.status` (status, list_instances), :mod:`.deploys` (deploy, rollback) with the
strategies of :mod:`.rollout` and their undo in :mod:`.recovery`, :mod:`.usage`
(resources), :mod:`.logs` and :mod:`.execution` (exec). Errors are translated at the
boundary by :mod:`.errors`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

from ctrlplane.provider.capabilities import Capability, require_capability, strategy_capability
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.kubernetes.deploys import deploy_release, rollback_to
from ctrlplane.provider.kubernetes.errors import BACKEND
from ctrlplane.provider.kubernetes.execution import run_exec
from ctrlplane.provider.kubernetes.lifecycle import (
    restart_instance,
    scale_instance,
    start_instance,
    stop_instance,
)
from ctrlplane.provider.kubernetes.logs import open_instance_logs
from ctrlplane.provider.kubernetes.provisioning import delete_all, provision_instance
from ctrlplane.provider.kubernetes.rollout import Rollouts
from ctrlplane.provider.kubernetes.status import list_summaries, read_status
from ctrlplane.provider.kubernetes.usage import resource_usage
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
)
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    LogOptions,
    ProvisionRequest,
    ResourceSpec,
)
from ctrlplane.provider.streams import LogStream
from ctrlplane.provider.validation import validate_request

__all__ = ["CAPABILITIES", "KubernetesProvider"]

CAPABILITIES: tuple[Capability, ...] = (
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
"""What this backend declares: each one passes the conformance suite on the fake server."""


class KubernetesProvider(Rollouts):
    """The Kubernetes backend. ``config`` defaults to :meth:`KubernetesConfig.from_env`;
    ``secrets`` resolves the spec's secret references at provision time."""

    def __repr__(self) -> str:
        return f"KubernetesProvider(namespace={self.config.namespace!r})"

    # metadata

    def info(self) -> ProviderInfo:
        """Name ``kubernetes``, the server's version (``v1.33.0``) once a call has read it
        (``health_check``, ``provision``, ...; empty before), region from the config. No I/O."""
        return ProviderInfo(
            name=BACKEND, version=self._server_git_version, region=self.config.region
        )

    def capabilities(self) -> Sequence[Capability]:
        """See :data:`CAPABILITIES`."""
        return CAPABILITIES

    def render(self, req: ProvisionRequest, *, native_sidecars: bool = True) -> list[JSON]:
        """The manifests ``provision`` would apply for ``req``, secrets redacted. No I/O.

        Validates ``req`` first (``InvalidSpec``). ``native_sidecars`` picks the rendering
        for 1.29+ servers (the default) or older ones.
        """
        validate_request(req)
        return self._render(
            req,
            release_id="rel_" + "0" * 26,
            native=native_sidecars,
            releases=[],
        )

    # provision / deprovision

    async def provision(
        self, req: ProvisionRequest, *, events: Subscriber | None = None
    ) -> ProvisionResult:
        """Apply every object, wait until every pod is ready; all-or-nothing (see protocol).

        Idempotent per instance ID: when the instance already exists (its controller, which
        is applied last, carries its spec), nothing is applied, whatever ``req`` says; the
        call waits until its pods are ready (step ``start``) and returns the existing
        instance as it is (its spec, release and history). Change images and env with
        ``deploy``, replicas and resources with ``scale``, anything else by deprovisioning
        first.

        Steps reported to ``events``: ``resolve-secrets`` (when the request references
        secrets), ``apply`` (server-side apply of every object), ``start`` (until every pod
        of the release is ready). A ``UnitStarted`` is reported for each container of each
        pod when it is first seen running (or completed, for inits), with the pod's ordinal
        (StatefulSets) or its number among the release's pods (Deployments) as ``replica``.
        Containers already running before the call (re-provisioning) are not reported.
        A failure names its step in ``ProvisionFailed.step``: ``init <service>``, ``pull``,
        ``start`` (crash loop) or ``ready`` (deadline). On failure or cancellation of a new
        instance, everything is deleted and the call waits (``deprovision_timeout``) until
        it is gone, even if cancelled again meanwhile; if that cleanup fails, the error's
        reason ends with ``cleanup also failed: ...`` (a note on a cancellation).
        """
        require_capability(self, Capability.PROVISION)
        require_capability(self, Capability.PROVISION)
        return await provision_instance(self, req, events=events)

    async def deprovision(self, instance_id: str) -> None:
        """Delete every object of the instance (PVCs unless ``keep_volumes``), wait until gone."""
        await delete_all(self, instance_id, wait=True)

    # lifecycle

    async def start(self, instance_id: str) -> None:
        """Scale back to the remembered replica count and wait until ready. No-op if running."""
        await start_instance(self, instance_id)

    async def stop(self, instance_id: str) -> None:
        """Scale to 0 (the count to restore stays in an annotation); wait until no pod runs."""
        await stop_instance(self, instance_id)

    async def restart(self, instance_id: str) -> None:
        """A rollout restart: new pods replace the old ones (stopped instances just start)."""
        await restart_instance(self, instance_id)

    async def status(self, instance_id: str) -> InstanceStatus:
        """Per-service states from the pods' container statuses; worst-of aggregate."""
        return await read_status(self, instance_id)

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """Every instance in the namespace (of ``tenant_id``), oldest first: one label-filtered
        list per controller kind. State from the controller: 0 replicas -> stopped, all
        ready -> running, else starting."""
        return await list_summaries(self, tenant_id)

    # releases

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest first (the newest is live)."""
        async with self._client() as client:
            inst = await self._load(client, instance_id)
        return inst.releases

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll out the listed services' new versions with ``req.strategy``, gated by the
        readiness probes (see :mod:`.rollout` for how each strategy runs).

        A new pod counts once its readiness probe passes; a new pod whose probe fails
        ``retries`` times, an image that cannot be pulled, a crash loop, the progress
        deadline or cancellation restores the previous release (``DeployFailed`` carries
        the probe evidence). An API error once something changed (the server unreachable,
        a 5xx answer) restores it too, and removes a blue-green/canary set, before that
        error is raised (``BackendUnavailable``, ``BackendError``...; its message says if
        restoring failed too). ``canary`` works for Deployments and StatefulSets (a
        partitioned rolling update); ``blue-green`` of a StatefulSet raises ``NotSupported``
        before any change (a second set of pods cannot keep the replicas' volumes).
        Progress events (beyond Go) go to ``events``: step pairs, units started and
        removed, probes, traffic switches and the roll-back.
        """
        require_capability(self, Capability.DEPLOY)
        require_capability(self, strategy_capability(req.strategy))
        return await deploy_release(self, req, events=events)

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Restore exactly ``release_id``'s snapshot, recorded as a new release (rolling,
        gated like a deploy; the instance's secrets are resolved again and re-applied)."""
        require_capability(self, Capability.DEPLOY)
        await rollback_to(self, instance_id, release_id, events=events)

    # scale and usage

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Replicas (of the whole pod) and the main service's limits; 0 leaves a field as is."""
        require_capability(self, Capability.SCALE)
        await scale_instance(self, instance_id, spec)

    async def resources(self, instance_id: str) -> ResourceUsage:
        """Usage from the metrics API (``metrics.k8s.io``); limits from the pod specs (the
        node's allocatable memory for containers without a limit)."""
        return await resource_usage(self, instance_id)

    # logs and exec

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Logs of one service (default main) of every pod (or ``opts.replica``), merged in
        time order; ``follow`` streams until the caller stops or the containers end."""
        options = opts or LogOptions()

        async def opener() -> AsyncIterator[LogRecord]:
            require_capability(self, Capability.LOGS)
            return await open_instance_logs(self, instance_id, options)

        return LogStream(opener)

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` in a service's container of one pod (replica 0 by default)
        over the ``pods/exec`` websocket; stdin is written and closed; the exit code is the
        process's."""
        require_capability(self, Capability.EXEC)
        return await run_exec(self, instance_id, req)

    # health

    async def health_check(self) -> HealthStatus:
        """Ask the server's ``/version``; never raises for an unreachable server."""
        began = time.monotonic()
        try:
            async with self._client() as client:
                major, minor = await self._server_version(client)
            message = f"Kubernetes {major}.{minor}"
            healthy = True
        except Exception as exc:
            message, healthy = str(exc), False
        return HealthStatus(
            healthy=healthy,
            message=message,
            latency=timedelta(seconds=time.monotonic() - began),
            checked_at=datetime.now(UTC),
        )
