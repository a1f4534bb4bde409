"""Release history on the engine: one small labelled record volume per release.

Engine labels cannot change after creation, so each release is its own object: an empty
named volume ``<n>-<instance>-rel-<release>`` whose labels hold the release (its ID,
time, strategy, source of a rollback and the per-service snapshot: image, env, health
check; never a secret value). The history is one label-filtered volume list; the newest
record is the live release; records beyond the configured depth are deleted; deprovision
removes them with everything else of the instance. The functions here are pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ctrlplane.provider.docker.translate import Translator, Workload
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ServiceDeploySpec, ServiceSpec

__all__ = ["parse_records", "record_body", "snapshot"]

JSON = dict[str, Any]


def snapshot(services: Sequence[ServiceSpec]) -> list[ServiceDeploySpec]:
    """The deployable fields of every service (what a release restores)."""
    return [
        ServiceDeploySpec(name=s.name, image=s.image, env=dict(s.env), health_check=s.health_check)
        for s in services
    ]


def record_key(tr: Translator) -> str:
    """The label marking release record volumes (its value is the release JSON)."""
    return f"{tr.config.label_prefix}.release-record"


def record_body(
    tr: Translator,
    wl: Workload,
    *,
    release_id: str,
    strategy: str,
    rollback_of: str = "",
    created_at: datetime | None = None,
) -> JSON:
    """Create body of the record volume of ``release_id`` (``wl`` is the new version)."""
    release = Release(
        release_id=release_id,
        created_at=created_at or datetime.now(UTC),
        strategy=strategy,
        services=snapshot(wl.services),
        rollback_of=rollback_of,
    )
    labels = tr.common_labels(wl)
    labels[tr.labels.release] = release_id
    labels[record_key(tr)] = release.model_dump_json()
    return {
        "Name": f"{tr.config.name_prefix}-{wl.instance_id}-rel-{release_id}",
        "Driver": "local",
        "Labels": labels,
    }


def record_filter(tr: Translator, instance_id: str) -> dict[str, list[str]]:
    """Volume list filter selecting the release records of one instance."""
    return {"label": [f"{tr.labels.instance}={instance_id}", record_key(tr)]}


def parse_records(tr: Translator, volumes: Sequence[Mapping[str, Any]]) -> list[Release]:
    """Releases from record volumes, newest first; the newest is marked live."""
    out: list[tuple[Release, str]] = []
    for vol in volumes:
        text = (vol.get("Labels") or {}).get(record_key(tr))
        if not text:
            continue
        try:
            release = Release.model_validate(json.loads(text))
        except (ValueError, TypeError):
            continue
        out.append((release, str(vol.get("Name", ""))))
    out.sort(key=lambda p: (p[0].created_at, p[0].release_id), reverse=True)
    releases = [r for r, _ in out]
    return [r.model_copy(update={"live": i == 0}) for i, r in enumerate(releases)]


def record_names(tr: Translator, volumes: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Release ID -> record volume name."""
    out: dict[str, str] = {}
    for vol in volumes:
        labels = vol.get("Labels") or {}
        if record_key(tr) in labels:
            out[str(labels.get(tr.labels.release, ""))] = str(vol.get("Name", ""))
    return out
