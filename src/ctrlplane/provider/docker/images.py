"""Making images available before containers are created, per the pull policy (I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ctrlplane.errors import BackendUnavailable, CtrlplaneError
from ctrlplane.provider.docker.config import PullPolicy
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.render.materials import ServiceMaterials
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.spec import ServiceSpec

__all__ = ["ensure_image", "pull_images"]


async def pull_images(
    ctx: DockerContext,
    services: Sequence[ServiceSpec],
    materials: Mapping[str, ServiceMaterials],
) -> None:
    """Make the images of ``services`` available per the pull policy (each image once,
    with its service's pull credentials); a missing or unpullable image fails the step
    naming it (:class:`RolloutFailed`); an unreachable engine raises as it is."""
    seen: set[str] = set()
    for svc in services:
        if svc.image in seen:
            continue
        seen.add(svc.image)
        mats = materials.get(svc.name)
        await ensure_image(ctx, svc.image, mats.pull_auth if mats else None)


async def ensure_image(
    ctx: DockerContext, image: str, auth: Mapping[str, str] | None, *, refresh: bool = True
) -> None:
    """Make ``image`` available per the pull policy (pulled with ``auth``; with
    ``refresh`` false, ``always`` pulls only an absent image); see :func:`pull_images`
    for the errors."""
    policy = ctx.config.pull_policy
    step = f"pull image {image}"
    try:
        present = await ctx.client.image_exists(image)
        if policy is PullPolicy.NEVER and not present:
            raise RolloutFailed(
                step, f"image {image!r} is not on the engine and pull policy is never"
            )
        if (policy is PullPolicy.ALWAYS and refresh) or not present:
            await ctx.client.pull(image, auth)
    except BackendUnavailable:
        raise
    except CtrlplaneError as exc:
        reason = str(exc)
        if image not in reason:
            reason = f"image {image!r} could not be pulled: {reason}"
        raise RolloutFailed(step, reason) from exc
