"""What a job's ``Meta`` records (pure): the keys, and the ``Meta`` of a new job version.

Every job the provider registers carries, in its job-level ``Meta``: the tenant,
instance, name and kind, the release it runs (ID, strategy, time, the release a rollback
restored), when the instance was first provisioned, and the whole request spec as JSON
(``ctrlplane_spec``: names, images, env, ports, checks, secret *references* and
config-file content; never a secret value). Each registration is a job version, so the
history is read back from ``/v1/job/:id/versions``
(:mod:`~ctrlplane.provider.nomad.observe.history`): a fresh provider object in another
process sees all of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "CREATED_AT",
    "INSTANCE",
    "KIND",
    "NAME",
    "RELEASE",
    "RELEASED_AT",
    "ROLLBACK_OF",
    "SPEC",
    "STRATEGY",
    "TENANT",
    "ReleaseMeta",
    "job_meta",
]

INSTANCE = "ctrlplane_instance_id"
TENANT = "ctrlplane_tenant_id"
NAME = "ctrlplane_name"
KIND = "ctrlplane_kind"
RELEASE = "ctrlplane_release_id"
STRATEGY = "ctrlplane_strategy"
ROLLBACK_OF = "ctrlplane_rollback_of"
RELEASED_AT = "ctrlplane_released_at"
CREATED_AT = "ctrlplane_created_at"
SPEC = "ctrlplane_spec"


@dataclass(frozen=True)
class ReleaseMeta:
    """The release a job version runs."""

    release_id: str
    released_at: datetime
    strategy: str = ""
    rollback_of: str = ""


def job_meta(
    req: ProvisionRequest, release: ReleaseMeta, created: datetime | None = None
) -> dict[str, str]:
    """The job ``Meta``: the request's labels, then ours (ours win). ``created`` is when
    the instance was first provisioned (default: the release's time, for a new one)."""
    meta = dict(req.labels)
    meta.update(
        {
            INSTANCE: req.instance_id,
            TENANT: req.tenant_id,
            NAME: req.name,
            KIND: str(req.kind),
            RELEASE: release.release_id,
            STRATEGY: release.strategy,
            ROLLBACK_OF: release.rollback_of,
            RELEASED_AT: release.released_at.astimezone(UTC).isoformat(),
            CREATED_AT: (created or release.released_at).astimezone(UTC).isoformat(),
            SPEC: req.model_dump_json(),
        }
    )
    return meta
