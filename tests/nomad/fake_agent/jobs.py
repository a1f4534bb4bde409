"""Jobs, versions, deployments and Variables of the fake agent, and its scheduler.

Registering a job that differs from the current version creates a new version (at most
``tracked_versions`` are kept, as the server's ``job_tracked_versions``); an identical
job changes nothing. Each new version is reconciled by a background task:

- stopped job: every allocation is stopped;
- new placements (first registration, scaling up): allocations placed at once;
- scaling down: the highest indexes stopped;
- a change to the task group (destructive): ``MaxParallel`` allocations at a time are
  stopped and replaced, each batch must become healthy (all tasks running, every check
  passing for ``MinHealthyTime``) within ``HealthyDeadline``; otherwise the deployment
  fails and, with ``AutoRevert``, the latest stable version is registered again;
- ``Canary`` > 0 on a destructive change: that many canary allocations are placed beside
  the old ones; once healthy the deployment waits for ``promote`` (then rolls the rest)
  or ``fail``;
- only job-level changes (meta, update block, count): in place.

A successful deployment marks its version ``Stable``. Every registration that changes
the job records an evaluation (``eval-<JobModifyIndex>``); when the node lacks a group
volume an allocation needs (:class:`~.volumes.NodeVolumes`), that allocation is not
placed and the evaluation carries ``FailedTGAllocs`` with the scheduler's constraint, as
Nomad reports it (the deployment then makes no progress).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ctrlplane.testing.backend import FakeBackend

from .allocs import Alloc
from .volumes import NodeVolumes

__all__ = ["AgentState", "JobState"]

JSON = dict[str, Any]
_S = 1e9
_BOOKKEEPING = {
    "Version",
    "Stable",
    "Status",
    "StatusDescription",
    "SubmitTime",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
}


def _user_fields(job: Mapping[str, Any]) -> JSON:
    return {k: v for k, v in job.items() if k not in _BOOKKEEPING}


def _group_shape(job: Mapping[str, Any]) -> JSON:
    group = dict(job["TaskGroups"][0])
    group.pop("Count", None)
    return group


@dataclass
class JobState:
    """One job: its versions (oldest first), allocations and deployments."""

    namespace: str
    versions: list[JSON] = field(default_factory=list)
    allocs: list[Alloc] = field(default_factory=list)
    deployments: list[JSON] = field(default_factory=list)
    reconciler: asyncio.Task[None] | None = None
    modify_index: int = 0
    promote: asyncio.Event = field(default_factory=asyncio.Event)
    evals: list[JSON] = field(default_factory=list)

    @property
    def current(self) -> JSON:
        return self.versions[-1]


class AgentState:
    """Everything the fake agent holds, per namespace."""

    def __init__(
        self, backend: FakeBackend, *, time_scale: float = 1.0, tracked_versions: int = 6
    ) -> None:
        self.backend = backend
        self.time_scale = time_scale
        self.tracked_versions = tracked_versions
        self.jobs: dict[tuple[str, str], JobState] = {}
        self.variables: dict[tuple[str, str], JSON] = {}
        self.private_images: dict[str, tuple[str, str]] = {}
        """Image reference -> (username, password) its registry requires to pull it."""
        self.volumes = NodeVolumes()
        """Host volumes of the client node and registered CSI volumes, with their data."""
        self.index = 1
        self.changed = asyncio.Condition()

    def _tick(self) -> int:
        self.index += 1
        return self.index

    def notify(self) -> None:
        """Wake blocking readers (nothing blocks in this fake; kept for symmetry)."""
        self.index += 1

    # -- variables ------------------------------------------------------------------------

    def var_items(self, namespace: str) -> Any:
        def lookup(path: str) -> Mapping[str, str] | None:
            var = self.variables.get((namespace, path))
            return None if var is None else var["Items"]

        return lookup

    # -- jobs -----------------------------------------------------------------------------

    def job(self, namespace: str, job_id: str) -> JobState | None:
        return self.jobs.get((namespace, job_id))

    def job_status(self, state: JobState) -> str:
        """The job's ``Status``: ``running`` with a live allocation, ``pending`` while
        allocations are being placed, else ``dead``."""
        live = [a for a in state.allocs if a.desired_status == "run" and not a.terminal]
        if any(a.client_status == "running" for a in live):
            return "running"
        if live and not state.current.get("Stop"):
            return "pending"
        return "dead"

    def register(self, namespace: str, job: JSON) -> tuple[JSON, bool]:
        """Register ``job``; return the current version and whether it changed."""
        key = (namespace, str(job["ID"]))
        state = self.jobs.get(key)
        submitted = {**job, "Namespace": namespace, "Stop": bool(job.get("Stop", False))}
        if state is not None and _user_fields(state.current) == _user_fields(submitted):
            return state.current, False
        if state is None:
            state = JobState(namespace)
            self.jobs[key] = state
            version = 0
        else:
            version = int(state.current["Version"]) + 1
        index = self._tick()
        stored = copy.deepcopy(submitted)
        stored.update(
            {
                "Version": version,
                "Stable": False,
                "Status": "dead" if stored["Stop"] else "pending",
                "SubmitTime": time.time_ns(),
                "CreateIndex": state.versions[0]["CreateIndex"] if state.versions else index,
                "ModifyIndex": index,
                "JobModifyIndex": index,
            }
        )
        state.versions.append(stored)
        del state.versions[: -self.tracked_versions]
        state.evals.append(
            {
                "ID": f"eval-{index}",
                "Namespace": namespace,
                "JobID": stored["ID"],
                "JobModifyIndex": index,
                "Type": stored.get("Type", "service"),
                "TriggeredBy": "job-register",
                "Status": "complete",
                "FailedTGAllocs": None,
                "BlockedEval": "",
                "CreateIndex": index,
            }
        )
        state.modify_index = index
        if state.reconciler is not None and not state.reconciler.done():
            state.reconciler.cancel()
            for dep in state.deployments:
                if dep["Status"] == "running":
                    dep["Status"] = "cancelled"
                    dep["StatusDescription"] = "Cancelled due to newer version of job"
        state.promote = asyncio.Event()
        state.reconciler = asyncio.create_task(self._reconcile(state, stored))
        return stored, True

    async def purge(self, namespace: str, job_id: str) -> bool:
        state = self.jobs.pop((namespace, job_id), None)
        if state is None:
            return False
        if state.reconciler is not None:
            state.reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await state.reconciler
        for alloc in state.allocs:
            await alloc.stop()
        return True

    def _new_alloc(self, state: JobState, job: JSON, index: int) -> Alloc:
        alloc = Alloc(
            self.backend,
            job,
            index,
            namespace=state.namespace,
            variables=self.var_items(state.namespace),
            time_scale=self.time_scale,
            on_change=self.notify,
            registry_auth=self.private_images.get,
            volume_store=lambda req, i: self.volumes.store(state.namespace, req, i),
        )
        state.allocs.append(alloc)
        alloc.start()
        return alloc

    def _deployment(self, state: JobState, job: JSON, total: int, canaries: int) -> JSON:
        update = job.get("Update") or {}
        dep: JSON = {
            "ID": str(uuid.uuid4()),
            "Namespace": state.namespace,
            "JobID": job["ID"],
            "JobVersion": job["Version"],
            "Status": "running",
            "StatusDescription": "Deployment is running",
            "TaskGroups": {
                job["TaskGroups"][0]["Name"]: {
                    "AutoRevert": bool(update.get("AutoRevert")),
                    "AutoPromote": bool(update.get("AutoPromote")),
                    "Promoted": False,
                    "DesiredCanaries": canaries,
                    "DesiredTotal": total,
                    "PlacedAllocs": 0,
                    "HealthyAllocs": 0,
                    "UnhealthyAllocs": 0,
                    "PlacedCanaries": [],
                }
            },
            "CreateIndex": self._tick(),
        }
        state.deployments.append(dep)
        return dep

    async def _wait_healthy(self, allocs: list[Alloc], dep: JSON) -> bool:
        while True:
            if any(a.healthy is False or a.client_status == "failed" for a in allocs):
                return False
            if all(a.healthy for a in allocs):
                return True
            await asyncio.sleep(0.02)

    def _group_counts(self, dep: JSON, allocs: list[Alloc]) -> None:
        g = next(iter(dep["TaskGroups"].values()))
        g["PlacedAllocs"] = len(allocs)
        g["HealthyAllocs"] = sum(1 for a in allocs if a.healthy)
        g["UnhealthyAllocs"] = sum(1 for a in allocs if a.healthy is False)

    async def _reconcile(self, state: JobState, job: JSON) -> None:
        live = [a for a in state.allocs if a.desired_status == "run" and not a.terminal]
        for stale in [a for a in live if a.canary and a.version != job["Version"]]:
            await stale.stop()  # canaries of a cancelled deployment
            live.remove(stale)
        if job["Stop"]:
            for alloc in live:
                await alloc.stop()
            return
        count = int(job["TaskGroups"][0].get("Count", 1))
        update = job.get("Update") or {}
        for alloc in [a for a in live if a.index >= count]:
            await alloc.stop()
        live = [a for a in live if a.index < count]
        destructive = [a for a in live if _group_shape(a.job) != _group_shape(job)]
        for alloc in live:
            if alloc not in destructive:
                alloc.job = job
        placed: list[Alloc] = []
        have = {a.index for a in live}
        blocked = self._unplaceable(state, job, count)
        if blocked:
            dep = self._deployment(state, job, count, 0)
            for i in sorted(set(range(count)) - have - set(blocked)):
                alloc = self._new_alloc(state, job, i)
                alloc.deployment_id = dep["ID"]
            self.notify()
            return
        canaries = int(update.get("Canary", 0)) if destructive else 0
        dep = self._deployment(state, job, count, canaries)
        for alloc in live:
            if alloc not in destructive:
                alloc.deployment_id = dep["ID"]
        try:
            fresh = [self._new_alloc(state, job, i) for i in range(count) if i not in have]
            for alloc in fresh:
                alloc.deployment_id = dep["ID"]
            placed += fresh
            if fresh and not await self._wait_healthy(fresh, dep):
                await self._failed(state, job, dep, placed)
                return
            if canaries:
                canary_allocs = []
                for i in range(canaries):
                    alloc = self._new_alloc(state, job, destructive[i % len(destructive)].index)
                    alloc.canary, alloc.deployment_id = True, dep["ID"]
                    canary_allocs.append(alloc)
                placed += canary_allocs
                next(iter(dep["TaskGroups"].values()))["PlacedCanaries"] = [
                    a.id for a in canary_allocs
                ]
                if not await self._wait_healthy(canary_allocs, dep):
                    await self._failed(state, job, dep, placed)
                    return
                dep["StatusDescription"] = "Deployment is running but requires manual promotion"
                self._group_counts(dep, placed)
                await state.promote.wait()
                if dep["Status"] != "running":
                    return
                next(iter(dep["TaskGroups"].values()))["Promoted"] = True
                dep["StatusDescription"] = "Deployment is running"
                for alloc in canary_allocs:
                    alloc.canary = False  # promoted: regular allocations now
                replaced = {a.index for a in canary_allocs}
                for old in destructive:
                    if old.index in replaced:
                        await old.stop()
                destructive = [a for a in destructive if a.index not in replaced]
            batch = max(int(update.get("MaxParallel", 1)), 1)
            for start in range(0, len(destructive), batch):
                group = destructive[start : start + batch]
                for old in group:
                    await old.stop()
                new = [self._new_alloc(state, job, old.index) for old in group]
                for alloc in new:
                    alloc.deployment_id = dep["ID"]
                placed += new
                self._group_counts(dep, placed)
                if not await self._wait_healthy(new, dep):
                    await self._failed(state, job, dep, placed)
                    return
            self._group_counts(dep, placed)
            dep["Status"] = "successful"
            dep["StatusDescription"] = "Deployment completed successfully"
            job["Stable"] = True
            job["Status"] = "running"
        finally:
            self.notify()

    def _unplaceable(self, state: JobState, job: JSON, count: int) -> dict[int, str]:
        """Allocation index -> the constraint that keeps it off the node; recorded in
        the job's latest evaluation as ``FailedTGAllocs``."""
        group = job["TaskGroups"][0]
        blocked: dict[int, str] = {}
        for index in range(count):
            for req in (group.get("Volumes") or {}).values():
                why = self.volumes.unplaceable(state.namespace, req, index)
                if why is not None:
                    blocked[index] = why
                    break
        if blocked and state.evals:
            first = blocked[min(blocked)]
            state.evals[-1]["FailedTGAllocs"] = {
                group["Name"]: {
                    "NodesEvaluated": 1,
                    "NodesFiltered": 1,
                    "NodesAvailable": dict.fromkeys(job.get("Datacenters") or [], 1),
                    "ConstraintFiltered": {first: 1},
                    "NodesExhausted": 0,
                    "CoalescedFailures": len(blocked) - 1,
                }
            }
            state.evals[-1]["BlockedEval"] = f"{state.evals[-1]['ID']}-blocked"
        return blocked

    async def _failed(self, state: JobState, job: JSON, dep: JSON, placed: list[Alloc]) -> None:
        self._group_counts(dep, placed)
        dep["Status"] = "failed"
        dep["StatusDescription"] = "Failed due to unhealthy allocations"
        update = job.get("Update") or {}
        stable = [v for v in state.versions if v.get("Stable") and v is not job]
        if update.get("AutoRevert") and stable:
            target = stable[-1]
            dep["StatusDescription"] += f" - rolling back to job version {target['Version']}"
            revert = {k: v for k, v in target.items() if k not in _BOOKKEEPING}
            self.register(state.namespace, copy.deepcopy(revert))
