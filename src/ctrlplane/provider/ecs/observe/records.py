"""Reading a revision's release record back (pure): its request and its release.

The keys are :mod:`~ctrlplane.provider.ecs.render.names`'s ``LABEL_*``, on the main
container of every task definition revision the backend registers
(:mod:`~ctrlplane.provider.ecs.render.labels`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ctrlplane.errors import BackendError
from ctrlplane.provider.ecs.config import BACKEND
from ctrlplane.provider.ecs.render.labels import ReleaseInfo
from ctrlplane.provider.ecs.render.names import (
    LABEL_CREATED_AT,
    LABEL_RELEASE,
    LABEL_RELEASED_AT,
    LABEL_ROLLBACK_OF,
    LABEL_SPEC,
    LABEL_STRATEGY,
)
from ctrlplane.provider.releases import Release, new_release
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["is_ours", "release_info", "release_of", "request_of", "revision"]


def _labels(definition: Mapping[str, Any]) -> Mapping[str, str]:
    for c in definition.get("containerDefinitions") or []:
        labels = c.get("dockerLabels") or {}
        if LABEL_SPEC in labels:
            return labels
    raise BackendError(
        f"task definition {definition.get('taskDefinitionArn')!r} was not registered by "
        f"ctrlplane (no {LABEL_SPEC} label)",
        backend=BACKEND,
    )


def is_ours(definition: Mapping[str, Any]) -> bool:
    """Whether ``definition`` carries a ctrlplane release record."""
    return any(
        LABEL_SPEC in (c.get("dockerLabels") or {})
        for c in definition.get("containerDefinitions") or []
    )


def revision(definition: Mapping[str, Any]) -> int:
    return int(definition.get("revision") or 0)


def _time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)


def request_of(definition: Mapping[str, Any]) -> ProvisionRequest:
    """The request (every service's spec) a revision runs."""
    return ProvisionRequest.model_validate_json(_labels(definition)[LABEL_SPEC])


def release_info(definition: Mapping[str, Any]) -> ReleaseInfo:
    labels = _labels(definition)
    return ReleaseInfo(
        release_id=labels.get(LABEL_RELEASE, ""),
        released_at=_time(labels.get(LABEL_RELEASED_AT, "")),
        strategy=labels.get(LABEL_STRATEGY, ""),
        rollback_of=labels.get(LABEL_ROLLBACK_OF, ""),
        created_at=_time(labels.get(LABEL_CREATED_AT, "")),
    )


def release_of(definition: Mapping[str, Any], *, live: bool = False) -> Release:
    """The release record of a revision (``live`` marks the one the instance runs)."""
    info = release_info(definition)
    release = new_release(
        info.release_id,
        request_of(definition).services,
        strategy=info.strategy,
        rollback_of=info.rollback_of,
        created_at=info.released_at,
    )
    return release.model_copy(update={"live": live})
