"""The rollout engine: gated rolling, canary and blue-green deploys over backend primitives.

A backend without a native equivalent of these strategies (Docker, the fake, the next
cloud backends) implements :class:`UnitPrimitives` for one planned release (start a unit's
new version beside the old one or in its place, gate it, observe it, switch its traffic,
withdraw and retire the old version, undo, record) and hands them to :func:`roll_out`
with a :class:`RolloutShape` (which units, how many at a time, the canary head, timing).
The engine owns everything strategies have in common:

- **rolling**: the units in batches of ``batch``; each batch's new versions start
  together (beside the old ones when ``beside``, else in place), then every one is gated;
  beside, each new version then takes its unit's traffic and the old one is retired.
- **canary**: the same, with the first ``canary`` units as the head; after the head the
  canary is observed (one :meth:`~UnitPrimitives.observe` round per ``interval``, for
  ``observation`` seconds) before the rest roll.
- **blue-green**: every unit's new version starts beside the old set (not serving), every
  one is gated, then the traffic of every unit switches at once; the release is recorded,
  the old set withdrawn (``TrafficSwitched``), and after ``retire_delay`` retired. The part
  after the switch runs to its end even if the caller is cancelled (the new set is live).
- **failure**: a failed gate or observation (evidence kept), a failed step, the progress
  deadline or a cancellation undoes every touched unit (:meth:`~UnitPrimitives.undo`, run
  to its end even if cancelled again), reports ``RolledBack`` when the previous release is
  back, then re-raises a cancellation, raises :class:`~ctrlplane.errors.BackendUnavailable`
  when the engine was lost, or :class:`~ctrlplane.errors.DeployFailed` with the step, the
  reason and the evidence (``rolled_back`` false, with why, when the undo failed).
- **events**: step pairs through :class:`~ctrlplane.provider.events.StepTracker`
  (``replace-unit-0``, ``replace-units-0-1``, ``observe-canary``, ``start-new-set``), a
  ``UnitStarted`` per service of each started unit, ``ProbeObserved`` for every probe, a
  ``UnitRemoved`` per service of each retired unit, ``TrafficSwitched`` once the release
  serves (at a blue-green switch, after the last unit of a rolling or canary deploy),
  ``RolledBack``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, Protocol

from ctrlplane.errors import BackendError, BackendUnavailable, CtrlplaneError, DeployFailed
from ctrlplane.provider.deadlines import Deadline, finish, first_error
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.events import (
    ProbeObserved,
    RolledBack,
    StepTracker,
    Subscriber,
    TrafficSwitched,
    UnitRemoved,
    UnitStarted,
    emit,
)
from ctrlplane.provider.failures import RolloutFailed, engine_lost
from ctrlplane.provider.health import GateOutcome, ProbeResult
from ctrlplane.provider.taskgroups import TaskGroup

__all__ = ["ProbeSink", "RolloutShape", "UnitPrimitives", "roll_out"]

ProbeSink = Callable[[ProbeResult], Awaitable[None]]
"""Receives every probe result as it happens (the engine turns it into an event)."""


class UnitPrimitives(Protocol):
    """What a backend does to one replica unit during the rollout of one release.

    ``beside`` units run their new version next to the old one until :meth:`switch`
    and :meth:`retire`; other units are replaced in place by :meth:`start`. A primitive
    that cannot succeed raises :class:`~ctrlplane.provider.failures.RolloutFailed`
    (``step`` names the unit's step, e.g. ``start web (replica 1)``); the engine handles
    every failure the same way.
    """

    async def start(self, replica: int, *, beside: bool) -> None:
        """Start the new version of unit ``replica``: beside the old one without taking its
        traffic, or in its place (the unit's other replicas keep serving)."""
        ...

    async def gate(self, replica: int, on_probe: ProbeSink) -> GateOutcome | None:
        """Probe the unit's changed services until they pass or fail (``None``: nothing
        to probe)."""
        ...

    async def observe(self, replicas: Sequence[int], on_probe: ProbeSink) -> list[ProbeResult]:
        """One canary observation round: the changed services of ``replicas`` still run
        and pass one probe each; raise ``RolloutFailed`` with the evidence otherwise."""
        ...

    async def switch(self, replica: int) -> None:
        """The new version of a ``beside`` unit takes the unit's traffic (names, routes)."""
        ...

    async def withdraw(self, replica: int) -> None:
        """The old version of a ``beside`` unit stops taking traffic (it keeps running)."""
        ...

    async def retire(self, replica: int, *, withdrawn: bool) -> None:
        """Drain and remove the old version of a ``beside`` unit (withdrawing it first
        unless ``withdrawn``)."""
        ...

    async def undo(self, touched: Sequence[int], beside: Sequence[int]) -> str:
        """Put the previous version back on ``touched`` units (``beside`` ones by giving
        the old version, still running, its traffic back). Returns ``""`` when every
        unit is back, else why not."""
        ...

    async def record(self) -> None:
        """Record the new release as the live one."""
        ...


@dataclass(frozen=True, slots=True)
class RolloutShape:
    """How one rollout proceeds.

    ``units`` are the live set's replica numbers (ascending), ``services`` the services
    replaced in each unit (for the unit events), ``beside`` whether new versions start
    next to the old ones (else in place). ``batch`` units roll at a time; ``canary`` is
    the canary head; the canary is observed every ``interval`` for ``observation``
    seconds; blue-green retires the old set ``retire_delay`` after the switch. Everything
    before the switch must finish by ``deadline``.
    """

    instance_id: str
    backend: str
    strategy: DeployStrategy
    release_id: str
    previous_release: str
    units: Sequence[int]
    services: Sequence[str]
    deadline: Deadline
    beside: bool = False
    batch: int = 1
    canary: int = 1
    observation: float = 0.0
    interval: float = 1.0
    retire_delay: float = 0.0


def _batch_step(batch: Sequence[int]) -> str:
    """``replace-unit-0`` or ``replace-units-0-1``."""
    if len(batch) == 1:
        return f"replace-unit-{batch[0]}"
    return "replace-units-" + "-".join(str(r) for r in batch)


def _units_text(batch: Sequence[int]) -> str:
    if len(batch) == 1:
        return f"unit {batch[0]}"
    return "units " + ", ".join(str(r) for r in batch)


def _chunks(units: Sequence[int], size: int) -> list[list[int]]:
    size = max(size, 1)
    return [list(units[i : i + size]) for i in range(0, len(units), size)]


class _Run:
    """The state of one rollout: what was touched, the step, the evidence."""

    def __init__(self, shape: RolloutShape, units: UnitPrimitives, events: Subscriber | None):
        self.shape = shape
        self.units = units
        self.events = events
        self.steps = StepTracker(shape.instance_id, events)
        self.touched: list[int] = []
        self.pending: list[int] = []  # beside units whose old version still runs
        self.step = ""
        self.evidence: list[ProbeResult] = []

    async def probed(self, result: ProbeResult) -> None:
        await emit(self.events, ProbeObserved(instance_id=self.shape.instance_id, result=result))

    async def started(self, replicas: Sequence[int]) -> None:
        for r in replicas:
            for name in self.shape.services:
                await emit(
                    self.events,
                    UnitStarted(
                        instance_id=self.shape.instance_id,
                        service=name,
                        replica=r,
                        release_id=self.shape.release_id,
                    ),
                )

    async def removed(self, replica: int) -> None:
        for name in self.shape.services:
            await emit(
                self.events,
                UnitRemoved(
                    instance_id=self.shape.instance_id,
                    service=name,
                    replica=replica,
                    release_id=self.shape.previous_release,
                ),
            )

    async def retire(self, replica: int, *, withdrawn: bool) -> None:
        await self.units.retire(replica, withdrawn=withdrawn)
        await self.removed(replica)

    async def gate_all(self, batch: Sequence[int]) -> None:
        """Gate ``batch`` together; the first failing outcome fails the rollout."""
        async with TaskGroup() as tg:
            gates = [tg.create_task(self.units.gate(r, self.probed)) for r in batch]
        for gate in gates:
            outcome = gate.result()
            if outcome is not None and not outcome.passed:
                raise RolloutFailed("", f"health gate failed: {outcome.reason}", outcome.results)

    # strategies

    async def rolling(self) -> None:
        shape = self.shape
        canary = shape.strategy is DeployStrategy.CANARY
        head = list(shape.units[: max(1, min(shape.canary, len(shape.units)))]) if canary else []
        batches = [*_chunks(head, shape.batch), *_chunks(shape.units[len(head) :], shape.batch)]
        for batch in batches:
            self.touched += batch
            self.step = f"replace {_units_text(batch)}"
            self.evidence = []
            await self.steps.enter(_batch_step(batch), ", ".join(shape.services))
            async with TaskGroup() as tg:
                for r in batch:
                    if shape.beside:
                        self.pending.append(r)
                    tg.create_task(self.units.start(r, beside=shape.beside))
            await self.started(batch)
            self.step = f"health gate of {_units_text(batch)}"
            await self.gate_all(batch)
            if shape.beside:
                self.step = f"switch {_units_text(batch)} to the new version"
                for r in batch:
                    await self.units.switch(r)
                self.step = f"retire the old version of {_units_text(batch)}"
                async with TaskGroup() as tg:
                    for r in batch:
                        tg.create_task(self.retire(r, withdrawn=False))
                self.pending = []
            await self.steps.finish()
            if head and self.touched == head:
                self.step = "canary observation"
                await self.steps.enter("observe-canary", f"units {self.touched}")
                self.evidence = await self.observe(head)
                await self.steps.finish()

    async def observe(self, replicas: Sequence[int]) -> list[ProbeResult]:
        """Observation rounds over ``replicas`` for the shape's observation period."""
        shape = self.shape
        period = Deadline(shape.observation, "canary observation")
        results: list[ProbeResult] = []
        while True:
            try:
                results += await self.units.observe(replicas, self.probed)
            except RolloutFailed as exc:
                raise RolloutFailed(exc.step, exc.reason, [*results, *exc.evidence]) from None
            if period.expired():
                return results
            await asyncio.sleep(min(shape.interval, period.remaining()))

    async def blue_green(self) -> None:
        shape = self.shape
        self.step = "start the new set"
        await self.steps.enter("start-new-set")
        for r in shape.units:
            self.touched.append(r)
            self.pending.append(r)
            await self.units.start(r, beside=True)
            await self.started([r])
        for r in shape.units:
            self.step = f"health gate of unit {r}"
            await self.gate_all([r])
        self.step = "switch traffic"
        for r in shape.units:
            await self.units.switch(r)
        await self.steps.finish()

    async def switched(self) -> None:
        shape = self.shape
        await emit(
            self.events,
            TrafficSwitched(
                instance_id=shape.instance_id,
                from_release=shape.previous_release,
                to_release=shape.release_id,
            ),
        )

    async def after_rolling(self) -> None:
        """Rolling and canary after the last unit: record the release, then announce it."""
        await self.units.record()
        await self.switched()

    async def after_switch(self) -> None:
        """Blue-green after the switch: record, withdraw the old set, wait, retire it.
        Every unit is tried; failures are raised together (the new release stays live)."""
        shape = self.shape
        await self.units.record()
        problems: list[str] = []
        for r in shape.units:
            try:
                await self.units.withdraw(r)
            except CtrlplaneError as exc:
                problems.append(f"unit {r}: taking the traffic from the old version: {exc}")
        await self.switched()
        await asyncio.sleep(shape.retire_delay)
        for r in shape.units:
            try:
                await self.retire(r, withdrawn=True)
            except CtrlplaneError as exc:
                problems.append(f"unit {r}: retiring the old version: {exc}")
        if problems:
            raise BackendError(
                f"blue-green deploy of {shape.instance_id!r}: release {shape.release_id} is "
                "live, but the old set was not fully retired (" + "; ".join(problems) + "); "
                "the next deploy or deprovision removes what is left",
                backend=shape.backend,
            )

    # failure

    def failure(self, err: BaseException) -> tuple[str, str]:
        """The ``(step, reason)`` a rollout that ended with ``err`` reports."""
        if isinstance(err, RolloutFailed):
            return err.step or self.step, err.reason
        if isinstance(err, asyncio.CancelledError):
            return self.step, "cancelled"
        if isinstance(err, TimeoutError) and self.shape.deadline.expired():
            limit = self.shape.deadline.seconds
            return self.step, f"the deploy did not finish within its progress deadline ({limit:g}s)"
        return self.step, str(err) or type(err).__name__

    async def failed(self, exc: BaseException) -> NoReturn:
        """Undo, report, raise (see the module docs)."""
        err = first_error(exc)
        if isinstance(err, RolloutFailed) and err.evidence:
            self.evidence = err.evidence
        unrestored = await finish(self.units.undo(self.touched, self.pending))
        step, reason = self.failure(err)
        await self.steps.fail(reason)
        shape = self.shape
        if not unrestored:
            await emit(
                self.events,
                RolledBack(
                    instance_id=shape.instance_id, to_release=shape.previous_release, reason=reason
                ),
            )
        if isinstance(err, asyncio.CancelledError):
            raise err
        lost = engine_lost(exc)
        if lost is not None:
            raise BackendUnavailable(
                f"{lost}; the {shape.strategy} deploy of {shape.instance_id!r} stopped at "
                f"{step}: {reason}"
                + ("" if not unrestored else f"; restoring the previous release: {unrestored}"),
                backend=shape.backend,
            ) from lost
        if unrestored:
            reason = f"{reason}; restoring the previous release failed: {unrestored}"
        raise DeployFailed(
            shape.instance_id,
            strategy=str(shape.strategy),
            step=step,
            reason=reason,
            evidence=self.evidence,
            rolled_back=not unrestored,
        ) from None


async def roll_out(
    shape: RolloutShape, units: UnitPrimitives, events: Subscriber | None = None
) -> None:
    """Roll the release of ``shape`` out over ``units`` (see the module docs); once every
    unit serves it, the release is recorded even if the caller is cancelled right then."""
    run = _Run(shape, units, events)
    blue_green = shape.strategy is DeployStrategy.BLUE_GREEN
    try:
        async with shape.deadline.timeout():
            if blue_green:
                await run.blue_green()
            else:
                await run.rolling()
    except BaseException as exc:
        await run.failed(exc)
    await finish(run.after_switch() if blue_green else run.after_rolling())
