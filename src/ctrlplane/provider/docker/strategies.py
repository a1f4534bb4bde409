"""How deploys roll out on Docker: loops over the unit primitives of
:class:`~ctrlplane.provider.docker.replacement.UnitReplacement`.

- ``rolling`` (:func:`roll_units`): unit by unit (``max_unavailable`` at a time in place,
  or ``max_surge`` at a time beside the old version, which keeps serving until the new
  one passed its gate, then is switched and retired); each new unit is gated by the
  changed services' health checks before the next is touched.
- ``canary`` (:func:`roll_units` too): the same, but after the first
  :func:`canary_count` units they are watched for ``canary_observation`` (they must keep
  running and keep passing their probes) before the rest are promoted.
- ``blue-green`` (:func:`blue_green`): the whole new set starts beside the old one
  without the service names, every unit is gated, then every unit's names move to it at
  once and the old set is retired after ``blue_green_retire_delay``.

A failure, a failed gate or observation, a cancellation or the progress deadline undoes
every touched unit and raises :class:`~ctrlplane.errors.DeployFailed` with the evidence
(a cancellation re-raises); a successful rollout records the release.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import NoReturn

from ctrlplane.errors import BackendError, CtrlplaneError, DeployFailed
from ctrlplane.provider.deadlines import Deadline, finish, first_error, seconds
from ctrlplane.provider.docker.config import BACKEND, DockerConfig
from ctrlplane.provider.docker.gate import DEFAULT_POLICY, OnProbe
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.docker.replacement import UnitReplacement
from ctrlplane.provider.enums import DeployStrategy, ServiceRole, WorkloadKind
from ctrlplane.provider.events import (
    ProbeObserved,
    RolledBack,
    StepTracker,
    TrafficSwitched,
    UnitStarted,
    emit,
)
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.releases import Release

__all__ = ["batch_size", "blue_green", "can_surge", "canary_count", "roll_units"]


def canary_count(config: DockerConfig, units: int) -> int:
    """How many of ``units`` units get the new version first in a canary deploy:
    ``canary_fraction`` of them (rounded up) when set, else ``canary_units``; at least
    one and at most all."""
    fraction = config.canary_fraction
    count = math.ceil(units * fraction) if fraction else config.canary_units
    return max(1, min(count, units))


def batch_size(config: DockerConfig, surge: bool) -> int:
    """How many units a rolling step replaces at once: ``max_surge`` beside the old
    ones when surging, else ``max_unavailable`` in place (at least one)."""
    return max(config.max_surge if surge else config.max_unavailable, 1)


def can_surge(config: DockerConfig, wl: Workload, names: Sequence[str]) -> bool:
    """Whether units can get their new version beside the old (``max_surge`` > 0): a
    deployment without fixed host ports whose namespace owner is replaced and whose
    inits are not."""
    return (
        config.max_surge > 0
        and wl.kind is WorkloadKind.DEPLOYMENT
        and wl.owner in names
        and not any(wl.is_init(n) for n in names)
        and not any(p.host for s in wl.services for p in s.ports)
    )


def _chunks(units: Sequence[int], size: int) -> list[list[int]]:
    return [list(units[i : i + size]) for i in range(0, len(units), size)]


def _batch_step(batch: Sequence[int]) -> str:
    """The progress step name of replacing ``batch`` (``replace-unit-0``,
    ``replace-units-0-1``)."""
    if len(batch) == 1:
        return f"replace-unit-{batch[0]}"
    return "replace-units-" + "-".join(str(r) for r in batch)


def _units_text(batch: Sequence[int]) -> str:
    if len(batch) == 1:
        return f"unit {batch[0]}"
    return "units " + ", ".join(str(r) for r in batch)


def _failure(err: BaseException, step: str, deadline: Deadline) -> tuple[str, str]:
    """The ``(step, reason)`` a rollout that ended with ``err`` at ``step`` reports: a
    failed step's own step and reason, ``cancelled``, a passed progress ``deadline``, or
    the error's message."""
    if isinstance(err, RolloutFailed):
        return err.step, err.reason
    if isinstance(err, asyncio.CancelledError):
        return step, "cancelled"
    if isinstance(err, TimeoutError) and deadline.expired():
        limit = deadline.seconds
        return step, f"the deploy did not finish within its progress deadline ({limit:g}s)"
    return step, str(err)


async def _abort(
    units: UnitReplacement,
    err: BaseException,
    strategy: DeployStrategy,
    failed: tuple[str, str],
    evidence: list[ProbeResult],
    unrestored: str,
) -> NoReturn:
    """Report a failed rollout: ``RolledBack`` when the previous version is back, then
    re-raise a cancellation or raise :class:`DeployFailed` (``rolled_back`` false, with
    why, when ``unrestored`` says restoring failed)."""
    step, reason = failed
    iid = units.old.instance_id
    if not unrestored:
        rolled = RolledBack(instance_id=iid, to_release=units.old.release_id, reason=reason)
        await emit(units.events, rolled)
    if isinstance(err, asyncio.CancelledError):
        raise err
    if unrestored:
        reason = f"{reason}; restoring the previous release failed: {unrestored}"
    raise DeployFailed(
        iid,
        strategy=str(strategy),
        step=step,
        reason=reason,
        evidence=evidence,
        rolled_back=not unrestored,
    ) from None


def _reporter(units: UnitReplacement) -> OnProbe:
    async def probed(result: ProbeResult) -> None:
        await emit(units.events, ProbeObserved(instance_id=units.new.instance_id, result=result))

    return probed


async def _started(units: UnitReplacement, replica: int) -> None:
    """A ``UnitStarted`` per replaced service of ``replica``'s new version."""
    for name in units.names:
        event = UnitStarted(
            instance_id=units.new.instance_id,
            service=name,
            replica=replica,
            release_id=units.new.release_id,
        )
        await emit(units.events, event)


async def roll_units(
    units: UnitReplacement,
    replicas: Sequence[int],
    release: Release,
    *,
    strategy: DeployStrategy,
    deadline: Deadline,
) -> None:
    """Roll ``units``' new version over ``replicas`` (rolling, or canary), gated, within
    ``deadline``; then record ``release``. See the module docstring."""
    config = units.ctx.config
    probed = _reporter(units)
    surge = can_surge(config, units.old, units.names)
    count = canary_count(config, len(replicas))
    head = list(replicas[:count]) if strategy is DeployStrategy.CANARY else []
    size = batch_size(config, surge)
    batches = [*_chunks(head, size), *_chunks(replicas[len(head) :], size)]
    touched: list[int] = []
    pending: list[int] = []  # units started beside whose old version still runs
    step = ""
    evidence: list[ProbeResult] = []
    steps = StepTracker(units.new.instance_id, units.events)
    try:
        async with deadline.timeout():
            for batch in batches:
                touched += batch
                step = f"replace {_units_text(batch)}"
                evidence = []
                await steps.enter(_batch_step(batch), ", ".join(units.names))
                async with asyncio.TaskGroup() as tg:
                    for r in batch:
                        if surge:
                            pending.append(r)
                            tg.create_task(units.start_beside(r))
                        else:
                            tg.create_task(units.start_in_place(r))
                for r in batch:
                    await _started(units, r)
                step = f"health gate of {_units_text(batch)}"
                async with asyncio.TaskGroup() as tg:
                    gates = [tg.create_task(units.gate(r, probed)) for r in batch]
                for gate in gates:
                    outcome = gate.result()
                    if outcome is not None and not outcome.passed:
                        evidence = outcome.results
                        reason = f"health gate failed: {outcome.reason}"
                        raise RolloutFailed(step, reason, outcome.results)
                if pending:
                    step = f"switch {_units_text(batch)} to the new version"
                    for r in batch:
                        await units.switch(r)
                    step = f"retire the old version of {_units_text(batch)}"
                    async with asyncio.TaskGroup() as tg:
                        for r in batch:
                            tg.create_task(units.retire(r))
                    pending = []
                await steps.finish()
                if head and touched == head:
                    step = "canary observation"
                    await steps.enter("observe-canary", f"units {touched}")
                    evidence = await _observe_canary(units, touched, probed)
                    await steps.finish()
    except BaseException as exc:
        if isinstance(exc, RolloutFailed) and exc.evidence:
            evidence = exc.evidence
        unrestored = await units.undo(touched, pending)
        err = first_error(exc)
        failed = _failure(err, step, deadline)
        await steps.fail(failed[1])
        await _abort(units, err, strategy, failed, evidence, unrestored)
    await finish(units.record(release))


def _probe_interval(wl: Workload, changed: frozenset[str]) -> float:
    """Seconds between canary observation rounds: the shortest interval of the changed
    services' checks (the default without one)."""
    checked = [s for s in wl.services if s.name in changed and s.role is not ServiceRole.INIT]
    shortest = min(
        (seconds(s.health_check.interval) for s in checked if s.health_check),
        default=0.0,
    )
    return shortest or DEFAULT_POLICY.interval


async def _observe_canary(
    units: UnitReplacement, replicas: Sequence[int], probed: OnProbe
) -> list[ProbeResult]:
    """Watch canary ``replicas`` for ``canary_observation``, round after round; every
    probe result, or :class:`RolloutFailed` (with all results so far) at the first
    failure."""
    period = Deadline(units.ctx.config.canary_observation, "canary observation")
    interval = _probe_interval(units.new, units.changed)
    results: list[ProbeResult] = []
    while True:
        try:
            results += await units.observe_round(replicas, probed)
        except RolloutFailed as exc:
            raise RolloutFailed(exc.step, exc.reason, [*results, *exc.evidence]) from None
        if period.expired():
            return results
        await asyncio.sleep(min(interval, period.remaining()))


async def blue_green(
    units: UnitReplacement, replicas: Sequence[int], release: Release, *, deadline: Deadline
) -> None:
    """Start the whole new set beside the old one (not reachable by service name), gate
    every unit, switch the names of every unit to the new set at once, then retire the
    old set after ``blue_green_retire_delay``. Before the switch, any failure,
    cancellation or passing the ``deadline`` removes the new set (the old one never
    stopped serving). ``release`` is recorded right after the switch."""
    probed = _reporter(units)
    green: list[int] = []
    step = "start the new set"
    evidence: list[ProbeResult] = []
    steps = StepTracker(units.new.instance_id, units.events)
    try:
        async with deadline.timeout():
            await steps.enter("start-new-set")
            for r in replicas:
                green.append(r)
                await units.start_beside(r)
                await _started(units, r)
            for r in replicas:
                step = f"health gate of unit {r}"
                outcome = await units.gate(r, probed)
                if outcome is not None and not outcome.passed:
                    evidence = outcome.results
                    raise RolloutFailed(step, f"health gate failed: {outcome.reason}", evidence)
            step = "switch traffic"
            for r in replicas:
                await units.switch(r)
            await steps.finish()
    except BaseException as exc:
        unrestored = await units.undo(green, green)
        err = first_error(exc)
        failed = _failure(err, step, deadline)
        await steps.fail(failed[1])
        await _abort(units, err, DeployStrategy.BLUE_GREEN, failed, evidence, unrestored)
    # the switch's second half: the old set leaves the names and the new release is
    # recorded, then the old set is retired; this runs to the end even if the caller
    # is cancelled now (the new set is live)
    await finish(_finish_switch(units, replicas, release))


async def _finish_switch(units: UnitReplacement, replicas: Sequence[int], release: Release) -> None:
    """The new set is live: record it, take the names from the old set, wait
    ``blue_green_retire_delay``, retire the old set. Every unit is tried; failures are
    raised together at the end as a :class:`BackendError` (the new release stays live
    and recorded; a later deploy or ``deprovision`` removes what is left)."""
    config = units.ctx.config
    await units.record(release)
    problems: list[str] = []
    for r in replicas:
        try:
            await units.withdraw_old(r)
        except CtrlplaneError as exc:
            problems.append(f"unit {r}: taking the names from the old version: {exc}")
    await emit(
        units.events,
        TrafficSwitched(
            instance_id=units.old.instance_id,
            from_release=units.old.release_id,
            to_release=units.new.release_id,
        ),
    )
    await asyncio.sleep(seconds(max(config.blue_green_retire_delay, config.drain_period)))
    for r in replicas:
        try:
            await units.retire(r, withdrawn=True)
        except CtrlplaneError as exc:
            problems.append(f"unit {r}: retiring the old version: {exc}")
    if problems:
        raise BackendError(
            f"blue-green deploy of {units.old.instance_id!r}: release {units.new.release_id} "
            "is live, but the old set was not fully retired (" + "; ".join(problems) + "); "
            "the next deploy or deprovision removes what is left",
            backend=BACKEND,
        )
