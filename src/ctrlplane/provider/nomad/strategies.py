"""How deploys roll out on Nomad: its native deployments, gated by the service checks.

- ``rolling``: the update stanza replaces ``max_parallel`` allocations at a time, each
  healthy before the next (:func:`~ctrlplane.provider.nomad.waits.wait_version`);
- ``canary``: ``canary_count`` canaries beside the old allocations, gated and observed
  (:func:`gate_canaries`), then promoted; the rest roll;
- ``blue-green``: as many canaries as allocations (a full new set); the promotion is the
  switch (``TrafficSwitched``), and stops the old set at once.

Gates are the service checks (Consul's or Nomad's native ones), or, where the agent
has no check provider for them, ctrlplane's own probes
(:class:`~ctrlplane.provider.nomad.probes.ProbeGate`, reporting allocation health to the
deployment); canaries under observation must keep passing and keep running (a crash is
a failure). Before registering, the operation records its intent in the lease
(``phase`` ``roll out``, the release and the previous one), so an interrupted deploy is
repaired by the next call (:mod:`~ctrlplane.provider.nomad.repair`).

A failed gate, a failed allocation, the deadline or cancellation fails the deployment,
restores the previous version (:func:`restore`, run to its end even if the caller is
cancelled) and raises :class:`~ctrlplane.errors.DeployFailed` with the check results seen
as evidence; ``rolled_back`` is false, and the reason says why, when restoring failed too.
An agent lost meanwhile raises :class:`~ctrlplane.errors.BackendUnavailable` (what the
restore left is added to its message).
"""

from __future__ import annotations

import asyncio

from ctrlplane.errors import BackendError, BackendUnavailable, CtrlplaneError, DeployFailed
from ctrlplane.provider.deadlines import Deadline, bounded, finish, seconds
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.events import RolledBack, Subscriber, TrafficSwitched, emit
from ctrlplane.provider.failures import RolloutFailed, describe_failure
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.config import NomadConfig
from ctrlplane.provider.nomad.context import NomadContext, shape_for
from ctrlplane.provider.nomad.limits import canary_refusals
from ctrlplane.provider.nomad.observe.allocations import crashes, task_failure
from ctrlplane.provider.nomad.observe.checks import FailureCounter, check_limits, probe_results
from ctrlplane.provider.nomad.observe.deployments import ENDED, canaries, healthy, unhealthy
from ctrlplane.provider.nomad.observe.history import created_at, live_release, request_from_job
from ctrlplane.provider.nomad.observe.placement import placement_failure
from ctrlplane.provider.nomad.probes import ProbeGate
from ctrlplane.provider.nomad.render import ReleaseMeta, translate, without_canaries
from ctrlplane.provider.nomad.waits import (
    baseline,
    count_failures,
    gather_probes,
    long_lived,
    probed,
    started_allocs,
    wait_version,
)
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["canary_count", "gate_canaries", "promote", "restore", "roll_out"]


def canary_count(cfg: NomadConfig, strategy: DeployStrategy, replicas: int) -> int:
    """Canaries a deploy places: ``canary_count`` (at most every replica) for canary,
    every replica for blue-green, none for rolling."""
    if strategy is DeployStrategy.CANARY:
        return min(cfg.canary_count, replicas)
    if strategy is DeployStrategy.BLUE_GREEN:
        return replicas
    return 0


async def roll_out(
    ctx: NomadContext,
    op: Operation,
    previous: JSON,
    new: ProvisionRequest,
    release: ReleaseMeta,
    strategy: DeployStrategy,
) -> None:
    """Register ``new`` as ``release`` with ``strategy`` and wait until it is healthy,
    within ``deploy_timeout``; on failure restore ``previous`` (the live job version)
    and raise :class:`DeployFailed` (see the module docs). Steps: ``register``, ``gate
    canaries`` and ``promote`` (canary, blue-green), ``rollout``."""
    iid = new.instance_id
    count = canary_count(ctx.config, strategy, max(new.main.resources.replicas, 1))
    ctx.preflight.refuse(canary_refusals(new, count))
    shape = await shape_for(ctx, new)
    job = translate(
        new, release, ctx.config, canary=count, created=created_at(previous), shape=shape
    )
    evidence: list[ProbeResult] = []
    steps = op.steps
    events = op.events
    live = live_release(previous)
    deadline = Deadline(ctx.config.deploy_timeout, "deploy")
    step = "register"
    try:
        async with deadline.timeout():
            base = await baseline(ctx, iid)
            await op.note(
                phase="roll out",
                release_id=release.release_id,
                previous_release=live,
                previous_version=str(previous.get("Version", "")),
            )
            await steps.enter(step, release.release_id)
            await jobs.register(ctx, job)
            if count:
                step = "gate canaries"
                await steps.enter(step, f"{count} canaries")
                dep = await gate_canaries(ctx, iid, release.release_id, count, evidence, events)
                step = "promote"
                await steps.enter(step)
                await promote(ctx, dep)
                if strategy is DeployStrategy.BLUE_GREEN:
                    # Promotion is the switch: Nomad moves the service registrations
                    # to the new set and stops the old one (no retire delay).
                    switched = TrafficSwitched(
                        instance_id=iid, from_release=live, to_release=release.release_id
                    )
                    await emit(events, switched)
            step = "rollout"
            await steps.enter(step, str(strategy))
            await wait_version(
                ctx, iid, step, evidence, release=release.release_id, base=base, events=events
            )
            await steps.finish()
    except BaseException as exc:
        timed_out = isinstance(exc, TimeoutError)
        await steps.fail(describe_failure(deadline.exceeded() if timed_out else exc))
        restore_error = await finish(restore(ctx, iid, previous))
        if isinstance(exc, BackendUnavailable):
            left = f"restoring the previous release {live!r} also failed: {restore_error}"
            exc.message += f"; {left}" if restore_error else f"; {live!r} was restored"
            raise
        if isinstance(exc, RolloutFailed):
            reason = exc.reason
        elif timed_out:
            reason = f"timed out after {deadline.seconds:g}s"
        else:
            reason = describe_failure(exc)
        if restore_error:
            reason += f"; restoring the previous release {live!r} also failed: {restore_error}"
        else:
            await emit(events, RolledBack(instance_id=iid, to_release=live, reason=reason))
        gated = timed_out or isinstance(exc, RolloutFailed)
        if not isinstance(exc, Exception) or not (gated or restore_error):
            raise
        gate_failed = isinstance(exc, RolloutFailed)
        failing = [r for r in evidence if not r.healthy] or evidence
        raise DeployFailed(
            iid,
            strategy=str(strategy),
            step=exc.step if isinstance(exc, RolloutFailed) else step,
            reason=reason,
            evidence=failing if gate_failed else evidence,
            rolled_back=not restore_error,
        ) from (exc if isinstance(exc, CtrlplaneError) else None)


async def promote(ctx: NomadContext, dep: str) -> None:
    """Promote the canaries of ``dep``; Nomad's refusal (the deployment ended meanwhile,
    a canary is no longer healthy: a 500) is a :class:`RolloutFailed`."""
    try:
        await jobs.promote(ctx, dep)
    except BackendError as exc:
        if isinstance(exc, BackendUnavailable) or exc.status != 500:
            raise
        raise RolloutFailed("promote", f"Nomad refused the promotion: {exc}") from None


async def gate_canaries(
    ctx: NomadContext,
    iid: str,
    release: str,
    count: int,
    evidence: list[ProbeResult],
    events: Subscriber | None,
) -> str:
    """Wait until ``count`` canaries of ``release`` are healthy and stay so for
    ``canary_observation``; returns the deployment's ID. :class:`RolloutFailed` (the
    deployment failed first, so Nomad reverts) when Nomad or ctrlplane's probes find a
    canary unhealthy, a canary's check fails its ``retries`` in a row, a canary crashes,
    the canaries cannot be placed, or the job changed meanwhile."""
    poll = seconds(ctx.config.poll_interval)
    seen: set[tuple[str, str, int]] = set()
    observed: Deadline | None = None  # from the first poll the canaries all passed
    counter: FailureCounter | None = None
    gate: ProbeGate | None = None
    dep: JSON | None = None

    async def failed(phase: str, reason: str) -> RolloutFailed:
        if dep is not None and dep.get("Status") == "running":
            await jobs.fail_deployment(ctx, str(dep["ID"]))
        return RolloutFailed(phase, reason, [r for r in evidence if not r.healthy])

    try:
        while True:
            phase = "observe canaries" if observed is not None else "gate canaries"
            if gate is not None and gate.failure:
                raise await failed(phase, f"a canary is unhealthy: {gate.failure}")
            job = await jobs.read_job(ctx, iid)
            if live_release(job) != release:
                raise RolloutFailed("gate canaries", "the job was changed or reverted meanwhile")
            req = request_from_job(job)
            if counter is None:
                counter = FailureCounter(check_limits(req))
            if gate is None and probed(job):
                gate = ProbeGate(ctx, req, iid, evidence=evidence, events=events)
            dep = await jobs.deployment(ctx, iid)
            allocs = canaries(job, await jobs.allocations(ctx, iid))
            if gate is None:
                await gather_probes(ctx, allocs, evidence, seen, events)
            broken = unhealthy(allocs)
            if (
                broken
                or dep is None
                or dep.get("JobVersion") != job.get("Version")
                or dep.get("Status") in ENDED
            ):
                raise await failed(
                    "gate canaries", task_failure(broken) or "a canary failed its health checks"
                )
            crash = crashes(started_allocs(allocs, req), long_lived(req), {})
            if crash:
                raise await failed(phase, f"a canary crashed: {crash}")
            if len(allocs) < count:
                blocked = placement_failure(await jobs.evaluations(ctx, iid), job)
                if blocked:
                    raise await failed("gate canaries", blocked)
            tripped = await count_failures(ctx, allocs, counter, evidence)
            if tripped is not None:
                raise await failed(phase, f"a canary is unhealthy: {tripped}")
            ready = healthy(allocs)
            passing = True
            if gate is not None:
                gate.poll(str(dep["ID"]), allocs)
                if len(ready) >= count:
                    gate.watch(ready)
            else:
                for alloc in ready:
                    results = probe_results(await jobs.checks(ctx, str(alloc["ID"])), 0)
                    passing = passing and all(r.healthy for r in results)
            if len(ready) >= count and passing:
                observed = observed or Deadline(ctx.config.canary_observation, "observe canaries")
                if observed.expired():
                    return str(dep["ID"])
            else:
                observed = None  # observed again from the next passing poll
            await asyncio.sleep(poll)
    finally:
        if gate is not None:
            await gate.close()


async def restore(ctx: NomadContext, iid: str, previous: JSON) -> str:
    """Register ``previous`` (a version of ``iid``'s job) again without canaries (a
    no-op if Nomad's auto-revert already did) and wait until it is healthy again, within
    ``deploy_timeout``.

    Returns ``""`` when the previous version runs healthy again, else why restoring it
    failed (its deployment failed, the deadline passed, or the agent refused it); never
    raises for those, so the caller can report the deploy's own failure with it."""
    try:
        await jobs.register(ctx, without_canaries(previous))
        await bounded(wait_version(ctx, iid, "restore"), ctx.config.deploy_timeout, "restore")
    except RolloutFailed as exc:
        return exc.reason
    except CtrlplaneError as exc:
        return str(exc)
    return ""
