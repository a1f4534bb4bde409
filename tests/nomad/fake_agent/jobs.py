"""Jobs, versions, deployments and Variables of the fake agent, and its scheduler.

Registering a job that differs from the current version creates a new version (at most
``tracked_versions`` are kept, as the server's ``job_tracked_versions``); an identical
job changes nothing (but, as on a real agent, still gets an evaluation). Jobs are
stored with the top-level keys a real agent fills in (``Priority``, ``Region``,
``AllAtOnce``...). A parameterized job is never scheduled (it runs only when
dispatched). Each new version of another job is reconciled by a background task:

- stopped job: every allocation is stopped; the stop's version is marked ``Stable``
  (a 1.1.2 agent did so);
- new placements (first registration, scaling up): allocations placed at once;
- scaling down: the highest indexes stopped;
- a change to the task group (destructive): ``MaxParallel`` allocations at a time are
  stopped and replaced, each batch must become healthy within ``HealthyDeadline`` (see
  :mod:`.allocs` for what healthy means per ``HealthCheck``); otherwise the deployment
  fails and, with ``AutoRevert``, the latest stable version is registered again;
- ``Canary`` > 0 on a destructive change: that many canary allocations are placed beside
  the old ones; once healthy the deployment waits for ``promote`` (then rolls the rest)
  or ``fail``;
- only job-level changes (meta, update block, count): in place.

A deployment that makes no progress (an allocation it cannot place) fails at its
``ProgressDeadline``. Placement follows the one client node (:data:`DATACENTER`): a job
must name its datacenter (``*`` matches it from 1.5), every group volume must be on
the node (:class:`~.volumes.NodeVolumes`) and every reserved port free (ports reserved
by the node's other allocations collide: ``network: reserved port collision
<label>=<port>``); an allocation that cannot be placed is recorded in the evaluation's
``FailedTGAllocs`` as Nomad reports it. Allocations of a purged job stay listed (a
real agent keeps them until its garbage collection runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import fnmatch
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ctrlplane.testing.backend import FakeBackend

from .allocs import Alloc
from .versions import AgentVersion
from .volumes import NodeVolumes

__all__ = ["DATACENTER", "AgentState", "JobState", "canonical"]

JSON = dict[str, Any]
_S = 1e9
DATACENTER = "dc1"
"""The datacenter of the agent's one client node."""

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
_DEFAULTS: JSON = {
    "Affinities": None,
    "AllAtOnce": False,
    "Constraints": None,
    "ConsulNamespace": "",
    "ConsulToken": "",
    "Dispatched": False,
    "Meta": None,
    "Multiregion": None,
    "NomadTokenID": "",
    "ParameterizedJob": None,
    "ParentID": "",
    "Payload": None,
    "Periodic": None,
    "Priority": 50,
    "Spreads": None,
    "VaultNamespace": "",
    "VaultToken": "",
}


def canonical(job: Mapping[str, Any], namespace: str, region: str) -> JSON:
    """``job`` with the keys an agent fills in when it stores a job."""
    out: JSON = {**copy.deepcopy(_DEFAULTS), **copy.deepcopy(dict(job))}
    out["Namespace"] = namespace
    out["Region"] = out.get("Region") or region
    out["Stop"] = bool(out.get("Stop", False))
    return out


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

    @property
    def parameterized(self) -> bool:
        return bool(self.current.get("ParameterizedJob"))


class AgentState:
    """Everything the fake agent holds, per namespace."""

    def __init__(
        self,
        backend: FakeBackend,
        *,
        version: AgentVersion,
        consul: bool = False,
        region: str = "global",
        time_scale: float = 1.0,
        tracked_versions: int = 6,
    ) -> None:
        self.backend = backend
        self.version = version
        self.consul = consul
        self.region = region
        self.time_scale = time_scale
        self.tracked_versions = tracked_versions
        self.jobs: dict[tuple[str, str], JobState] = {}
        self.purged: dict[tuple[str, str], list[Alloc]] = {}
        """Allocations of purged jobs, still listed until garbage collection."""
        self.variables: dict[tuple[str, str], JSON] = {}
        self.private_images: dict[str, tuple[str, str]] = {}
        """Image reference -> (username, password) its registry requires to pull it."""
        self.volumes = NodeVolumes()
        """Host volumes of the client node and registered CSI volumes, with their data."""
        self.index = 1

    def tick(self) -> int:
        """The next Raft index."""
        self.index += 1
        return self.index

    def notify(self) -> None:
        """An allocation changed (the index moves, as blocking queries would see)."""
        self.index += 1

    # -- variables ------------------------------------------------------------------------

    def var_items(self, namespace: str) -> Callable[[str], Mapping[str, str] | None]:
        def lookup(path: str) -> Mapping[str, str] | None:
            var = self.variables.get((namespace, path))
            return None if var is None else var["Items"]

        return lookup

    # -- jobs -----------------------------------------------------------------------------

    def job(self, namespace: str, job_id: str) -> JobState | None:
        return self.jobs.get((namespace, job_id))

    def all_allocs(self) -> list[Alloc]:
        """Every allocation the agent lists (of purged jobs too)."""
        found = [a for state in self.jobs.values() for a in state.allocs]
        return found + [a for allocs in self.purged.values() for a in allocs]

    def job_allocs(self, namespace: str, job_id: str) -> list[Alloc]:
        """The allocations listed for a job ID (those of a purged job of that ID too)."""
        state = self.jobs.get((namespace, job_id))
        return list(self.purged.get((namespace, job_id), [])) + (
            list(state.allocs) if state is not None else []
        )

    def job_status(self, state: JobState) -> str:
        """The job's ``Status``: ``running`` with a live allocation (or as a parameterized
        job), ``pending`` while allocations are being placed, else ``dead``."""
        if state.parameterized:
            return "running"
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
        submitted = canonical(job, namespace, self.region)
        if state is not None and _user_fields(state.current) == _user_fields(submitted):
            return state.current, False
        if state is None:
            state = JobState(namespace)
            self.jobs[key] = state
            version = 0
        else:
            version = int(state.current["Version"]) + 1
        index = self.tick()
        stored = submitted
        stored.update(
            {
                "Version": version,
                "Stable": False,
                "Status": "dead" if stored["Stop"] else "pending",
                "StatusDescription": "",
                "SubmitTime": time.time_ns(),
                "CreateIndex": state.versions[0]["CreateIndex"] if state.versions else index,
                "ModifyIndex": index,
                "JobModifyIndex": index,
            }
        )
        state.versions.append(stored)
        del state.versions[: -self.tracked_versions]
        state.modify_index = index
        if state.parameterized:
            stored["Status"] = "running"
            return stored, True
        self.evaluate(state, stored, "job-register")
        if state.reconciler is not None and not state.reconciler.done():
            state.reconciler.cancel()
            for dep in state.deployments:
                if dep["Status"] == "running":
                    dep["Status"] = "cancelled"
                    dep["StatusDescription"] = "Cancelled due to newer version of job"
        state.promote = asyncio.Event()
        state.reconciler = asyncio.create_task(self._reconcile(state, stored))
        return stored, True

    def evaluate(self, state: JobState, job: JSON, trigger: str) -> JSON:
        """Record an evaluation of ``job``'s current version."""
        index = self.tick()
        ev: JSON = {
            "ID": str(uuid.uuid4()),
            "Namespace": state.namespace,
            "JobID": job["ID"],
            "JobModifyIndex": job["JobModifyIndex"],
            "Type": job.get("Type", "service"),
            "TriggeredBy": trigger,
            "Status": "complete",
            "FailedTGAllocs": None,
            "BlockedEval": "",
            "CreateIndex": index,
            "ModifyIndex": index,
        }
        state.evals.append(ev)
        return ev

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
        if not state.parameterized:
            self.purged.setdefault((namespace, job_id), []).extend(state.allocs)
        return True

    def _runs_check(self, svc: Mapping[str, Any]) -> bool:
        """Whether something runs the checks of ``svc``: Consul (when the agent has it)
        or Nomad's native checks (1.4+)."""
        native = self.version.native_services and svc.get("Provider", "consul") == "nomad"
        return self.version.native_checks if native else self.consul

    def _new_alloc(self, state: JobState, job: JSON, index: int, dep: JSON) -> Alloc:
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
            runs_check=self._runs_check,
        )
        alloc.create_index = self.tick()
        alloc.eval_id = state.evals[-1]["ID"] if state.evals else ""
        alloc.deployment_id = dep["ID"]
        state.allocs.append(alloc)
        alloc.start()
        return alloc

    # -- placement ------------------------------------------------------------------------

    def _datacenter_ok(self, job: JSON) -> bool:
        dcs = [str(d) for d in job.get("Datacenters") or []]
        if self.version.datacenter_glob:
            return any(fnmatch.fnmatchcase(DATACENTER, d) for d in dcs)
        return DATACENTER in dcs

    def _port_collision(self, job: JSON, leaving: set[str]) -> str | None:
        """The dimension a new allocation of ``job`` exhausts when a port it reserves is
        reserved by a live allocation on the node (except those in ``leaving``)."""
        taken = {
            value
            for a in self.all_allocs()
            if a.desired_status == "run" and not a.terminal and a.id not in leaving
            for _, value in a.reserved_ports()
        }
        for net in job["TaskGroups"][0].get("Networks") or []:
            for port in net.get("ReservedPorts") or []:
                if int(port.get("Value") or 0) in taken:
                    return f"network: reserved port collision {port['Label']}={port['Value']}"
        return None

    def _unplaceable(
        self, state: JobState, job: JSON, index: int, leaving: set[str]
    ) -> JSON | None:
        """The scheduler's metrics for an allocation of ``index`` it cannot place (``None``
        when it can)."""
        group = job["TaskGroups"][0]
        metric: JSON = {
            "NodesEvaluated": 1,
            "NodesFiltered": 0,
            "NodesAvailable": {DATACENTER: 1},
            "ClassFiltered": None,
            "ConstraintFiltered": None,
            "NodesExhausted": 0,
            "ClassExhausted": None,
            "DimensionExhausted": None,
            "QuotaExhausted": None,
            "CoalescedFailures": 0,
        }
        if not self._datacenter_ok(job):
            metric.update({"NodesEvaluated": 0, "NodesAvailable": {}})
            return metric
        for req in (group.get("Volumes") or {}).values():
            why = self.volumes.unplaceable(state.namespace, req, index)
            if why is not None:
                metric.update({"NodesFiltered": 1, "ConstraintFiltered": {why: 1}})
                return metric
        collision = self._port_collision(job, leaving)
        if collision is not None:
            metric.update({"NodesExhausted": 1, "DimensionExhausted": {collision: 1}})
            return metric
        return None

    def _place(
        self,
        state: JobState,
        job: JSON,
        index: int,
        dep: JSON,
        leaving: frozenset[str] = frozenset(),
    ) -> Alloc | None:
        """Place allocation ``index`` of ``job``, or record in the latest evaluation why
        it cannot be placed (``None``)."""
        metric = self._unplaceable(state, job, index, set(leaving))
        if metric is None:
            return self._new_alloc(state, job, index, dep)
        ev = state.evals[-1] if state.evals else self.evaluate(state, job, "job-register")
        failed = ev.get("FailedTGAllocs") or {}
        group = str(job["TaskGroups"][0]["Name"])
        if group in failed:
            failed[group]["CoalescedFailures"] += 1
        else:
            failed[group] = metric
        ev["FailedTGAllocs"] = failed
        ev["BlockedEval"] = ev["BlockedEval"] or str(uuid.uuid4())
        return None

    # -- deployments ----------------------------------------------------------------------

    def _deployment(self, state: JobState, job: JSON, total: int, canaries: int) -> JSON:
        update = job.get("Update") or {}
        progress = int(update.get("ProgressDeadline", 600 * _S))
        dep: JSON = {
            "ID": str(uuid.uuid4()),
            "Namespace": state.namespace,
            "JobID": job["ID"],
            "JobVersion": job["Version"],
            "JobModifyIndex": job["JobModifyIndex"],
            "JobCreateIndex": job["CreateIndex"],
            "Status": "running",
            "StatusDescription": "Deployment is running",
            "TaskGroups": {
                job["TaskGroups"][0]["Name"]: {
                    "AutoRevert": bool(update.get("AutoRevert")),
                    "AutoPromote": bool(update.get("AutoPromote")),
                    "ProgressDeadline": progress,
                    "RequireProgressBy": None,
                    "Promoted": False,
                    "PlacedCanaries": None,
                    "DesiredCanaries": canaries,
                    "DesiredTotal": total,
                    "PlacedAllocs": 0,
                    "HealthyAllocs": 0,
                    "UnhealthyAllocs": 0,
                }
            },
            "CreateIndex": self.tick(),
        }
        dep["ModifyIndex"] = dep["CreateIndex"]
        state.deployments.append(dep)
        return dep

    async def _wait_healthy(self, allocs: list[Alloc | None], dep: JSON) -> str:
        """Wait until ``allocs`` are healthy: ``""``, or why the deployment fails (an
        allocation is unhealthy or failed; nothing placed or healthy in time: the
        progress deadline)."""
        group = next(iter(dep["TaskGroups"].values()))
        limit = float(group["ProgressDeadline"]) / _S * self.time_scale
        deadline = time.monotonic() + limit if limit else None
        while True:
            placed = [a for a in allocs if a is not None]
            if any(a.healthy is False or a.client_status == "failed" for a in placed):
                return "Failed due to unhealthy allocations"
            if len(placed) == len(allocs) and all(a.healthy for a in placed):
                return ""
            if deadline is not None and time.monotonic() >= deadline:
                return "Failed due to progress deadline"
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
            job["Stable"] = True
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
        have = {a.index for a in live}
        canaries = int(update.get("Canary", 0)) if destructive else 0
        dep = self._deployment(state, job, count, canaries)
        for alloc in live:
            if alloc not in destructive:
                alloc.deployment_id = dep["ID"]
        placed: list[Alloc] = []
        try:
            fresh = [self._place(state, job, i, dep) for i in range(count) if i not in have]
            placed += [a for a in fresh if a is not None]
            if fresh:
                why = await self._wait_healthy(fresh, dep)
                if why:
                    await self._failed(state, job, dep, placed, why)
                    return
            if canaries:
                canary_allocs: list[Alloc | None] = []
                for i in range(canaries):
                    canary = self._place(state, job, destructive[i % len(destructive)].index, dep)
                    if canary is not None:
                        canary.canary = True
                    canary_allocs.append(canary)
                placed += [a for a in canary_allocs if a is not None]
                next(iter(dep["TaskGroups"].values()))["PlacedCanaries"] = [
                    a.id for a in canary_allocs if a is not None
                ] or None
                why = await self._wait_healthy(canary_allocs, dep)
                if why:
                    await self._failed(state, job, dep, placed, why)
                    return
                dep["StatusDescription"] = "Deployment is running but requires manual promotion"
                self._group_counts(dep, placed)
                await state.promote.wait()
                if dep["Status"] != "running":
                    return
                next(iter(dep["TaskGroups"].values()))["Promoted"] = True
                dep["StatusDescription"] = "Deployment is running"
                promoted = [a for a in canary_allocs if a is not None]
                for alloc in promoted:
                    alloc.canary = False  # promoted: regular allocations now
                replaced = {a.index for a in promoted}
                for old in destructive:
                    if old.index in replaced:
                        await old.stop()
                destructive = [a for a in destructive if a.index not in replaced]
            batch = max(int(update.get("MaxParallel", 1)), 1)
            for start in range(0, len(destructive), batch):
                group = destructive[start : start + batch]
                for old in group:
                    await old.stop()
                new = [self._place(state, job, old.index, dep) for old in group]
                placed += [a for a in new if a is not None]
                self._group_counts(dep, placed)
                why = await self._wait_healthy(new, dep)
                if why:
                    await self._failed(state, job, dep, placed, why)
                    return
            self._group_counts(dep, placed)
            dep["Status"] = "successful"
            dep["StatusDescription"] = "Deployment completed successfully"
            job["Stable"] = True
            job["Status"] = "running"
        finally:
            self.notify()

    def deployment(self, dep_id: str) -> tuple[JobState, JSON] | None:
        for state in self.jobs.values():
            for dep in state.deployments:
                if dep["ID"] == dep_id:
                    return state, dep
        return None

    def fail(self, state: JobState, dep: JSON, why: str = "Deployment marked as failed") -> None:
        """End ``dep`` failed; with ``AutoRevert`` the latest stable version runs again."""
        dep["Status"] = "failed"
        dep["StatusDescription"] = why
        state.promote.set()
        job = state.current
        target = self._revert_target(state, job)
        if (job.get("Update") or {}).get("AutoRevert") and target is not None:
            dep["StatusDescription"] += f" - rolling back to job version {target['Version']}"
            self.register(state.namespace, copy.deepcopy(_user_fields(target)))

    @staticmethod
    def _revert_target(state: JobState, job: JSON) -> JSON | None:
        stable = [
            v for v in state.versions if v.get("Stable") and not v.get("Stop") and v is not job
        ]
        return stable[-1] if stable else None

    async def _failed(
        self, state: JobState, job: JSON, dep: JSON, placed: list[Alloc], why: str
    ) -> None:
        self._group_counts(dep, placed)
        if dep["Status"] == "running":
            self.fail(state, dep, why)
