"""What a task definition records about its release (pure): docker labels and tags.

The main container of every revision carries, as docker labels, the instance, the
release it runs (ID, strategy, time, the release a rollback restored), when the instance
was first provisioned, and the whole request spec as JSON (names, images, env, ports,
checks, secret *references* and config-file contents; never a secret value). Every
revision is kept as long as its release is retained, so a fresh provider object reads
the history back from the revisions (:mod:`~ctrlplane.provider.ecs.observe.history`).
The other containers carry the instance, their service and the release.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ctrlplane.provider.ecs.render.names import (
    LABEL_CREATED_AT,
    LABEL_INSTANCE,
    LABEL_RELEASE,
    LABEL_RELEASED_AT,
    LABEL_ROLLBACK_OF,
    LABEL_SERVICE,
    LABEL_SPEC,
    LABEL_STRATEGY,
)
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["ReleaseInfo", "container_labels", "record_labels"]


@dataclass(frozen=True)
class ReleaseInfo:
    """The release a revision runs, and when its instance was first provisioned."""

    release_id: str
    released_at: datetime
    strategy: str = ""
    rollback_of: str = ""
    created_at: datetime | None = None


def container_labels(instance_id: str, service: str, release_id: str) -> dict[str, str]:
    return {LABEL_INSTANCE: instance_id, LABEL_SERVICE: service, LABEL_RELEASE: release_id}


def record_labels(req: ProvisionRequest, release: ReleaseInfo) -> dict[str, str]:
    """The main container's labels: the release record and the request spec."""
    created = release.created_at or release.released_at
    return {
        **container_labels(req.instance_id, req.main.name, release.release_id),
        LABEL_STRATEGY: release.strategy,
        LABEL_ROLLBACK_OF: release.rollback_of,
        LABEL_RELEASED_AT: release.released_at.astimezone(UTC).isoformat(),
        LABEL_CREATED_AT: created.astimezone(UTC).isoformat(),
        LABEL_SPEC: req.model_dump_json(),
    }
