"""The I/O shell shared by the provider's operations: connecting with lightkube, reading an
instance back from the cluster, applying manifests, and waiting for rollouts with deadlines.

:class:`ClusterSession` holds only the configuration and the secret resolver; every call
makes its own API client, so provider objects stay stateless.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, cast

import httpx2 as httpx
from lightkube import AsyncClient, ConfigError, KubeConfig
from lightkube.codecs import from_dict
from lightkube.config.kubeconfig import SingleConfig
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import (
    Event,
    Pod,
)
from lightkube.types import CascadeType

from ctrlplane.errors import (
    BackendError,
    InstanceNotFound,
    OperationTimeout,
    SecretNotFound,
)
from ctrlplane.provider.enums import SecretType
from ctrlplane.provider.events import Subscriber, emit
from ctrlplane.provider.kubernetes.config import KubernetesConfig, SidecarMode
from ctrlplane.provider.kubernetes.deadline import Deadline
from ctrlplane.provider.kubernetes.errors import BACKEND, is_not_found, translated
from ctrlplane.provider.kubernetes.observe.instance import Instance, read_instance
from ctrlplane.provider.kubernetes.observe.pods import is_ready, replica_order
from ctrlplane.provider.kubernetes.observe.rollouts import assess, probe_evidence
from ctrlplane.provider.kubernetes.observe.units import UnitTracker
from ctrlplane.provider.kubernetes.render import render_objects, secret_key
from ctrlplane.provider.kubernetes.render.naming import (
    LABEL_INSTANCE,
    LABEL_TRACK,
    TRACK_STABLE,
    base_name,
)
from ctrlplane.provider.native import JSON
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import (
    ProvisionRequest,
)
from ctrlplane.registry_logins import docker_config_json, parse_registry_secret
from ctrlplane.secrets import SecretResolver

__all__ = ["ClusterSession", "Instance", "PodObserver", "RolloutFailed", "UnitEvents"]

PodObserver = Callable[[Sequence[JSON]], Awaitable[None]]
"""Called by waits with every pod of the instance at each poll (for progress events)."""


class UnitEvents:
    """A :class:`UnitTracker` whose events go to a subscriber (``observe`` is the callback
    the provider's waits call with the instance's pods at every poll)."""

    def __init__(self, instance_id: str, events: Subscriber | None) -> None:
        self.tracker = UnitTracker(instance_id)
        self.events = events

    def seed(self, pods: Sequence[JSON]) -> None:
        """See :meth:`UnitTracker.seed`."""
        self.tracker.seed(pods)

    async def observe(self, pods: Sequence[JSON]) -> None:
        """Report the units started and removed since the last call."""
        for event in self.tracker.diff(pods):
            await emit(self.events, event)


class RolloutFailed(Exception):
    """A rollout cannot succeed: ``step`` and ``reason`` say why, ``evidence`` holds probes."""

    def __init__(self, step: str, reason: str, evidence: list[Any]) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason
        self.evidence = evidence


class ClusterSession:
    """Configuration plus the cluster I/O every operation needs (see module docs)."""

    def __init__(
        self, config: KubernetesConfig | None = None, *, secrets: SecretResolver | None = None
    ) -> None:
        self.config = config if config is not None else KubernetesConfig.from_env()
        self._secrets = secrets
        self._server_git_version = ""
        """The server's ``gitVersion`` (``v1.33.0``), once any call has read ``/version``
        (``health_check``, ``provision``, ``deploy``...); a cache for ``info()``, nothing
        else depends on it."""

    # connection

    def _kubeconfig(self) -> SingleConfig:
        cfg = self.config
        if cfg.in_cluster:
            found = KubeConfig.from_service_account().get()
        elif cfg.kubeconfig:
            found = KubeConfig.from_file(cfg.kubeconfig).get(cfg.context)
        else:
            found = KubeConfig.from_env().get(cfg.context)
        if found is None:
            raise ConfigError("the kubeconfig selects no context; set `context`")
        return found

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[AsyncClient]:
        with translated("connect to the API server"):
            single = self._kubeconfig()
            client = AsyncClient(
                config=single,
                namespace=self.config.namespace,
                field_manager=self.config.field_manager,
                timeout=httpx.Timeout(self.config.request_timeout.total_seconds()),
                trust_env=False,
            )
        try:
            yield client
        finally:
            await client.close()

    @staticmethod
    def _http(client: AsyncClient) -> httpx.AsyncClient:
        """The configured HTTP client under lightkube (for ``/version`` and ``pods/log``)."""
        http: httpx.AsyncClient = client._client._client
        return http

    async def _server_version(self, client: AsyncClient) -> tuple[int, int]:
        with translated("read the server version"):
            resp = await self._http(client).get("/version")
            resp.raise_for_status()
            data = resp.json()
        self._server_git_version = str(data.get("gitVersion") or "")
        minor = "".join(c for c in str(data.get("minor", "0")) if c.isdigit()) or "0"
        return int(str(data.get("major", "1")) or 1), int(minor)

    async def _native_sidecars(self, client: AsyncClient) -> bool:
        mode = self.config.sidecars
        if mode is SidecarMode.AUTO:
            return await self._server_version(client) >= (1, 29)
        return mode is SidecarMode.NATIVE

    # reading the instance back

    async def _load(self, client: AsyncClient, instance_id: str) -> Instance:
        name = base_name(instance_id)
        obj: JSON | None = None
        kinds: tuple[Any, ...] = (Deployment, StatefulSet)
        for kind in kinds:
            try:
                with translated(f"read {kind.__name__} {name}"):
                    found = await client.get(kind, name, namespace=self.config.namespace)
                    obj = cast(JSON, found.to_dict())
                break
            except Exception as exc:
                cause = exc.__cause__ if exc.__cause__ is not None else exc
                if not is_not_found(cause):
                    raise
        if obj is None:
            raise InstanceNotFound(instance_id, provider=BACKEND)
        return read_instance(instance_id, obj)

    async def _pods(self, client: AsyncClient, instance_id: str) -> list[JSON]:
        with translated("list pods", instance_id=instance_id):
            return [
                p.to_dict()
                async for p in client.list(
                    Pod, namespace=self.config.namespace, labels={LABEL_INSTANCE: instance_id}
                )
            ]

    async def _unhealthy_events(self, client: AsyncClient, pods: Sequence[JSON]) -> list[JSON]:
        """The ``Unhealthy`` Events of ``pods`` that are not ready (only those can fail a
        gate or give evidence): one list per such pod, restricted by a field selector on
        the pod's uid, so a poll never reads the namespace's other Events."""
        out: list[JSON] = []
        for pod in pods:
            uid = pod["metadata"].get("uid")
            if not uid or is_ready(pod):
                continue
            fields: dict[str, Any] = {"involvedObject.uid": uid, "reason": "Unhealthy"}
            with translated(f"list events of pod {pod['metadata']['name']}"):
                out += [
                    e.to_dict()
                    async for e in client.list(
                        Event, namespace=self.config.namespace, fields=fields
                    )
                ]
        return out

    # writing

    async def _apply(self, client: AsyncClient, manifests: Sequence[JSON], what: str) -> None:
        for manifest in manifests:
            name = manifest["metadata"]["name"]
            with translated(f"{what}: apply {manifest['kind']} {name}"):
                await client.apply(
                    from_dict(manifest), field_manager=self.config.field_manager, force=True
                )

    async def _delete(
        self, client: AsyncClient, kind: Any, name: str, *, cascade: CascadeType | None = None
    ) -> None:
        """Delete the ``kind`` object ``name`` of the namespace (already gone is fine)."""
        try:
            with translated(f"delete {kind.__name__} {name}"):
                await client.delete(kind, name, namespace=self.config.namespace, cascade=cascade)
        except Exception as exc:
            if not is_not_found(exc.__cause__ or exc):
                raise

    async def _secret_values(self, req: ProvisionRequest) -> dict[str, bytes]:
        values: dict[str, bytes] = {}
        for svc in req.services:
            for i, ref in enumerate(svc.secrets):
                if self._secrets is None:
                    raise SecretNotFound(
                        ref.key, looked_in="nothing: the provider has no secret resolver"
                    )
                value = await self._secrets.resolve(
                    ref, tenant_id=req.tenant_id, instance_id=req.instance_id
                )
                if ref.type is SecretType.REGISTRY:
                    value = docker_config_json(parse_registry_secret(value, svc.image, ref.key))
                values[secret_key(svc.name, i)] = value
        return values

    def _render(
        self,
        req: ProvisionRequest,
        *,
        release_id: str,
        native: bool,
        releases: Sequence[Release],
        replicas: int | None = None,
        remembered: int | None = None,
        restarted_at: str = "",
        secret_values: dict[str, bytes] | None = None,
    ) -> list[JSON]:
        return render_objects(
            req,
            self.config,
            release_id=release_id,
            native=native,
            releases=releases,
            replicas=replicas,
            remembered=remembered,
            restarted_at=restarted_at,
            secret_values=secret_values,
        )

    def _render_live(
        self, inst: Instance, native: bool, *, restarted_at: str | None = None
    ) -> JSON:
        """The controller of ``inst``'s live release rendered again (same request, release,
        history and replica counts), with the restart stamp ``restarted_at`` if given."""
        return self._render(
            inst.req,
            release_id=inst.release_id,
            native=native,
            releases=inst.releases,
            replicas=inst.replicas,
            remembered=inst.remembered,
            restarted_at=inst.restarted_at if restarted_at is None else restarted_at,
        )[-1]

    async def _wait(
        self,
        client: AsyncClient,
        inst_req: ProvisionRequest,
        *,
        release: str,
        restarted_at: str,
        limit: float | Deadline,
        what: str,
        name: str | None = None,
        track: str = TRACK_STABLE,
        updated: int | None = None,
        on_pods: PodObserver | None = None,
    ) -> None:
        """Poll until the pods of ``release`` of one controller (the instance's, or the
        auxiliary Deployment ``name`` of ``track``) are ready; raise ``RolloutFailed`` or
        ``OperationTimeout`` (after ``limit`` seconds, or when the operation's
        :class:`~.deadline.Deadline` passes; ``0`` or a passed deadline checks once).

        ``updated`` is how many pods must run ``release`` (``None``: all; see
        :func:`~.podstate.assess`). ``on_pods`` sees every pod of the instance at each poll.
        """
        deadline = limit if isinstance(limit, Deadline) else Deadline(limit, what)
        interval = self.config.poll_interval.total_seconds()
        while True:
            if name is None:
                workload = (await self._load(client, inst_req.instance_id)).workload
            else:
                workload = await self._get_deployment(client, name)
            every = await self._pods(client, inst_req.instance_id)
            if on_pods is not None:
                await on_pods(every)
            pods = [
                p for p in every if (p["metadata"].get("labels") or {}).get(LABEL_TRACK) == track
            ]
            events = await self._unhealthy_events(client, pods)
            verdict = assess(
                inst_req,
                workload,
                pods,
                release=release,
                restarted_at=restarted_at,
                events=events,
                updated=updated,
            )
            if verdict.done:
                return
            if verdict.failed:
                evidence = (
                    probe_evidence(inst_req, replica_order(pods), events)
                    if verdict.step == "gate"
                    else []
                )
                raise RolloutFailed(verdict.step, verdict.reason, evidence)
            if deadline.expired():
                raise OperationTimeout(what, deadline.seconds, detail="pods are not ready")
            await asyncio.sleep(min(interval, max(deadline.remaining(), 0.001)))

    async def _get_deployment(self, client: AsyncClient, name: str) -> JSON:
        with translated(f"read Deployment {name}"):
            found = await client.get(Deployment, name, namespace=self.config.namespace)
        return cast(JSON, found.to_dict())

    async def _wait_scaled_down(
        self,
        client: AsyncClient,
        instance_id: str,
        limit: float,
        on_pods: PodObserver | None = None,
    ) -> None:
        """Poll until the instance has no pod left (``OperationTimeout`` after ``limit`` s)."""
        deadline = time.monotonic() + limit
        while pods := await self._pods(client, instance_id):
            if on_pods is not None:
                await on_pods(pods)
            if time.monotonic() >= deadline:
                raise OperationTimeout(
                    f"stop of {instance_id}", limit, detail="pods are still there"
                )
            await asyncio.sleep(self.config.poll_interval.total_seconds())

    async def _wait_live(
        self,
        client: AsyncClient,
        inst: Instance,
        *,
        limit: float,
        what: str,
        on_pods: PodObserver | None = None,
    ) -> None:
        """:meth:`_wait` for the pods of ``inst``'s live release (and restart stamp)."""
        await self._wait(
            client,
            inst.req,
            release=inst.release_id,
            restarted_at=inst.restarted_at,
            limit=limit,
            what=what,
            on_pods=on_pods,
        )

    async def _wait_ready(self, client: AsyncClient, inst: Instance, what: str) -> None:
        try:
            await self._wait_live(
                client, inst, limit=self.config.provision_timeout.total_seconds(), what=what
            )
        except RolloutFailed as failed:
            raise BackendError(
                f"{what} failed at {failed.step}: {failed.reason}; see status() for each "
                "service's state",
                backend=BACKEND,
            ) from None
