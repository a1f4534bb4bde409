"""The release history from task definition revisions (pure).

Every release is a revision of the instance's family whose main container records it
(:mod:`.records`); a ``scale`` registers a revision of the same release (new sizes), so a
release is its newest revision. The history lists the retained releases newest first;
the live one is the release of the revision the instance's service runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ctrlplane.provider.ecs.observe.records import is_ours, release_info, release_of, revision
from ctrlplane.provider.releases import Release

__all__ = ["by_release", "history", "surplus"]


def by_release(definitions: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Our revisions grouped by release ID, each group newest first, releases in
    order of their newest revision (newest first)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for d in sorted((d for d in definitions if is_ours(d)), key=revision, reverse=True):
        groups.setdefault(release_info(d).release_id, []).append(d)
    return groups


def history(definitions: Iterable[Mapping[str, Any]], live_arn: str, depth: int) -> list[Release]:
    """The newest ``depth`` releases, newest first; ``live`` set on the one ``live_arn``
    (the service's revision) belongs to."""
    groups = by_release(definitions)
    live_id = next(
        (
            rid
            for rid, revs in groups.items()
            if any(r.get("taskDefinitionArn") == live_arn for r in revs)
        ),
        "",
    )
    out = []
    for rid, revisions in list(groups.items())[:depth]:
        out.append(release_of(revisions[0], live=rid == live_id))
    return out


def surplus(definitions: Sequence[Mapping[str, Any]], keep: Iterable[str], depth: int) -> list[str]:
    """ARNs of our revisions beyond the newest ``depth`` releases, and older revisions of
    retained releases; never one of ``keep`` (revisions services run)."""
    groups = by_release(definitions)
    protected = set(keep)
    out: list[str] = []
    for i, revisions in enumerate(groups.values()):
        drop = revisions if i >= depth else revisions[1:]
        out += [
            str(r["taskDefinitionArn"]) for r in drop if r.get("taskDefinitionArn") not in protected
        ]
    return out
