"""Release history in the controller's ``ctrlplane.io/releases`` annotation. Pure.

The annotation holds the retained releases as JSON (newest first, at most the configured
depth, and at most :data:`HISTORY_LIMIT` bytes: the oldest beyond it are dropped, so the
controller's annotations stay under the API server's limit): each a complete per-service
snapshot (image, env, health check) and never a secret value (secrets are references in
the spec, values live only in the instance's Secret).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import TypeAdapter, ValidationError

from ctrlplane.provider.releases import Release

__all__ = ["HISTORY_LIMIT", "dump_releases", "load_releases"]

HISTORY_LIMIT = 140 * 1024
"""The most bytes of release history kept (the live release is always kept)."""

_RELEASES = TypeAdapter(list[Release])


def load_releases(text: str | None) -> list[Release]:
    """Releases from the annotation, newest first, the newest marked live ([] if unreadable)."""
    if not text:
        return []
    try:
        releases = _RELEASES.validate_python(json.loads(text))
    except (ValueError, ValidationError):
        return []
    return [r.model_copy(update={"live": i == 0}) for i, r in enumerate(releases)]


def dump_releases(releases: Sequence[Release], depth: int) -> str:
    """The annotation value: the newest ``depth`` releases, newest first, within
    :data:`HISTORY_LIMIT` bytes (the newest always)."""
    kept = [r.model_copy(update={"live": i == 0}) for i, r in enumerate(releases[:depth])]
    entries = [r.model_dump_json() for r in kept]
    while len(entries) > 1 and sum(len(e) + 1 for e in entries) > HISTORY_LIMIT:
        entries.pop()
    return json.dumps([json.loads(e) for e in entries], separators=(",", ":"))
