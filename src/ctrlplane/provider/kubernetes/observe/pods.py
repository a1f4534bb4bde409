"""Pure reading of pods: their order, readiness, release and container states.

Input is what the API server returned (plain JSON); nothing here does I/O. A service is one
container name in every pod of the instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ctrlplane.provider.kubernetes.render.naming import (
    ANN_RELEASE,
    ANN_RESTARTED_AT,
    LABEL_ORDINAL,
)
from ctrlplane.provider.native import JSON

__all__ = [
    "FAILED_REASONS",
    "IMAGE_REASONS",
    "container_statuses",
    "has_started",
    "is_current",
    "is_ready",
    "live_pods",
    "parse_time",
    "replica_order",
    "started_containers",
    "unschedulable",
]

IMAGE_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
)
FAILED_REASONS = IMAGE_REASONS | {
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time of the API server (``Z`` suffix, optional fraction)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def live_pods(pods: Sequence[JSON]) -> list[JSON]:
    """Pods not being deleted."""
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def replica_order(pods: Sequence[JSON]) -> list[JSON]:
    """Live pods in replica order: StatefulSet ordinal, else creation time then name."""

    def key(p: JSON) -> tuple[int, str, str]:
        meta = p["metadata"]
        name = str(meta["name"])
        ordinal = name.rsplit("-", 1)[-1]
        by_ordinal = LABEL_ORDINAL in (meta.get("labels") or {})
        return (
            int(ordinal) if by_ordinal and ordinal.isdigit() else 0,
            str(meta.get("creationTimestamp", "")),
            name,
        )

    return sorted(live_pods(pods), key=key)


def container_statuses(pod: JSON) -> dict[str, JSON]:
    """The pod's container statuses (init containers too) by container name."""
    status = pod.get("status") or {}
    out = {c["name"]: c for c in status.get("initContainerStatuses") or []}
    out.update({c["name"]: c for c in status.get("containerStatuses") or []})
    return out


def is_ready(pod: JSON) -> bool:
    """Whether the pod's ``Ready`` condition is true."""
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def unschedulable(pod: JSON) -> str | None:
    """The scheduler's reason when it cannot place ``pod`` (its ``PodScheduled``
    condition is false, ``Unschedulable``: no node has room for its requests), else
    ``None``."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        failed = cond.get("type") == "PodScheduled" and cond.get("status") == "False"
        if failed and cond.get("reason") == "Unschedulable":
            return str(cond.get("message") or "no node can run it")
    return None


def is_current(pod: JSON, release: str, restarted_at: str) -> bool:
    """Whether ``pod`` runs ``release`` with the restart stamp ``restarted_at``."""
    ann = pod["metadata"].get("annotations") or {}
    return ann.get(ANN_RELEASE) == release and ann.get(ANN_RESTARTED_AT, "") == restarted_at


def started_containers(pod: JSON) -> set[str]:
    """Names of the pod's containers that run or have run (inits that completed count)."""
    out: set[str] = set()
    for name, cs in container_statuses(pod).items():
        state = cs.get("state") or {}
        if "running" in state or "terminated" in state or (cs.get("lastState") or {}):
            out.add(name)
    return out


def has_started(pod: JSON, container: str) -> bool:
    """Whether ``container`` of ``pod`` has started (or ran before): a container still
    waiting for its first start has no log to read."""
    cs = container_statuses(pod).get(container)
    if cs is None:
        return False
    return "waiting" not in (cs.get("state") or {}) or bool(cs.get("lastState"))
