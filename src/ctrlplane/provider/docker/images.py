"""Making images available before containers are created, per the pull policy (I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ctrlplane.errors import BackendUnavailable, CtrlplaneError
from ctrlplane.provider.docker.config import PullPolicy
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.render.materials import ServiceMaterials
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.spec import ServiceSpec

__all__ = ["pull_images"]


async def pull_images(
    ctx: DockerContext,
    services: Sequence[ServiceSpec],
    materials: Mapping[str, ServiceMaterials],
) -> None:
    """Make the images of ``services`` available per the pull policy (each image once,
    with its service's pull credentials); a missing or unpullable image fails the step
    naming it (:class:`RolloutFailed`); an unreachable engine raises as it is."""
    policy = ctx.config.pull_policy
    seen: set[str] = set()
    for svc in services:
        if svc.image in seen:
            continue
        seen.add(svc.image)
        step = f"pull image {svc.image}"
        try:
            present = await ctx.client.image_exists(svc.image)
            if policy is PullPolicy.NEVER and not present:
                raise RolloutFailed(
                    step, f"image {svc.image!r} is not on the engine and pull policy is never"
                )
            if policy is PullPolicy.ALWAYS or not present:
                mats = materials.get(svc.name)
                await ctx.client.pull(svc.image, mats.pull_auth if mats else None)
        except BackendUnavailable:
            raise
        except CtrlplaneError as exc:
            reason = str(exc)
            if svc.image not in reason:
                reason = f"image {svc.image!r} could not be pulled: {reason}"
            raise RolloutFailed(step, reason) from exc
