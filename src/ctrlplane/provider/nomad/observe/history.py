"""Reading a job version's ``Meta`` back (pure): its request, its release, the history.

The keys are :mod:`~ctrlplane.provider.nomad.render.meta`'s. Every registration is a job
version, so the release history is the versions the server still holds
(:func:`releases_from_versions`); each release's snapshot is the shared
:func:`ctrlplane.provider.releases.snapshot` of the version's request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ctrlplane.errors import BackendError
from ctrlplane.provider.nomad.config import BACKEND
from ctrlplane.provider.nomad.render.meta import (
    CREATED_AT,
    RELEASE,
    RELEASED_AT,
    ROLLBACK_OF,
    SPEC,
    STRATEGY,
    ReleaseMeta,
)
from ctrlplane.provider.releases import Release, snapshot
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "created_at",
    "is_ours",
    "live_release",
    "release_ids",
    "release_meta",
    "releases_from_versions",
    "request_from_job",
    "succeeded",
]


def _meta(job: Mapping[str, Any]) -> Mapping[str, str]:
    meta = job.get("Meta") or {}
    if not isinstance(meta, Mapping) or SPEC not in meta:
        raise BackendError(
            f"job {job.get('ID')!r} was not registered by ctrlplane (no {SPEC} meta)",
            backend=BACKEND,
        )
    return meta


def succeeded(version: Mapping[str, Any]) -> bool:
    """Whether a job version's deployment succeeded: ``Stable`` and not a stop (Nomad
    marks the version that stops a job stable too)."""
    return bool(version.get("Stable")) and not version.get("Stop")


def is_ours(job: object) -> bool:
    """Whether ``job`` (an answer of ``/v1/job/:id``) is a job ctrlplane registered."""
    return isinstance(job, dict) and RELEASE in (job.get("Meta") or {})


def live_release(job: Mapping[str, Any]) -> str:
    """The release ID a job version runs (``""`` if it records none)."""
    return str((job.get("Meta") or {}).get(RELEASE, ""))


def release_ids(versions: Iterable[Mapping[str, Any]]) -> list[str]:
    """The release IDs the retained job versions carry (for the release-ID rules)."""
    return [live_release(v) for v in versions]


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


def releases_from_versions(
    versions: Sequence[Mapping[str, Any]], live: str, depth: int
) -> list[tuple[Release, int]]:
    """Distinct releases of the job versions, newest first, at most ``depth``, each with
    the newest job version that carries it. The ``live`` release is marked ``live``.

    Versions registered by ``stop``/``start``/``scale`` repeat the release they run, so a
    release is listed once. A release none of whose running versions became ``Stable``
    (its deployment failed and was reverted) is not listed, unless it is the live one.
    """
    seen: dict[str, tuple[Release, int]] = {}
    ordered = sorted(versions, key=lambda v: int(v.get("Version", 0)), reverse=True)
    for job in ordered:
        meta = release_meta(job)
        if not meta.release_id or meta.release_id in seen:
            continue
        if not succeeded(job) and meta.release_id != live:
            continue
        release = Release(
            release_id=meta.release_id,
            created_at=meta.released_at,
            strategy=meta.strategy,
            services=snapshot(request_from_job(job).services),
            rollback_of=meta.rollback_of,
            live=meta.release_id == live,
        )
        seen[meta.release_id] = (release, int(job.get("Version", 0)))
    out = sorted(seen.values(), key=lambda pair: pair[0].created_at, reverse=True)
    return out[:depth]
