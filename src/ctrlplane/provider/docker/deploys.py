"""``deploy``, ``rollback`` and ``releases`` on one engine: the instance read back, the
request checked against it and its release history (:mod:`.history`), the change handed
to :meth:`Rollout.roll_out <ctrlplane.provider.docker.rollout.Rollout.roll_out>`."""

from __future__ import annotations

from ctrlplane.errors import ReleaseNotFound
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.docker.history import parse_records, record_filter
from ctrlplane.provider.docker.rollout import Rollout
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.releases import Release, require_new_release_id
from ctrlplane.provider.results import DeployResult
from ctrlplane.provider.spec import DeployRequest
from ctrlplane.provider.validation import validate_deploy

__all__ = ["deploy_release", "list_releases", "rollback_to"]


async def deploy_release(
    ses: Rollout, req: DeployRequest, events: Subscriber | None
) -> DeployResult:
    """Roll out ``req``'s services as a new release (its ``release_id`` must be new)."""
    wl, inspects = await ses.load(req.instance_id)
    validate_deploy(req, [s.name for s in wl.services])
    if req.release_id:
        volumes = await ses.engine.list_volumes(record_filter(ses.tr, req.instance_id))
        known = [r.release_id for r in parse_records(ses.tr, volumes)]
        require_new_release_id(req.instance_id, req.release_id, known)
    release = req.release_id or new_id(RELEASE_PREFIX)
    await ses.roll_out(
        wl, inspects, req.services, release, str(req.strategy), exact=False, events=events
    )
    return DeployResult(
        provider_ref=ses.tr.names.network(req.instance_id),
        status="deployed",
        release_id=release,
    )


async def list_releases(ses: Rollout, instance_id: str) -> list[Release]:
    """Retained releases, newest (live) first."""
    volumes = await ses.engine.list_volumes(record_filter(ses.tr, instance_id))
    if not volumes:
        await ses.load(instance_id)  # InstanceNotFound when gone
    return parse_records(ses.tr, volumes)


async def rollback_to(
    ses: Rollout, instance_id: str, release_id: str, events: Subscriber | None
) -> None:
    """Restore exactly the snapshot of ``release_id`` with a rolling rollout, recorded as
    a new release; :class:`ReleaseNotFound` when it is not retained."""
    wl, inspects = await ses.load(instance_id)
    volumes = await ses.engine.list_volumes(record_filter(ses.tr, instance_id))
    history = parse_records(ses.tr, volumes)
    target = next((r for r in history if r.release_id == release_id), None)
    if target is None:
        raise ReleaseNotFound(instance_id, release_id, known=[r.release_id for r in history])
    current = {s.name for s in wl.services}
    await ses.roll_out(
        wl,
        inspects,
        [s for s in target.services if s.name in current],
        new_id(RELEASE_PREFIX),
        str(DeployStrategy.ROLLING),
        exact=True,
        rollback_of=release_id,
        events=events,
    )
