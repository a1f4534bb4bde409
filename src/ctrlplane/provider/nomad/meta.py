"""What a job's ``Meta`` records, and reading it back (pure; no I/O).

Every job the provider registers carries, in its job-level ``Meta``: the tenant,
instance, name and kind, the release it runs (ID, strategy, time, the release a rollback
restored), and the whole request spec as JSON (``ctrlplane_spec``: names, images, env,
ports, checks, secret *references* and config-file content; never a secret value).
Each registration is a job version, so the release history is read back from
``/v1/job/:id/versions``: a fresh provider object in another process sees all of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ctrlplane.errors import BackendError
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ProvisionRequest, ServiceDeploySpec

__all__ = [
    "CREATED_AT",
    "INSTANCE",
    "RELEASE",
    "SPEC",
    "TENANT",
    "ReleaseMeta",
    "created_at",
    "job_meta",
    "release_meta",
    "releases_from_versions",
    "request_from_job",
    "snapshot",
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

JSON = dict[str, Any]


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


def _meta(job: Mapping[str, Any]) -> Mapping[str, str]:
    meta = job.get("Meta") or {}
    if not isinstance(meta, Mapping) or SPEC not in meta:
        raise BackendError(
            f"job {job.get('ID')!r} was not registered by ctrlplane (no {SPEC} meta)",
            backend="nomad",
        )
    return meta


def request_from_job(job: Mapping[str, Any]) -> ProvisionRequest:
    """The request spec a job version was made from."""
    return ProvisionRequest.model_validate_json(_meta(job)[SPEC])


def created_at(job: Mapping[str, Any]) -> datetime | None:
    """When the instance of a job (any version) was first provisioned, if recorded."""
    text = (job.get("Meta") or {}).get(CREATED_AT)
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def release_meta(job: Mapping[str, Any]) -> ReleaseMeta:
    """The release a job version runs."""
    meta = _meta(job)
    return ReleaseMeta(
        release_id=meta.get(RELEASE, ""),
        released_at=datetime.fromisoformat(meta.get(RELEASED_AT) or "1970-01-01T00:00:00+00:00"),
        strategy=meta.get(STRATEGY, ""),
        rollback_of=meta.get(ROLLBACK_OF, ""),
    )


def snapshot(req: ProvisionRequest) -> list[ServiceDeploySpec]:
    """The deployable fields of every service, as a release records them."""
    return [
        ServiceDeploySpec(name=s.name, image=s.image, env=dict(s.env), health_check=s.health_check)
        for s in req.services
    ]


def releases_from_versions(
    versions: Sequence[Mapping[str, Any]], live_release: str, depth: int
) -> list[tuple[Release, int]]:
    """Distinct releases of the job versions, newest first, at most ``depth``, each with
    the newest job version that carries it. ``live_release`` is marked ``live``.

    Versions registered by ``stop``/``start``/``scale`` repeat the release they run, so a
    release is listed once. A release whose versions never became ``Stable`` (its
    deployment failed and was reverted) is not listed, unless it is the live one.
    """
    seen: dict[str, tuple[Release, int]] = {}
    ordered = sorted(versions, key=lambda v: int(v.get("Version", 0)), reverse=True)
    for job in ordered:
        meta = release_meta(job)
        if not meta.release_id or meta.release_id in seen:
            continue
        if not job.get("Stable") and meta.release_id != live_release:
            continue
        release = Release(
            release_id=meta.release_id,
            created_at=meta.released_at,
            strategy=meta.strategy,
            services=snapshot(request_from_job(job)),
            rollback_of=meta.rollback_of,
            live=meta.release_id == live_release,
        )
        seen[meta.release_id] = (release, int(job.get("Version", 0)))
    out = sorted(seen.values(), key=lambda pair: pair[0].created_at, reverse=True)
    return out[:depth]
