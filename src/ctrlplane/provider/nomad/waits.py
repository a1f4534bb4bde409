"""Waiting on a job version (I/O): until its deployment succeeds, or its allocations stop.

:func:`wait_version` is the gate of every operation that registers a version
(provision, deploy, rollback, start, scale): it polls the job, its current allocations,
their check results and the deployment, and fails fast (:class:`RolloutFailed`) on a
failed allocation, a failed deployment, a revert by Nomad, a check failing its
``retries`` in a row (:class:`~ctrlplane.provider.nomad.observe.checks.FailureCounter`;
the deployment is then failed, so Nomad reverts), or allocations the scheduler cannot
place for a missing volume (saying what to configure). The caller bounds it with a
:class:`~ctrlplane.provider.deadlines.Deadline`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from ctrlplane.errors import BackendError
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.events import ProbeObserved, Subscriber, emit
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.config import BACKEND
from ctrlplane.provider.nomad.context import NomadContext
from ctrlplane.provider.nomad.observe.allocations import alloc_replica, running, task_failure
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
from ctrlplane.provider.nomad.observe.placement import (
    volume_placement_failure,
    with_volume_hint,
)

__all__ = [
    "AllocWatcher",
    "count_failures",
    "gather_probes",
    "settle",
    "wait_stopped",
    "wait_version",
]

AllocWatcher = Callable[[list[JSON]], Awaitable[None]]
"""Sees the current allocations at every poll of a wait (progress reporting)."""


async def wait_version(
    ctx: NomadContext,
    iid: str,
    step: str,
    evidence: list[ProbeResult] | None = None,
    *,
    release: str = "",
    watch: AllocWatcher | None = None,
) -> JSON:
    """Wait until the current job version's deployment succeeds (or the job is stopped);
    returns the job. :class:`RolloutFailed` at ``step`` when it (or one of its
    allocations) fails, when a check fails its ``retries`` in a row, when allocations
    cannot be placed for a missing volume, or (step ``health gate``) when the job no
    longer runs ``release`` (Nomad reverted it). Check results seen are added to
    ``evidence``; ``watch`` sees the current allocations at every poll."""
    poll = seconds(ctx.config.poll_interval)
    seen: set[tuple[str, str, int]] = set()
    ours: object = None
    counter: FailureCounter | None = None
    while True:
        job = await jobs.read_job(ctx, iid)
        if job.get("Stop"):
            return job
        if release and live_release(job) != release:
            if evidence is not None and not evidence and ours is not None:
                for alloc in await jobs.allocations(ctx, iid):
                    if alloc.get("JobVersion") == ours:
                        found = await jobs.checks(ctx, str(alloc["ID"]))
                        evidence.extend(probe_results(found, alloc_replica(alloc)))
            why = revert_reason(await jobs.deployments(ctx, iid))
            raise RolloutFailed("health gate", f"Nomad reverted the job: {why}")
        version = ours = job.get("Version")
        if counter is None:
            counter = FailureCounter(check_limits(request_from_job(job)))
        allocs = await jobs.current(ctx, iid, job)
        if watch is not None:
            await watch(allocs)
        if evidence is not None:
            await gather_probes(ctx, allocs, evidence, seen, None)
        failed = failed_allocs(allocs)
        if failed:
            reason = task_failure(failed) or "an allocation failed"
            raise RolloutFailed(step, with_volume_hint(reason, request_from_job(job), ctx.config))
        if len(allocs) < int(job["TaskGroups"][0].get("Count", 1)):
            blocked = volume_placement_failure(await jobs.evaluations(ctx, iid), job)
            if blocked:
                req = request_from_job(job)
                raise RolloutFailed(step, with_volume_hint(blocked, req, ctx.config))
        dep = deployment_of(await jobs.deployment(ctx, iid), version)
        if dep is not None and dep.get("Status") == "successful":
            if watch is not None:
                await watch(await jobs.current(ctx, iid, job))
            return job
        if dep is not None and dep.get("Status") in ENDED:
            raise RolloutFailed(step, task_failure(allocs) or str(dep.get("StatusDescription", "")))
        tripped = await count_failures(ctx, allocs, counter, evidence)
        if tripped is not None:
            if dep is not None and dep.get("Status") == "running":
                await jobs.fail_deployment(ctx, str(dep["ID"]))
            raise RolloutFailed(step, str(tripped), evidence or ())
        await asyncio.sleep(poll)


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


async def settle(ctx: NomadContext, iid: str, step: str) -> None:
    """:func:`wait_version` for an operation that is not a rollout (start, scale): its
    failure is a :class:`~ctrlplane.errors.BackendError` naming ``step``."""
    try:
        await wait_version(ctx, iid, step)
    except RolloutFailed as exc:
        raise BackendError(f"{step} of {iid!r} failed: {exc.reason}", backend=BACKEND) from None
