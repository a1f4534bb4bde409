"""Changing a running instance in place: ``start`` and ``stop`` (the controller's replica
count, the count to restore kept in an annotation), ``restart`` (a new restart stamp in
the pod template: a rollout restart) and ``scale`` (replicas and the main service's
limits)."""

from __future__ import annotations

from datetime import UTC, datetime

from ctrlplane.provider.deadlines import Deadline
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.instances import controller_kind, load, render_live
from ctrlplane.provider.kubernetes.observe.instance import Instance
from ctrlplane.provider.kubernetes.render.naming import base_name
from ctrlplane.provider.kubernetes.waits import wait_gone, wait_ready
from ctrlplane.provider.spec import ResourceSpec

__all__ = ["restart", "scale", "start", "stop"]

_SCALED = ("cpu_millis", "memory_mb", "disk_mb", "gpu", "replicas")
"""The fields of a :class:`ResourceSpec` that ``scale`` changes (when not 0/empty)."""


async def start(ctx: Context, instance_id: str) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.start`."""
    inst = await load(ctx, instance_id)
    await _resume(ctx, inst, f"start of {instance_id}")


async def stop(ctx: Context, instance_id: str) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.stop`: scale to 0 and wait
    (``provision_timeout``) until no pod is left."""
    inst = await load(ctx, instance_id)
    if inst.replicas:
        await _scale_to(ctx, inst, 0)
    deadline = Deadline(ctx.config.provision_timeout, f"stop of {instance_id}")
    await wait_gone(ctx, instance_id, deadline, detail="pods are still there")


async def restart(ctx: Context, instance_id: str) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.restart`."""
    inst = await load(ctx, instance_id)
    if inst.replicas == 0:
        await _resume(ctx, inst, f"restart of {instance_id}")
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    features = await ctx.features(inst.req)
    manifest = render_live(ctx.config, inst, features, restarted_at=stamp)
    await ctx.cluster.apply([manifest], f"restart {instance_id}")
    await wait_ready(ctx, await load(ctx, instance_id), f"restart of {instance_id}")


async def scale(ctx: Context, instance_id: str, spec: ResourceSpec) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.scale`; ``spec`` passed the
    preflight. A stopped instance keeps 0 replicas (the new count is what ``start``
    restores)."""
    inst = await load(ctx, instance_id)
    main = inst.req.main
    changes = {k: v for k, v in spec.model_dump().items() if v and k in _SCALED}
    resources = main.resources.model_copy(update=changes)
    services = [
        s.model_copy(update={"resources": resources}) if s.name == main.name else s
        for s in inst.req.services
    ]
    target = inst.req.model_copy(update={"services": services})
    features = await ctx.features(target)
    manifest = render_live(
        ctx.config,
        inst,
        features,
        target=target,
        replicas=(spec.replicas or inst.replicas) if inst.replicas else 0,
        remembered=spec.replicas or inst.remembered,
    )
    await ctx.cluster.apply([manifest], f"scale {instance_id}")
    if inst.replicas:
        await wait_ready(ctx, await load(ctx, instance_id), f"scale of {instance_id}")


async def _resume(ctx: Context, inst: Instance, what: str) -> None:
    """Scale a stopped instance back to the replica count it had (a running one stays as
    it is), then wait until its pods are ready."""
    if inst.replicas == 0:
        await _scale_to(ctx, inst, inst.remembered)
    await wait_ready(ctx, inst, what)


async def _scale_to(ctx: Context, inst: Instance, replicas: int) -> None:
    """Set the controller's replica count through its ``scale`` subresource."""
    iid = inst.req.instance_id
    await ctx.cluster.scale(controller_kind(inst), base_name(iid), replicas, instance_id=iid)
