"""The release history on the engine: one small labelled record volume per release.

Engine labels cannot change after creation, so each release is its own object: an empty
named volume ``<n>-<instance>-rel-<release>`` whose labels hold the release (its ID,
time, strategy, source of a rollback and the per-service snapshot: image, env, health
check; never a secret value). The history is one label-filtered volume list; the newest
record is the live release; records beyond ``release_history`` are deleted; deprovision
removes them with everything else of the instance. The record's body is rendered by
:meth:`~ctrlplane.provider.docker.render.bodies.Renderer.record_body` and read back by
:mod:`ctrlplane.provider.docker.observe.releases`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.observe.releases import parse_records, record_names
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.releases import Release

__all__ = ["read_history", "record_release"]


async def record_release(ctx: DockerContext, wl: Workload, release: Release) -> None:
    """Record ``release`` (the version ``wl`` runs now, stamped with the current time),
    then prune the history to the configured depth."""
    stamped = release.model_copy(update={"created_at": datetime.now(UTC), "live": False})
    await ctx.client.create_volume(ctx.render.record_body(wl, stamped))
    volumes = await ctx.client.list_volumes(ctx.labels.record_filter(wl.instance_id))
    names = record_names(ctx.labels, volumes)
    for old in parse_records(ctx.labels, volumes)[ctx.config.release_history :]:
        if old.release_id in names:
            await ctx.client.remove_volume(names[old.release_id])


async def read_history(ctx: DockerContext, instance_id: str) -> list[Release]:
    """The retained releases of the instance, newest (live) first (``[]`` when it has
    none, or does not exist)."""
    volumes = await ctx.client.list_volumes(ctx.labels.record_filter(instance_id))
    return parse_records(ctx.labels, volumes)
