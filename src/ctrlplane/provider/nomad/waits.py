"""Reading jobs and allocations, and the waits every operation shares (I/O helpers).

:class:`JobReader` is the base of the provider's parts: it reads the job, its
allocations and check results through a :class:`~ctrlplane.provider.nomad.client.NomadClient`,
waits for a job version's deployment (failing fast on a failed allocation, a revert, or
allocations the scheduler cannot place for a missing volume, saying what to configure),
collects check results as probe evidence, purges, and restores a previous version.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from ctrlplane.errors import (
    BackendError,
    CtrlplaneError,
    InstanceNotFound,
    OperationTimeout,
)
from ctrlplane.provider.events import (
    ProbeObserved,
    Subscriber,
    emit,
)
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.nomad.checkgate import FailureCounter, Tripped, check_limits
from ctrlplane.provider.nomad.client import BACKEND, NomadClient, NotFound
from ctrlplane.provider.nomad.config import NomadConfig
from ctrlplane.provider.nomad.jobspec import (
    job_id,
)
from ctrlplane.provider.nomad.meta import (
    RELEASE,
    releases_from_versions,
    request_from_job,
)
from ctrlplane.provider.nomad.placement import volume_placement_failure
from ctrlplane.provider.nomad.status import (
    alloc_replica,
    current_allocs,
)
from ctrlplane.provider.nomad.volumes import volume_hint
from ctrlplane.provider.releases import Release

__all__ = [
    "AllocWatcher",
    "Failed",
    "JobReader",
    "probe_results",
    "resubmittable",
    "seconds",
    "task_failure",
    "uncancellable",
]

JSON = dict[str, Any]
T = TypeVar("T")
AllocWatcher = Callable[[list[JSON]], Awaitable[None]]
"""Sees the current allocations at every poll of a wait (progress reporting)."""

_BOOKKEEPING = (
    "Version",
    "Stable",
    "Status",
    "StatusDescription",
    "SubmitTime",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
)


def seconds(value: timedelta) -> float:
    return value / timedelta(seconds=1)


def resubmittable(job: JSON) -> JSON:
    """A read job without the server's bookkeeping, ready to register again."""
    return {k: v for k, v in job.items() if k not in _BOOKKEEPING}


async def uncancellable(work: Awaitable[T]) -> T:
    """Run ``work`` to the end even if the caller is cancelled meanwhile."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


class Failed(Exception):
    """A wait saw the deployment or an allocation fail."""

    def __init__(self, step: str, reason: str, evidence: Sequence[ProbeResult] = ()) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason
        self.evidence = list(evidence)


def task_failure(allocs: Sequence[JSON]) -> str:
    """The first failed task of ``allocs`` with its newest events, e.g.
    ``task 'migrate' failed: Terminated: Exit Code: 3``."""
    for alloc in allocs:
        for name, task in sorted((alloc.get("TaskStates") or {}).items()):
            if task.get("Failed"):
                events = [
                    f"{e.get('Type')}: {e.get('DisplayMessage')}"
                    for e in (task.get("Events") or [])[-3:]
                    if e.get("DisplayMessage")
                ]
                return f"task {name!r} failed: " + "; ".join(events)
    return ""


def probe_results(checks: JSON, replica: int) -> list[ProbeResult]:
    out: list[ProbeResult] = []
    for result in checks.values():
        out.append(
            ProbeResult(
                service=str(result.get("Task") or result.get("Service", "")),
                replica=replica,
                kind="http" if result.get("StatusCode") else "tcp",
                target=str(result.get("Check", "")),
                attempt=1,
                healthy=result.get("Status") == "success",
                observed=str(result.get("Output", "")),
                status_code=int(result["StatusCode"]) if result.get("StatusCode") else None,
                at=datetime.fromtimestamp(int(result.get("Timestamp") or time.time()), UTC),
            )
        )
    return out


class JobReader:
    """Reads and waits on one instance's job; the provider's parts build on it.

    Holds only the configuration (``config``); every method takes the client to use.
    """

    config: NomadConfig

    def _client(self) -> NomadClient:
        return NomadClient(self.config)

    async def _job(self, api: NomadClient, iid: str) -> JSON:
        try:
            job = await api.get(f"/v1/job/{job_id(iid)}")
        except NotFound:
            raise InstanceNotFound(iid, provider=BACKEND) from None
        if not isinstance(job, dict) or RELEASE not in (job.get("Meta") or {}):
            raise InstanceNotFound(iid, provider=BACKEND)
        return job

    async def _allocs(self, api: NomadClient, iid: str) -> list[JSON]:
        found = await api.get(f"/v1/job/{job_id(iid)}/allocations")
        return list(found or [])

    async def _checks(self, api: NomadClient, alloc_id: str) -> JSON:
        try:
            found = await api.get(f"/v1/client/allocation/{alloc_id}/checks")
        except NotFound:
            return {}
        return dict(found or {})

    async def _wait_version(
        self,
        api: NomadClient,
        iid: str,
        step: str,
        evidence: list[ProbeResult] | None = None,
        *,
        release: str = "",
        watch: AllocWatcher | None = None,
    ) -> JSON:
        """Wait until the current job version's deployment succeeds; :class:`Failed`
        when it (or one of its allocations) fails, when a check fails its ``retries``
        consecutive times (:mod:`~ctrlplane.provider.nomad.checkgate`; the deployment is
        then failed, so Nomad reverts it), or when the job no longer runs ``release``
        (Nomad reverted it). ``watch`` sees the current allocations at every poll.
        Returns the job."""
        poll = seconds(self.config.poll_interval)
        seen: set[tuple[str, str, int]] = set()
        ours: object = None
        counter: FailureCounter | None = None
        while True:
            job = await self._job(api, iid)
            if job.get("Stop"):
                return job
            if release and (job.get("Meta") or {}).get(RELEASE) != release:
                if evidence is not None and not evidence:
                    for alloc in await self._allocs(api, iid):
                        if ours is not None and alloc.get("JobVersion") == ours:
                            results = await self._checks(api, str(alloc["ID"]))
                            evidence.extend(probe_results(results, alloc_replica(alloc)))
                deps = await api.get(f"/v1/job/{job_id(iid)}/deployments") or []
                why = next(
                    (
                        str(d.get("StatusDescription", ""))
                        for d in deps
                        if d.get("Status") == "failed"
                    ),
                    "the deployment failed",
                )
                raise Failed("health gate", f"Nomad reverted the job: {why}")
            version = ours = job.get("Version")
            if counter is None:
                counter = FailureCounter(check_limits(request_from_job(job)))

            allocs = current_allocs(job, await self._allocs(api, iid))
            if watch is not None:
                await watch(allocs)

            if evidence is not None:
                await self._gather(api, allocs, evidence, seen, None)
            failed = [a for a in allocs if a.get("ClientStatus") == "failed"]
            if failed:
                reason = task_failure(failed) or "an allocation failed"
                raise Failed(step, self._with_volume_hint(job, reason))
            if len(allocs) < int(job["TaskGroups"][0].get("Count", 1)):
                evals = await api.get(f"/v1/job/{job_id(iid)}/evaluations") or []
                blocked = volume_placement_failure(evals, job)
                if blocked:
                    raise Failed(step, self._with_volume_hint(job, blocked))
            dep = await api.get(f"/v1/job/{job_id(iid)}/deployment")
            ours_dep = isinstance(dep, dict) and dep.get("JobVersion") == version
            if ours_dep and isinstance(dep, dict):
                if dep.get("Status") == "successful":
                    if watch is not None:
                        await watch(current_allocs(job, await self._allocs(api, iid)))
                    return job
                if dep.get("Status") in ("failed", "cancelled"):
                    reason = task_failure(allocs) or str(dep.get("StatusDescription", ""))
                    raise Failed(step, reason)
            tripped = await self._count_failures(api, allocs, counter, evidence)
            if tripped is not None:
                if ours_dep and isinstance(dep, dict) and dep.get("Status") == "running":
                    await self._fail_deployment(api, str(dep["ID"]))
                raise Failed(step, str(tripped), evidence or ())
            await asyncio.sleep(poll)

    def _with_volume_hint(self, job: JSON, reason: str) -> str:
        """``reason``, followed by what to configure when it is about a volume."""
        if "volume" not in reason.lower():
            return reason
        hint = volume_hint(request_from_job(job), self.config)
        return f"{reason}. {hint}" if hint else reason

    async def _count_failures(
        self,
        api: NomadClient,
        allocs: Sequence[JSON],
        counter: FailureCounter,
        evidence: list[ProbeResult] | None,
    ) -> Tripped | None:
        """Feed the check results of the running ``allocs`` to ``counter``; the first
        check that failed its ``retries``, with its result added to ``evidence``."""
        if not counter.limits:
            return None
        for alloc in allocs:
            if alloc.get("ClientStatus") != "running":
                continue
            results = await self._checks(api, str(alloc["ID"]))
            tripped = counter.feed(str(alloc["ID"]), results)
            if tripped is not None:
                if evidence is not None:
                    evidence.extend(
                        r
                        for r in probe_results(results, alloc_replica(alloc))
                        if not r.healthy and r not in evidence
                    )
                return tripped
        return None

    async def _wait_stopped(self, api: NomadClient, iid: str) -> None:
        poll = seconds(self.config.poll_interval)
        while True:
            allocs = await self._allocs(api, iid)
            if all(a.get("ClientStatus") not in ("running", "pending") for a in allocs):
                return
            await asyncio.sleep(poll)

    async def _bounded(self, work: Awaitable[T], limit: timedelta, what: str) -> T:
        try:
            async with asyncio.timeout(seconds(limit)):
                return await work
        except TimeoutError:
            raise OperationTimeout(what, seconds(limit)) from None

    async def _settle(self, api: NomadClient, iid: str, step: str) -> None:
        try:
            await self._wait_version(api, iid, step)
        except Failed as exc:
            raise BackendError(f"{step} of {iid!r} failed: {exc.reason}", backend=BACKEND) from None

    async def _purge(self, api: NomadClient, iid: str) -> None:
        with contextlib.suppress(NotFound):
            await api.delete(f"/v1/job/{job_id(iid)}", purge="true")
        prefix = f"{self.config.variables_prefix}/{job_id(iid)}/"
        for var in await api.get("/v1/vars", prefix=prefix) or []:
            await api.delete(f"/v1/var/{var['Path']}")

    async def _versions(self, api: NomadClient, iid: str) -> list[JSON]:
        """The job versions the server retains (newest first)."""
        found = await api.get(f"/v1/job/{job_id(iid)}/versions")
        return list((found or {}).get("Versions") or [])

    async def _history(self, api: NomadClient, iid: str) -> list[tuple[Release, int]]:
        job = await self._job(api, iid)
        versions = await self._versions(api, iid)
        live = str((job.get("Meta") or {}).get(RELEASE, ""))
        return releases_from_versions(versions, live, self.config.release_history)

    async def _gather(
        self,
        api: NomadClient,
        allocs: Sequence[JSON],
        evidence: list[ProbeResult],
        seen: set[tuple[str, str, int]],
        events: Subscriber | None,
    ) -> list[ProbeResult]:
        """Check results of ``allocs`` not seen before (added to ``evidence``)."""
        fresh: list[ProbeResult] = []
        for alloc in allocs:
            results = await self._checks(api, str(alloc["ID"]))
            for probe in probe_results(results, alloc_replica(alloc)):
                key = (str(alloc["ID"]), probe.target, int(probe.at.timestamp()))
                if key not in seen:
                    seen.add(key)
                    fresh.append(probe)
                    evidence.append(probe)
                    await emit(events, ProbeObserved(instance_id=str(alloc["JobID"]), result=probe))
        return fresh

    async def _fail_deployment(self, api: NomadClient, dep: str) -> None:
        """Mark a deployment failed (Nomad then auto-reverts); already terminal is fine."""
        try:
            await api.post(f"/v1/deployment/fail/{dep}", {"DeploymentID": dep})
        except BackendError as exc:
            if exc.status != 400:
                raise

    async def _restore(self, api: NomadClient, previous: JSON) -> str:
        """Register ``previous`` again without canaries (a no-op if Nomad's auto-revert
        already did) and wait until it is healthy again.

        Returns ``""`` when the previous version runs healthy again, else why restoring
        it failed (its deployment failed, the ``deploy_timeout`` passed, or the agent
        refused the registration); never raises for those, so the caller can report the
        deploy's own failure together with the restore's."""
        body = resubmittable(previous)
        body["Update"] = {**(body.get("Update") or {}), "Canary": 0}
        iid = str((previous.get("Meta") or {}).get("ctrlplane_instance_id", previous["ID"]))
        try:
            await api.put("/v1/jobs", {"Job": body})
            await self._bounded(
                self._wait_version(api, iid, "restore"), self.config.deploy_timeout, "restore"
            )
        except Failed as exc:
            return exc.reason
        except CtrlplaneError as exc:
            return str(exc)
        return ""
