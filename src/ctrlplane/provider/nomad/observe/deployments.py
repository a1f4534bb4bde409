"""Reading Nomad deployments and the allocations they place (pure).

A job version's rollout is a deployment (``/v1/job/:id/deployment`` is the newest):
``running`` until its allocations are healthy (``successful``) or it ``failed`` (then
Nomad auto-reverts to the last stable version) or was ``cancelled``. Canaries are the
allocations whose ``DeploymentStatus.Canary`` is set; ``DeploymentStatus.Healthy`` is
Nomad's verdict on an allocation (from its checks, after ``min_healthy_time``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.observe.allocations import current_allocs

__all__ = [
    "ENDED",
    "canaries",
    "deployment_of",
    "failed_allocs",
    "healthy",
    "revert_reason",
    "unhealthy",
]

ENDED = ("failed", "cancelled")
"""Deployment states that end it without success."""


def _health(alloc: Mapping[str, Any]) -> object:
    return (alloc.get("DeploymentStatus") or {}).get("Healthy")


def deployment_of(dep: JSON | None, version: object) -> JSON | None:
    """``dep`` (the job's newest deployment) if it rolls out job ``version``, else
    ``None`` (no deployment yet, or one of another version)."""
    return dep if dep is not None and dep.get("JobVersion") == version else None


def revert_reason(deployments: Iterable[Mapping[str, Any]]) -> str:
    """Why Nomad reverted a job: the description of its newest failed deployment (Nomad
    lists deployments in no particular order)."""
    newest = sorted(deployments, key=lambda d: int(d.get("CreateIndex") or 0), reverse=True)
    return next(
        (str(d.get("StatusDescription", "")) for d in newest if d.get("Status") == "failed"),
        "the deployment failed",
    )


def canaries(job: Mapping[str, Any], allocs: Sequence[Mapping[str, Any]]) -> list[JSON]:
    """The current version's canary allocations, by replica."""
    return [
        a for a in current_allocs(job, allocs) if (a.get("DeploymentStatus") or {}).get("Canary")
    ]


def failed_allocs(allocs: Iterable[JSON]) -> list[JSON]:
    """The allocations whose client reports them failed."""
    return [a for a in allocs if a.get("ClientStatus") == "failed"]


def unhealthy(allocs: Iterable[JSON]) -> list[JSON]:
    """The allocations that failed, or that Nomad found unhealthy."""
    return [a for a in allocs if a.get("ClientStatus") == "failed" or _health(a) is False]


def healthy(allocs: Iterable[JSON]) -> list[JSON]:
    """The allocations Nomad found healthy."""
    return [a for a in allocs if _health(a)]
