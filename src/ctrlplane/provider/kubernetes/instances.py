"""An instance on the cluster: reading it back (its controller, pods and their Events) and
rendering it again, as a new release or as it is.

Nothing is kept in the provider object: every operation reads the instance back from its
controller (:func:`load`, through the pure :func:`~.observe.instance.read_instance`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ctrlplane.errors import InstanceNotFound
from ctrlplane.provider.kubernetes.client import Kind
from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.observe.instance import Instance, read_instance
from ctrlplane.provider.kubernetes.observe.pods import is_ready
from ctrlplane.provider.kubernetes.render import Features, render_objects
from ctrlplane.provider.kubernetes.render.naming import BACKEND, base_name, instance_selector
from ctrlplane.provider.native import JSON
from ctrlplane.provider.releases import Release, apply_snapshot
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "CONTROLLERS",
    "controller_kind",
    "delete_pods",
    "load",
    "pods",
    "previous_instance",
    "render_live",
    "render_release",
    "unhealthy_events",
]

CONTROLLERS: tuple[Kind, Kind] = ("Deployment", "StatefulSet")
"""The kinds of controller an instance can have."""


def controller_kind(inst: Instance) -> Kind:
    """The kind of ``inst``'s controller."""
    return "Deployment" if inst.kind == "Deployment" else "StatefulSet"


async def load(ctx: Context, instance_id: str) -> Instance:
    """The instance as its controller records it; :class:`InstanceNotFound` if there is
    none (or it is not one of ours)."""
    name = base_name(instance_id)
    for kind in CONTROLLERS:
        found = await ctx.cluster.find(kind, name)
        if found is not None:
            return read_instance(instance_id, found)
    raise InstanceNotFound(instance_id, provider=BACKEND)


async def pods(ctx: Context, instance_id: str) -> list[JSON]:
    """Every pod of the instance (of every controller, terminating ones too)."""
    return await ctx.cluster.list_objects(
        "Pod", labels=instance_selector(instance_id), what="list pods", instance_id=instance_id
    )


async def unhealthy_events(ctx: Context, pods: Sequence[JSON]) -> list[JSON]:
    """The ``Unhealthy`` Events of ``pods`` that are not ready (only those can fail a gate
    or give evidence): one list per such pod, restricted by a field selector on the pod's
    uid, so a poll never reads the namespace's other Events."""
    out: list[JSON] = []
    for pod in pods:
        uid = pod["metadata"].get("uid")
        if not uid or is_ready(pod):
            continue
        out += await ctx.cluster.list_objects(
            "Event",
            fields={"involvedObject.uid": uid, "reason": "Unhealthy"},
            what=f"list events of pod {pod['metadata']['name']}",
        )
    return out


async def delete_pods(ctx: Context, pods: Sequence[JSON]) -> None:
    """Delete ``pods`` (already gone is fine); their controller recreates them."""
    for pod in pods:
        await ctx.cluster.delete("Pod", pod["metadata"]["name"])


def render_release(
    config: KubernetesConfig,
    inst: Instance,
    target: ProvisionRequest,
    release: Release,
    features: Features,
    *,
    secret_values: Mapping[str, bytes] | None = None,
) -> list[JSON]:
    """Every object of ``target`` as the new ``release`` of ``inst`` (the history gains
    it), with the instance's replica counts and restart stamp kept."""
    return render_objects(
        target,
        config,
        release_id=release.release_id,
        features=features,
        releases=[release, *inst.releases],
        replicas=inst.replicas,
        remembered=inst.remembered,
        restarted_at=inst.restarted_at,
        secret_values=secret_values,
    )


def render_live(
    config: KubernetesConfig,
    inst: Instance,
    features: Features,
    *,
    target: ProvisionRequest | None = None,
    replicas: int | None = None,
    remembered: int | None = None,
    restarted_at: str | None = None,
) -> JSON:
    """The controller of ``inst``'s live release rendered again (same release and
    history), with ``target``'s services, the replica counts and the restart stamp where
    given (else the instance's own)."""
    return render_objects(
        inst.req if target is None else target,
        config,
        release_id=inst.release_id,
        features=features,
        releases=inst.releases,
        replicas=inst.replicas if replicas is None else replicas,
        remembered=inst.remembered if remembered is None else remembered,
        restarted_at=inst.restarted_at if restarted_at is None else restarted_at,
    )[-1]


def previous_instance(
    config: KubernetesConfig, inst: Instance, features: Features
) -> Instance | None:
    """``inst`` as it was at its previous release (the newest one dropped from the
    history), to undo a release that never came up; ``None`` without a previous one."""
    if len(inst.releases) < 2:
        return None
    previous = inst.releases[1]
    req = inst.req.model_copy(update={"services": apply_snapshot(inst.req.services, previous)})
    manifest = render_objects(
        req,
        config,
        release_id=previous.release_id,
        features=features,
        releases=inst.releases[1:],
        replicas=inst.replicas,
        remembered=inst.remembered,
        restarted_at=inst.restarted_at,
    )[-1]
    return read_instance(inst.req.instance_id, manifest)
