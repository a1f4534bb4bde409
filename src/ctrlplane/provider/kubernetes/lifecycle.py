"""Changing a running instance in place: ``start`` and ``stop`` (the controller's replica
count, the count to restore kept in an annotation), ``restart`` (a new restart stamp in
the pod template: a rollout restart) and ``scale`` (replicas and the main service's
limits)."""

from __future__ import annotations

from datetime import UTC, datetime

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.types import PatchType

from ctrlplane.provider.kubernetes.errors import translated
from ctrlplane.provider.kubernetes.render.naming import base_name
from ctrlplane.provider.kubernetes.session import ClusterSession, Instance
from ctrlplane.provider.spec import ResourceSpec
from ctrlplane.provider.validation import validate_scale

__all__ = ["restart_instance", "scale_instance", "start_instance", "stop_instance"]


async def start_instance(session: ClusterSession, instance_id: str) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.start`."""
    async with session._client() as client:
        inst = await session._load(client, instance_id)
        await _resume(session, client, inst, f"start of {instance_id}")


async def stop_instance(session: ClusterSession, instance_id: str) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.stop`."""
    async with session._client() as client:
        inst = await session._load(client, instance_id)
        if inst.replicas:
            await _scale_to(session, client, inst, 0)
        await session._wait_scaled_down(
            client, instance_id, session.config.provision_timeout.total_seconds()
        )


async def restart_instance(session: ClusterSession, instance_id: str) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.restart`."""
    async with session._client() as client:
        inst = await session._load(client, instance_id)
        if inst.replicas == 0:
            await _resume(session, client, inst, f"restart of {instance_id}")
            return
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        native = await session._native_sidecars(client)
        manifest = session._render_live(inst, native, restarted_at=stamp)
        await session._apply(client, [manifest], f"restart {instance_id}")
        inst = await session._load(client, instance_id)
        await session._wait_ready(client, inst, f"restart of {instance_id}")


async def scale_instance(session: ClusterSession, instance_id: str, spec: ResourceSpec) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.scale`."""
    validate_scale(spec)
    async with session._client() as client:
        inst = await session._load(client, instance_id)
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
        native = await session._native_sidecars(client)
        manifest = session._render(
            target,
            release_id=inst.release_id,
            native=native,
            releases=inst.releases,
            replicas=replicas if inst.replicas else 0,
            remembered=remembered,
            restarted_at=inst.restarted_at,
        )[-1]
        await session._apply(client, [manifest], f"scale {instance_id}")
        if inst.replicas:
            inst = await session._load(client, instance_id)
            await session._wait_ready(client, inst, f"scale of {instance_id}")


async def _resume(session: ClusterSession, client: AsyncClient, inst: Instance, what: str) -> None:
    """Scale a stopped instance back to the replica count it had (a running one stays as
    it is), then wait until its pods are ready."""
    if inst.replicas == 0:
        await _scale_to(session, client, inst, inst.remembered)
    await session._wait_ready(client, inst, what)


async def _scale_to(
    session: ClusterSession, client: AsyncClient, inst: Instance, replicas: int
) -> None:
    """Set the controller's replica count through its ``scale`` subresource."""
    kind = Deployment if inst.workload.get("kind") == "Deployment" else StatefulSet
    with translated(f"scale {inst.req.instance_id}", instance_id=inst.req.instance_id):
        await client.patch(
            kind.Scale,
            base_name(inst.req.instance_id),
            {"spec": {"replicas": replicas}},
            namespace=session.config.namespace,
            patch_type=PatchType.MERGE,
        )
