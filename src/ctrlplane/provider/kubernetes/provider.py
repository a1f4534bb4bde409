"""``KubernetesProvider``: the ``Provider`` contract on a Kubernetes cluster, via lightkube.

Every object is written with server-side apply under one field manager, so provisioning
twice converges. Nothing is kept in the provider object: the request (``ctrlplane.io/spec``),
the release history (``ctrlplane.io/releases``) and the replica count ``start`` restores
(``ctrlplane.io/replicas``) are annotations of the controller. Translation from the spec is
:mod:`.manifests` (pure); reading pods back is :mod:`.podstate` (pure); the shared I/O
(client, reading back, applying, waiting) is :mod:`.session`; deploy strategies are
:mod:`.rollout`. This module holds the public operations; errors are translated at the
boundary by :mod:`.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, cast

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import (
    ConfigMap,
    Node,
    PersistentVolumeClaim,
    Pod,
    Secret,
    Service,
)
from lightkube.types import CascadeType, PatchType

from ctrlplane.errors import (
    BackendError,
    CtrlplaneError,
    InstanceNotFound,
    InvalidSpec,
    NotSupported,
    OperationTimeout,
    Problem,
    ProvisionFailed,
    ReleaseNotFound,
)
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.capabilities import Capability, require_capability, strategy_capability
from ctrlplane.provider.enums import DeployStrategy, InstanceState
from ctrlplane.provider.events import StepTracker as Steps
from ctrlplane.provider.events import (
    Subscriber,
)
from ctrlplane.provider.kubernetes.config import LogStreams, ServiceType
from ctrlplane.provider.kubernetes.errors import BACKEND, is_not_found, translated
from ctrlplane.provider.kubernetes.history import new_release
from ctrlplane.provider.kubernetes.logs import LogSource, open_merged
from ctrlplane.provider.kubernetes.manifests import (
    JSON,
    RenderInputs,
    render,
)
from ctrlplane.provider.kubernetes.naming import (
    ANN_RELEASE,
    ANN_SPEC,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_TENANT,
    MANAGER,
    base_name,
)
from ctrlplane.provider.kubernetes.podstate import (
    endpoints,
    instance_status,
    parse_time,
    public_addresses,
    replica_order,
)
from ctrlplane.provider.kubernetes.progress import UnitEvents
from ctrlplane.provider.kubernetes.rollout import Rollouts
from ctrlplane.provider.kubernetes.session import Instance, RolloutFailed
from ctrlplane.provider.kubernetes.shielding import run_to_end
from ctrlplane.provider.releases import Release, require_new_release_id
from ctrlplane.provider.results import (
    DeployResult,
    Endpoint,
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
from ctrlplane.provider.validation import validate_deploy, validate_request, validate_scale

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

_NO_BG = (
    "not for stateful_set workloads: blue-green runs a second full set of pods beside the "
    "old one, and a StatefulSet's replicas own their volumes (one ReadWriteOnce claim per "
    "ordinal), so the second set would start on empty volumes or share the live ones; "
    "deploy stateful sets with strategy 'canary' (a partitioned rolling update that keeps "
    "every replica's volume) or 'rolling'"
)

_ORDINAL_LABEL = "statefulset.kubernetes.io/pod-name"
"""The label a StatefulSet puts on its pods (their names end with the ordinal)."""

PodMetrics = create_namespaced_resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods")

_CLEANUP_KINDS: tuple[Any, ...] = (Deployment, StatefulSet, Service, Secret, ConfigMap)


def _parse_quantity(text: str) -> float:
    """A Kubernetes quantity as a plain number (bytes for memory, cores for CPU)."""
    units = {
        "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
        "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3, "n": 1e-9, "u": 1e-6,
    }  # fmt: skip
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)


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
        validate_request(req)
        render(req, self.config, RenderInputs(release_id="rel_check", native_sidecars=True))
        iid = req.instance_id
        steps, units = Steps(iid, events), UnitEvents(iid, events)
        created = False
        try:
            async with steps.guard(), self._client() as client:
                existing: Instance | None = None
                with contextlib.suppress(InstanceNotFound):
                    existing = await self._load(client, iid)
                if existing is not None:
                    units.seed(await self._pods(client, iid))
                    inst, eps = await self._converge(client, existing, steps, units)
                else:
                    if any(s.secrets for s in req.services):
                        await steps.enter("resolve-secrets")
                    values = await self._secret_values(req)
                    native = await self._native_sidecars(client)
                    created = True
                    inst, eps = await self._provision(
                        client, req, values, native=native, steps=steps, units=units
                    )
        except BaseException as exc:
            if created:
                await self._clean_up_after(iid, exc, steps.current)
            raise
        return ProvisionResult(
            provider_ref=base_name(iid),
            service_refs={s.name: f"{base_name(iid)}/{s.name}" for s in inst.req.services},
            endpoints=eps,
            metadata=self._metadata(inst),
        )

    async def _provision(
        self,
        client: AsyncClient,
        req: ProvisionRequest,
        values: dict[str, bytes],
        *,
        native: bool,
        steps: Steps,
        units: UnitEvents,
    ) -> tuple[Instance, list[Endpoint]]:
        """The cluster part of :meth:`provision` for a new instance (steps ``apply`` and
        ``start``): apply the objects of ``req`` as its first release and wait."""
        release_id = new_id(RELEASE_PREFIX)
        manifests = self._render(
            req,
            release_id=release_id,
            native=native,
            releases=[new_release(release_id, req.services)],
            secret_values=values,
        )
        kinds = ", ".join(f"{m['kind']} {m['metadata']['name']}" for m in manifests)
        await steps.enter("apply", kinds)
        await self._apply(client, manifests, f"provision {req.instance_id}")
        return await self._converge(client, await self._load(client, req.instance_id), steps, units)

    async def _converge(
        self, client: AsyncClient, inst: Instance, steps: Steps, units: UnitEvents
    ) -> tuple[Instance, list[Endpoint]]:
        """Step ``start``: wait (``provision_timeout``) until the pods of ``inst``'s live
        release are ready; ``ProvisionFailed`` names the failed step."""
        iid = inst.req.instance_id
        await steps.enter("start", f"{inst.replicas} replica{'s' if inst.replicas != 1 else ''}")
        try:
            await self._wait(
                client,
                inst.req,
                release=inst.release_id,
                restarted_at=inst.restarted_at,
                limit=self.config.provision_timeout.total_seconds(),
                what=f"provision of {iid}",
                on_pods=units.observe,
            )
        except RolloutFailed as failed:
            raise ProvisionFailed(iid, failed.step, failed.reason) from None
        except OperationTimeout as exc:
            raise ProvisionFailed(iid, "ready", str(exc)) from None
        inst = await self._load(client, iid)
        eps = await self._endpoints(client, inst.req, await self._pods(client, iid))
        await steps.finish()
        return inst, eps

    async def _clean_up_after(self, iid: str, exc: BaseException, step: str) -> NoReturn:
        """Delete what a failed or cancelled provision of a new instance created and wait
        until it is gone (to the end, even if cancelled again), then raise: ``exc``, or a
        cancellation if one arrived meanwhile; a failed cleanup is appended to the reason
        (``ProvisionFailed``, also made from another error) or noted on a cancellation."""
        problem, again = await run_to_end(self._cleanup(iid))
        note = f"cleanup also failed, objects may be left (run deprovision): {problem}"
        if isinstance(exc, asyncio.CancelledError) or again:
            cancel = exc if isinstance(exc, asyncio.CancelledError) else asyncio.CancelledError()
            if problem:
                cancel.add_note(note)
            raise cancel
        if not problem:
            raise exc
        if isinstance(exc, ProvisionFailed):
            raise ProvisionFailed(iid, exc.step, f"{exc.reason}; {note}") from None
        raise ProvisionFailed(iid, step or "apply", f"{exc}; {note}") from exc

    async def _cleanup(self, instance_id: str) -> str:
        """Delete every object of the instance and wait until gone; '' or why it failed."""
        try:
            await self._delete_all(instance_id, wait=True)
        except CtrlplaneError as exc:
            return str(exc)
        return ""

    async def _endpoints(
        self, client: AsyncClient, req: ProvisionRequest, pods: Sequence[JSON]
    ) -> list[Endpoint]:
        """Cluster DNS endpoints, plus node-port and load-balancer ones for those Service types."""
        host = (
            f"{base_name(req.instance_id)}.{self.config.namespace}.svc.{self.config.cluster_domain}"
        )
        if self.config.service_type is ServiceType.CLUSTER_IP or not any(
            s.ports for s in req.services
        ):
            return endpoints(req, host)
        ns = self.config.namespace
        try:
            with translated(f"read Service of {req.instance_id}"):
                service = cast(
                    JSON,
                    (await client.get(Service, base_name(req.instance_id), namespace=ns)).to_dict(),
                )
        except Exception as exc:
            if is_not_found(exc.__cause__ or exc):
                return endpoints(req, host)
            raise
        nodes: list[JSON] = []
        for name in sorted(
            {str(p["spec"].get("nodeName")) for p in pods if p["spec"].get("nodeName")}
        ):
            with translated(f"read node {name}"):
                nodes.append(cast(JSON, cast(Any, await client.get(Node, name)).to_dict()))
        return endpoints(req, host, public_addresses(service, nodes))

    def _metadata(self, inst: Instance) -> dict[str, str]:
        return {
            "namespace": self.config.namespace,
            "kind": str(inst.workload.get("kind", "")),
            "release_id": inst.release_id,
        }

    async def _delete_all(self, instance_id: str, *, wait: bool) -> None:
        ns = self.config.namespace
        labels: dict[str, Any] = {LABEL_INSTANCE: instance_id}
        async with self._client() as client:
            kinds: list[Any] = list(_CLEANUP_KINDS)
            if not self.config.keep_volumes:
                kinds.append(PersistentVolumeClaim)
            for kind in kinds:
                with translated(f"list {kind.__name__} of {instance_id}"):
                    names = [
                        o.metadata.name
                        async for o in client.list(kind, namespace=ns, labels=labels)
                    ]
                for name in names:
                    try:
                        with translated(f"delete {kind.__name__} {name}"):
                            await client.delete(
                                kind, name, namespace=ns, cascade=CascadeType.BACKGROUND
                            )
                    except Exception as exc:
                        if not is_not_found(exc.__cause__ or exc):
                            raise
            if not wait:
                return
            timeout = self.config.deprovision_timeout.total_seconds()
            deadline = time.monotonic() + timeout
            while await self._leftovers(client, instance_id):
                if time.monotonic() >= deadline:
                    raise OperationTimeout(
                        f"deprovision of {instance_id}", timeout, detail="objects remain"
                    )
                await asyncio.sleep(self.config.poll_interval.total_seconds())

    async def _leftovers(self, client: AsyncClient, instance_id: str) -> list[str]:
        ns = self.config.namespace
        labels: dict[str, Any] = {LABEL_INSTANCE: instance_id}
        kinds: list[Any] = [*_CLEANUP_KINDS, Pod]
        if not self.config.keep_volumes:
            kinds.append(PersistentVolumeClaim)
        found: list[str] = []
        for kind in kinds:
            with translated(f"list {kind.__name__} of {instance_id}"):
                found += [
                    f"{kind.__name__}/{o.metadata.name}"
                    async for o in client.list(kind, namespace=ns, labels=labels)
                ]
        return found

    async def deprovision(self, instance_id: str) -> None:
        """Delete every object of the instance (PVCs unless ``keep_volumes``), wait until gone."""
        await self._delete_all(instance_id, wait=True)

    # lifecycle

    async def _scale_to(self, client: AsyncClient, inst: Instance, replicas: int) -> None:
        kind = Deployment if inst.workload.get("kind") == "Deployment" else StatefulSet
        with translated(f"scale {inst.req.instance_id}", instance_id=inst.req.instance_id):
            await client.patch(
                kind.Scale,
                base_name(inst.req.instance_id),
                {"spec": {"replicas": replicas}},
                namespace=self.config.namespace,
                patch_type=PatchType.MERGE,
            )

    async def start(self, instance_id: str) -> None:
        """Scale back to the remembered replica count and wait until ready. No-op if running."""
        async with self._client() as client:
            inst = await self._load(client, instance_id)
            if inst.replicas == 0:
                await self._scale_to(client, inst, inst.remembered)
            await self._wait_ready(client, inst, f"start of {instance_id}")

    async def stop(self, instance_id: str) -> None:
        """Scale to 0 (the count to restore stays in an annotation); wait until no pod runs."""
        async with self._client() as client:
            inst = await self._load(client, instance_id)
            if inst.replicas:
                await self._scale_to(client, inst, 0)
            await self._wait_scaled_down(
                client, instance_id, self.config.provision_timeout.total_seconds()
            )

    async def restart(self, instance_id: str) -> None:
        """A rollout restart: new pods replace the old ones (stopped instances just start)."""
        async with self._client() as client:
            inst = await self._load(client, instance_id)
            if inst.replicas == 0:
                await self._scale_to(client, inst, inst.remembered)
                await self._wait_ready(client, inst, f"restart of {instance_id}")
                return
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            native = await self._native_sidecars(client)
            manifest = self._render(
                inst.req,
                release_id=inst.release_id,
                native=native,
                releases=inst.releases,
                replicas=inst.replicas,
                remembered=inst.remembered,
                restarted_at=stamp,
            )[-1]
            await self._apply(client, [manifest], f"restart {instance_id}")
            inst = await self._load(client, instance_id)
            await self._wait_ready(client, inst, f"restart of {instance_id}")

    async def status(self, instance_id: str) -> InstanceStatus:
        """Per-service states from the pods' container statuses; worst-of aggregate."""
        async with self._client() as client:
            inst = await self._load(client, instance_id)
            pods = await self._pods(client, instance_id)
            eps = await self._endpoints(client, inst.req, pods)
        return instance_status(inst.req, inst.workload, pods, eps, self._metadata(inst))

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """Every instance in the namespace (of ``tenant_id``), oldest first: one label-filtered
        list per controller kind. State from the controller: 0 replicas -> stopped, all
        ready -> running, else starting."""
        labels: dict[str, Any] = {LABEL_MANAGED_BY: MANAGER}
        if tenant_id is not None:
            labels[LABEL_TENANT] = tenant_id
        found: list[JSON] = []
        async with self._client() as client:
            kinds: tuple[Any, ...] = (Deployment, StatefulSet)
            ns = self.config.namespace
            for kind in kinds:
                with translated(f"list {kind.__name__}s"):
                    found += [
                        cast(JSON, cast(Any, o).to_dict())
                        async for o in client.list(kind, namespace=ns, labels=labels)
                    ]
        out: list[InstanceSummary] = []
        for obj in found:
            meta = obj["metadata"]
            ann = meta.get("annotations") or {}
            try:
                req = ProvisionRequest.model_validate_json(ann.get(ANN_SPEC, ""))
            except ValueError:
                continue
            want = int((obj.get("spec") or {}).get("replicas", 0))
            ready = int((obj.get("status") or {}).get("readyReplicas") or 0)
            if want == 0:
                state = InstanceState.STOPPED
            elif ready >= want:
                state = InstanceState.RUNNING
            else:
                state = InstanceState.STARTING
            out.append(
                InstanceSummary(
                    instance_id=req.instance_id,
                    tenant_id=req.tenant_id,
                    name=req.name,
                    state=state,
                    release_id=ann.get(ANN_RELEASE, ""),
                    created_at=parse_time(meta.get("creationTimestamp")),
                )
            )
        out.sort(key=lambda s: (s.created_at or datetime.min.replace(tzinfo=UTC), s.instance_id))
        return out

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
        the probe evidence). ``canary`` works for Deployments and StatefulSets (a
        partitioned rolling update); ``blue-green`` of a StatefulSet raises ``NotSupported``
        before any change (a second set of pods cannot keep the replicas' volumes).
        Progress events (beyond Go) go to ``events``: step pairs, units started and
        removed, probes, traffic switches and the roll-back.
        """
        require_capability(self, Capability.DEPLOY)
        require_capability(self, strategy_capability(req.strategy))
        validate_deploy(req)
        async with self._client() as client:
            inst = await self._load(client, req.instance_id)
            validate_deploy(req, [s.name for s in inst.req.services])
            require_new_release_id(
                req.instance_id, req.release_id, [r.release_id for r in inst.releases]
            )
            stateful = inst.workload.get("kind") == "StatefulSet"
            if stateful and req.strategy is DeployStrategy.BLUE_GREEN:
                raise NotSupported(BACKEND, str(strategy_capability(req.strategy)), detail=_NO_BG)
            changes = {s.name: s for s in req.services}
            services = [
                s.model_copy(
                    update={
                        "image": changes[s.name].image,
                        "env": dict(changes[s.name].env),
                        "health_check": changes[s.name].health_check or s.health_check,
                    }
                )
                if s.name in changes
                else s
                for s in inst.req.services
            ]
            release_id = req.release_id or new_id(RELEASE_PREFIX)
            target = inst.req.model_copy(update={"services": services})
            release = new_release(release_id, services, strategy=req.strategy.value)
            await self._refresh_secrets(client, target, release_id)
            if req.strategy is DeployStrategy.ROLLING:
                await self._roll(client, inst, target, release, req.strategy.value, events)
            elif stateful:
                await self._partitioned_canary(client, inst, target, release, events)
            else:
                await self._two_sets(client, inst, target, release, req.strategy, events)
        return DeployResult(
            provider_ref=base_name(req.instance_id), status="deployed", release_id=release_id
        )

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Restore exactly ``release_id``'s snapshot, recorded as a new release (rolling,
        gated like a deploy; the instance's secrets are resolved again and re-applied)."""
        require_capability(self, Capability.DEPLOY)
        async with self._client() as client:
            inst = await self._load(client, instance_id)
            source = next((r for r in inst.releases if r.release_id == release_id), None)
            if source is None:
                raise ReleaseNotFound(
                    instance_id, release_id, known=[r.release_id for r in inst.releases]
                )
            snap = {s.name: s for s in source.services}
            services = [
                s.model_copy(
                    update={
                        "image": snap[s.name].image,
                        "env": dict(snap[s.name].env),
                        "health_check": snap[s.name].health_check,
                    }
                )
                if s.name in snap
                else s
                for s in inst.req.services
            ]
            target = inst.req.model_copy(update={"services": services})
            release = new_release(
                new_id(RELEASE_PREFIX), services, strategy="rolling", rollback_of=release_id
            )
            await self._refresh_secrets(client, target, release.release_id)
            await self._roll(client, inst, target, release, "rolling", events)

    # scale and usage

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Replicas (of the whole pod) and the main service's limits; 0 leaves a field as is."""
        require_capability(self, Capability.SCALE)
        validate_scale(spec)
        async with self._client() as client:
            inst = await self._load(client, instance_id)
            main = inst.req.main
            res = main.resources.model_copy(
                update={
                    k: v
                    for k, v in spec.model_dump().items()
                    if v and k in ("cpu_millis", "memory_mb", "disk_mb", "gpu", "replicas")
                }
            )
            services = [
                s.model_copy(update={"resources": res}) if s.name == main.name else s
                for s in inst.req.services
            ]
            target = inst.req.model_copy(update={"services": services})
            replicas = spec.replicas or inst.replicas
            remembered = spec.replicas or inst.remembered
            native = await self._native_sidecars(client)
            manifest = self._render(
                target,
                release_id=inst.release_id,
                native=native,
                releases=inst.releases,
                replicas=replicas if inst.replicas else 0,
                remembered=remembered,
                restarted_at=inst.restarted_at,
            )[-1]
            await self._apply(client, [manifest], f"scale {instance_id}")
            if inst.replicas:
                inst = await self._load(client, instance_id)
                await self._wait_ready(client, inst, f"scale of {instance_id}")

    async def resources(self, instance_id: str) -> ResourceUsage:
        """Usage from the metrics API (``metrics.k8s.io``); limits from the pod specs (the
        node's allocatable memory for containers without a limit)."""
        async with self._client() as client:
            await self._load(client, instance_id)
            pods = replica_order(await self._pods(client, instance_id))
            try:
                with translated("read pod metrics"):
                    metrics: list[JSON] = [
                        cast(Any, m).to_dict()
                        async for m in client.list(
                            PodMetrics,
                            namespace=self.config.namespace,
                            labels={LABEL_INSTANCE: instance_id},
                        )
                    ]
            except Exception as exc:
                cause = exc.__cause__ or exc
                if isinstance(cause, ApiError) and cause.status.code in (404, 503):
                    raise NotSupported(
                        BACKEND,
                        "resources",
                        detail="the cluster serves no metrics API (metrics-server)",
                    ) from None
                raise
            node_memory: dict[str, float] = {}
            limit = 0.0
            for pod in pods:
                for c in pod["spec"].get("containers") or []:
                    mem = ((c.get("resources") or {}).get("limits") or {}).get("memory")
                    if mem:
                        limit += _parse_quantity(mem)
                        continue
                    node = pod["spec"].get("nodeName", "")
                    if node and node not in node_memory:
                        with translated(f"read node {node}"):
                            obj = cast(JSON, cast(Any, await client.get(Node, node)).to_dict())
                        alloc = ((obj.get("status") or {}).get("allocatable") or {}).get(
                            "memory", "0"
                        )
                        node_memory[node] = _parse_quantity(alloc)
                    limit += node_memory.get(node, 0.0)
        cpu = sum(
            _parse_quantity(c["usage"]["cpu"]) for m in metrics for c in m.get("containers") or []
        )
        mem = sum(
            _parse_quantity(c["usage"]["memory"])
            for m in metrics
            for c in m.get("containers") or []
        )
        mib = 1024 * 1024
        return ResourceUsage(
            cpu_percent=cpu * 100.0,
            memory_used_mb=int(-(-mem // mib)),
            memory_limit_mb=int(limit // mib),
        )

    # logs and exec

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Logs of one service (default main) of every pod (or ``opts.replica``), merged in
        time order; ``follow`` streams until the caller stops or the containers end."""
        options = opts or LogOptions()

        async def opener() -> AsyncIterator[LogRecord]:
            require_capability(self, Capability.LOGS)
            client_cm = self._client()
            client = await client_cm.__aenter__()
            try:
                inst = await self._load(client, instance_id)
                name = options.service_name or inst.req.main.name
                if name not in {s.name for s in inst.req.services}:
                    raise InvalidSpec(
                        [Problem("service_name", f"no service {name!r} in instance {instance_id}")]
                    )
                pods = replica_order(await self._pods(client, instance_id))
                sources = [
                    LogSource(pod=p["metadata"]["name"], container=name, service=name, replica=i)
                    for i, p in enumerate(pods)
                    if options.replica is None or options.replica == i
                ]
                sources = [s for s in sources if self._has_started(pods, s)]
                records = await open_merged(
                    self._http(client),
                    self.config.namespace,
                    sources,
                    tail=options.tail,
                    since=options.since,
                    follow=options.follow,
                    split=self.config.log_streams is LogStreams.SPLIT,
                )
            except BaseException:
                await client_cm.__aexit__(None, None, None)
                raise
            return _Closing(records, client_cm)

        return LogStream(opener)

    @staticmethod
    def _has_started(pods: Sequence[JSON], source: LogSource) -> bool:
        pod = next(p for p in pods if p["metadata"]["name"] == source.pod)
        status = pod.get("status") or {}
        for cs in (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        ):
            if cs["name"] == source.container:
                state = cs.get("state") or {}
                return "waiting" not in state or bool(cs.get("lastState"))
        return False

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` in a service's container of one pod (replica 0 by default)
        over the ``pods/exec`` websocket; stdin is written and closed; the exit code is the
        process's."""
        require_capability(self, Capability.EXEC)
        if isinstance(req.command, str) or not req.command:
            raise InvalidSpec(
                [Problem("command", "must be a non-empty argv list, not a shell string")]
            )
        if req.tty:
            raise NotSupported(
                BACKEND,
                "exec",
                detail="tty: the client library (lightkube) has no tty option for pods/exec; "
                "run the command without tty (stdin, stdout, stderr and the exit code work)",
            )
        async with self._client() as client:
            inst = await self._load(client, instance_id)
            name = req.service or inst.req.main.name
            if name not in {s.name for s in inst.req.services}:
                raise InvalidSpec(
                    [Problem("service", f"no service {name!r} in instance {instance_id}")]
                )
            pod = self._replica_pod(
                replica_order(await self._pods(client, instance_id)), req.replica or 0, name
            )
            try:
                resp = await self._exec(client, pod, name, list(req.command), req.stdin or b"")
            except _NoStdinClose:
                if req.stdin:
                    raise NotSupported(
                        BACKEND,
                        "exec",
                        detail="stdin needs the v5.channel.k8s.io exec protocol (servers 1.30+)",
                    ) from None
                resp = await self._exec(client, pod, name, list(req.command), None)
        return ExecResult(
            exit_code=resp.exit_code, stdout=_as_bytes(resp.stdout), stderr=_as_bytes(resp.stderr)
        )

    def _replica_pod(self, pods: Sequence[JSON], replica: int, service: str) -> str:
        """The name of the pod of ``replica`` (its index in replica order: the ordinal of a
        StatefulSet, as ``logs`` counts); ``InvalidSpec`` if there is no such replica,
        ``BackendError`` if its pod is not running (another replica is never picked)."""
        ordinals = {
            str(p["metadata"]["name"]).rsplit("-", 1)[-1]: p
            for p in pods
            if _ORDINAL_LABEL in (p["metadata"].get("labels") or {})
        }
        found = ordinals.get(str(replica)) if ordinals else None
        if found is None and not ordinals and replica < len(pods):
            found = pods[replica]
        if found is None:
            raise InvalidSpec(
                [Problem("replica", f"no replica {replica} (the instance has {len(pods)} pods)")],
                subject="exec request",
            )
        pod = found
        name = str(pod["metadata"]["name"])
        phase = (pod.get("status") or {}).get("phase") or "Unknown"
        if phase != "Running":
            raise BackendError(
                f"cannot exec in service {service!r} of replica {replica} (pod {name}): the pod "
                f"is not running (phase {phase}); see status() for why, or pick another replica",
                backend=BACKEND,
            )
        return name

    async def _exec(
        self, client: AsyncClient, pod: str, container: str, argv: list[str], stdin: bytes | None
    ) -> Any:
        """One ``pods/exec`` call; ``_NoStdinClose`` if the server cannot close stdin (v4)."""
        try:
            with translated(f"exec in {pod}/{container}"):
                return await client.exec(
                    pod,
                    namespace=self.config.namespace,
                    container=container,
                    command=argv,
                    stdin=stdin,
                    stdout=True,
                    stderr=True,
                    decode=None,
                    timeout=self.config.request_timeout.total_seconds(),
                )
        except Exception as exc:
            cause = exc.__cause__ or exc
            message = getattr(getattr(cause, "status", None), "message", "") or ""
            if isinstance(cause, ApiError) and "supports writing to stdin" in message:
                raise _NoStdinClose from None
            raise

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


class _Closing(AsyncIterator[LogRecord]):
    """Records that also close the API client when the stream ends or is closed (even if
    it was never read, when an async generator's ``finally`` would not run)."""

    def __init__(
        self, records: AsyncIterator[LogRecord], client: contextlib.AbstractAsyncContextManager[Any]
    ) -> None:
        self._records = records
        self._client: contextlib.AbstractAsyncContextManager[Any] | None = client

    async def __anext__(self) -> LogRecord:
        try:
            return await self._records.__anext__()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        closer = getattr(self._records, "aclose", None)
        if closer is not None:
            await closer()
        client, self._client = self._client, None
        if client is not None:
            await client.__aexit__(None, None, None)


def _as_bytes(data: str | bytes | None) -> bytes:
    if data is None:
        return b""
    return data.encode() if isinstance(data, str) else bytes(data)


class _NoStdinClose(Exception):
    """The server speaks only v4.channel.k8s.io: stdin cannot be closed."""
