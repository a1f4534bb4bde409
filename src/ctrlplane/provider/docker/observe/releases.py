"""Release record volumes -> the release history (pure, no I/O).

Each release is recorded as an empty volume whose labels hold it (see
:meth:`~ctrlplane.provider.docker.render.bodies.Renderer.record_body`); the history is
one label-filtered volume list, newest first, and the newest is the live release.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ctrlplane.provider.docker.render.naming import Labels
from ctrlplane.provider.releases import Release

__all__ = ["parse_records", "record_names"]


def parse_records(keys: Labels, volumes: Sequence[Mapping[str, Any]]) -> list[Release]:
    """Releases from record volumes, newest first; the newest is marked live."""
    out: list[Release] = []
    for vol in volumes:
        text = (vol.get("Labels") or {}).get(keys.release_record)
        if not text:
            continue
        try:
            out.append(Release.model_validate(json.loads(text)))
        except (ValueError, TypeError):
            continue
    out.sort(key=lambda r: (r.created_at, r.release_id), reverse=True)
    return [r.model_copy(update={"live": i == 0}) for i, r in enumerate(out)]


def record_names(keys: Labels, volumes: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Release ID -> record volume name."""
    out: dict[str, str] = {}
    for vol in volumes:
        labels = vol.get("Labels") or {}
        if keys.release_record in labels:
            out[str(labels.get(keys.release, ""))] = str(vol.get("Name", ""))
    return out
