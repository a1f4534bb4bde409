"""Waiting on a job version (I/O): until its deployment succeeds and its allocations stay
up, or until they stop.

:func:`wait_version` is the gate of every operation that registers a version
(provision, deploy, rollback, start, scale): it polls the job, its current allocations,
their check results and the deployment, and fails fast (:class:`RolloutFailed`) on a
failed allocation, a failed deployment, a revert by Nomad, a check failing its
``retries`` in a row (:class:`~ctrlplane.provider.nomad.observe.checks.FailureCounter`;
the deployment is then failed, so Nomad reverts), allocations the scheduler cannot
place for a reason that lasts (a missing volume, a reserved port taken, no node in the
datacenters: :func:`~ctrlplane.provider.nomad.observe.placement.placement_failure`), a
long-lived task that crashed since the operation began (restarted, or stopped running:
a restart policy never hides a crash), or, for jobs health-checked by ctrlplane's probes
(``health_check = "manual"``), an allocation the probes found unhealthy
(:class:`~ctrlplane.provider.nomad.probes.ProbeGate`, which reports each allocation's
health to the deployment). Once the deployment succeeded, the allocations must keep
running through ``stability_window`` with their restart counts unchanged
(:func:`stay_up`). The caller bounds it with a
:class:`~ctrlplane.provider.deadlines.Deadline`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from ctrlplane.errors import BackendError
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.events import ProbeObserved, Subscriber, emit
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.config import BACKEND
from ctrlplane.provider.nomad.context import NomadContext
from ctrlplane.provider.nomad.observe.allocations import (
    alloc_replica,
    crashes,
    restart_counts,
    running,
    task_failure,
)
from ctrlplane.provider.nomad.observe.checks import (
    FailureCounter,
    Tripped,
    check_limits,
    probe_results,
)
from ctrlplane.provider.nomad.observe.deployments import (
    ENDED,
    deployment_of,
    failed_allocs,
    revert_reason,
)
from ctrlplane.provider.nomad.observe.history import live_release, request_from_job
from ctrlplane.provider.nomad.observe.placement import placement_failure, with_volume_hint
from ctrlplane.provider.nomad.probes import ProbeGate
from ctrlplane.provider.nomad.render.shape import Health
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "AllocWatcher",
    "Baseline",
    "baseline",
    "count_failures",
    "gather_probes",
    "long_lived",
    "probed",
    "settle",
    "started_allocs",
    "stay_up",
    "wait_stopped",
    "wait_version",
]

AllocWatcher = Callable[[list[JSON]], Awaitable[None]]
"""Sees the current allocations at every poll of a wait (progress reporting)."""

Baseline = Mapping[tuple[str, str], int]
"""Restart counts per (allocation, task) when an operation began (see :func:`baseline`)."""


def long_lived(req: ProvisionRequest) -> set[str]:
    """The tasks that must keep running (every service but the inits)."""
    return {s.name for s in req.services if s.role is not ServiceRole.INIT}


def probed(job: Mapping[str, object]) -> bool:
    """Whether ``job``'s allocations are health-checked by ctrlplane's probes."""
    update = job.get("Update")
    return isinstance(update, Mapping) and update.get("HealthCheck") == str(Health.PROBES)


async def baseline(ctx: NomadContext, iid: str) -> dict[tuple[str, str], int]:
    """The restart counts of every allocation of the job now (before an operation)."""
    return restart_counts(await jobs.allocations(ctx, iid))


def started_allocs(allocs: Sequence[JSON], req: ProvisionRequest) -> list[JSON]:
    """The running ``allocs`` whose long-lived tasks have all started (one still
    starting has not crashed)."""
    names = long_lived(req)
    return [
        a
        for a in allocs
        if a.get("ClientStatus") == "running"
        and all(
            any(e.get("Type") == "Started" for e in (t or {}).get("Events") or [])
            for name, t in (a.get("TaskStates") or {}).items()
            if name in names
        )
    ]


async def wait_version(
    ctx: NomadContext,
    iid: str,
    step: str,
    evidence: list[ProbeResult] | None = None,
    *,
    release: str = "",
    watch: AllocWatcher | None = None,
    base: Baseline | None = None,
    events: Subscriber | None = None,
) -> JSON:
    """Wait until the current job version's deployment succeeds and its allocations stay
    up (or the job is stopped); returns the job. :class:`RolloutFailed` at ``step`` when
    it (or one of its allocations) fails, a check fails its ``retries`` in a row,
    allocations cannot be placed, a task crashed since ``base`` (restart counts when the
    operation began; allocations not in it start at 0), or (step ``health gate``) when
    the job no longer runs ``release`` (Nomad reverted it). Check results seen are added
    to ``evidence`` (and sent to ``events``); ``watch`` sees the current allocations at
    every poll."""
    poll = seconds(ctx.config.poll_interval)
    seen: set[tuple[str, str, int]] = set()
    ours: object = None
    counter: FailureCounter | None = None
    gate: ProbeGate | None = None
    base = base or {}
    try:
        while True:
            if gate is not None and gate.failure:
                raise RolloutFailed(step, gate.failure, gate.evidence)
            job = await jobs.read_job(ctx, iid)
            if job.get("Stop"):
                return job
            if release and live_release(job) != release:
                if gate is None and evidence is not None and not evidence and ours is not None:
                    for alloc in await jobs.allocations(ctx, iid):
                        if alloc.get("JobVersion") == ours:
                            found = await jobs.checks(ctx, str(alloc["ID"]))
                            evidence.extend(probe_results(found, alloc_replica(alloc)))
                why = revert_reason(await jobs.deployments(ctx, iid))
                raise RolloutFailed("health gate", f"Nomad reverted the job: {why}")
            version = ours = job.get("Version")
            req = request_from_job(job)
            if counter is None:
                counter = FailureCounter(check_limits(req))
            if gate is None and probed(job):
                results = evidence if evidence is not None else []
                gate = ProbeGate(ctx, req, iid, evidence=results, events=events)
            allocs = await jobs.current(ctx, iid, job)
            if watch is not None:
                await watch(allocs)
            if evidence is not None and gate is None:
                await gather_probes(ctx, allocs, evidence, seen, events)
            failed = failed_allocs(allocs)
            if failed:
                reason = task_failure(failed) or "an allocation failed"
                raise RolloutFailed(step, with_volume_hint(reason, req, ctx.config))
            crash = crashes(started_allocs(allocs, req), long_lived(req), base)
            if crash:
                await _fail_current(ctx, iid, version)
                raise RolloutFailed(step, crash)
            if len(allocs) < int(job["TaskGroups"][0].get("Count", 1)):
                blocked = placement_failure(await jobs.evaluations(ctx, iid), job)
                if blocked:
                    await _fail_current(ctx, iid, version)
                    raise RolloutFailed(step, with_volume_hint(blocked, req, ctx.config))
            dep = deployment_of(await jobs.deployment(ctx, iid), version)
            if dep is not None and dep.get("Status") == "successful":
                if watch is not None:
                    await watch(await jobs.current(ctx, iid, job))
                await stay_up(ctx, iid, job, step, base)
                return job
            if dep is not None and dep.get("Status") in ENDED:
                reason = task_failure(allocs) or str(dep.get("StatusDescription", ""))
                raise RolloutFailed(step, reason)
            if gate is not None and dep is not None and dep.get("Status") == "running":
                gate.poll(str(dep["ID"]), allocs)
            tripped = await count_failures(ctx, allocs, counter, evidence)
            if tripped is not None:
                if dep is not None and dep.get("Status") == "running":
                    await jobs.fail_deployment(ctx, str(dep["ID"]))
                raise RolloutFailed(step, str(tripped), evidence or ())
            await asyncio.sleep(poll)
    finally:
        if gate is not None:
            await gate.close()


async def _fail_current(ctx: NomadContext, iid: str, version: object) -> None:
    """Fail the running deployment of job ``version`` (Nomad then reverts to the last
    stable version), so nothing keeps rolling after the wait gave up."""
    dep = deployment_of(await jobs.deployment(ctx, iid), version)
    if dep is not None and dep.get("Status") == "running":
        await jobs.fail_deployment(ctx, str(dep["ID"]))


async def stay_up(
    ctx: NomadContext, iid: str, job: JSON, step: str, base: Baseline | None = None
) -> None:
    """The current allocations of ``job`` keep running through ``stability_window`` with
    their restart counts unchanged since ``base``; :class:`RolloutFailed` at ``step``
    naming the crash otherwise (the version, which Nomad marked stable, is marked
    unstable again: Nomad must never revert to it, and it is no release to list)."""
    window = seconds(ctx.config.stability_window)
    poll = seconds(ctx.config.poll_interval)
    req = request_from_job(job)
    end = time.monotonic() + window
    while True:
        allocs = await jobs.current(ctx, iid, job)
        crash = crashes(running(allocs), long_lived(req), base or {})
        failed = failed_allocs(allocs)
        if failed:
            crash = task_failure(failed) or "an allocation failed"
        if crash:
            await jobs.set_stable(ctx, iid, int(job.get("Version", 0)), False)
            raise RolloutFailed(step, f"did not stay up for {window:g}s: {crash}")
        if time.monotonic() >= end:
            return
        await asyncio.sleep(min(poll, max(0.0, end - time.monotonic())))


async def count_failures(
    ctx: NomadContext,
    allocs: Sequence[JSON],
    counter: FailureCounter,
    evidence: list[ProbeResult] | None,
) -> Tripped | None:
    """Feed the check results of the running ``allocs`` to ``counter``; the first check
    that failed its ``retries``, with its failing results added to ``evidence``."""
    if not counter.limits:
        return None
    for alloc in running(allocs):
        results = await jobs.checks(ctx, str(alloc["ID"]))
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


async def gather_probes(
    ctx: NomadContext,
    allocs: Sequence[JSON],
    evidence: list[ProbeResult],
    seen: set[tuple[str, str, int]],
    events: Subscriber | None,
) -> None:
    """Add the check results of ``allocs`` not ``seen`` before to ``evidence``, each
    reported as a ``ProbeObserved`` event."""
    for alloc in allocs:
        results = await jobs.checks(ctx, str(alloc["ID"]))
        for probe in probe_results(results, alloc_replica(alloc)):
            key = (str(alloc["ID"]), probe.target, int(probe.at.timestamp()))
            if key not in seen:
                seen.add(key)
                evidence.append(probe)
                await emit(events, ProbeObserved(instance_id=str(alloc["JobID"]), result=probe))


async def wait_stopped(ctx: NomadContext, iid: str) -> None:
    """Wait until no allocation of the job runs or is pending."""
    poll = seconds(ctx.config.poll_interval)
    while True:
        allocs = await jobs.allocations(ctx, iid)
        if all(a.get("ClientStatus") not in ("running", "pending") for a in allocs):
            return
        await asyncio.sleep(poll)


async def settle(ctx: NomadContext, iid: str, step: str, base: Baseline | None = None) -> None:
    """:func:`wait_version` for an operation that is not a rollout (start, scale): its
    failure is a :class:`~ctrlplane.errors.BackendError` naming ``step``."""
    try:
        await wait_version(ctx, iid, step, base=base)
    except RolloutFailed as exc:
        raise BackendError(f"{step} of {iid!r} failed: {exc.reason}", backend=BACKEND) from None
