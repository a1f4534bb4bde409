"""The control Machine's records -> the instance's spec, live release and history (pure).

The control Machine's current metadata holds the live spec and release record; each of
its configuration versions (``MachineVersion.user_config.metadata``) holds the record
and spec of the release that version wrote (see
:mod:`~ctrlplane.provider.fly.render.control`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ctrlplane.provider.fly.render import meta
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["history", "live_release", "spec_of", "units_of"]


def spec_of(metadata: Mapping[str, str]) -> ProvisionRequest | None:
    """The spec a control Machine's metadata records (``None``: none or unreadable)."""
    text = metadata.get(meta.SPEC)
    if not text:
        return None
    try:
        return ProvisionRequest.model_validate_json(text)
    except (ValidationError, ValueError):
        return None


def units_of(metadata: Mapping[str, str]) -> dict[str, list[str]]:
    """The Machines serving the live release: service -> Machine ID per replica."""
    try:
        data = json.loads(metadata.get(meta.UNITS) or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): [str(i) for i in v] for k, v in data.items() if isinstance(v, list)}


def live_release(metadata: Mapping[str, str]) -> Release | None:
    """The release record a control Machine's metadata holds (``None``: provision has
    not finished)."""
    text = metadata.get(meta.RECORD)
    if not text:
        return None
    try:
        release = Release.model_validate_json(text)
    except (ValidationError, ValueError):
        return None
    return release.model_copy(update={"live": True})


def history(versions: Sequence[Mapping[str, Any]], depth: int) -> list[Release]:
    """The retained releases, newest first (at most ``depth``), from the control
    Machine's versions (newest first): each release once, the newest version of it
    (scaling rewrites the record of the same release); the first one is live."""
    seen: set[str] = set()
    out: list[Release] = []
    for version in versions:
        metadata = (version.get("user_config") or {}).get("metadata") or {}
        release = live_release(metadata)
        if release is None or release.release_id in seen:
            continue
        seen.add(release.release_id)
        out.append(release.model_copy(update={"live": not out}))
        if len(out) >= depth:
            break
    return out
