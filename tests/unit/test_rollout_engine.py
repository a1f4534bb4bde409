"""The rollout engine over scripted unit primitives: order of work, events, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from ctrlplane.errors import BackendError, BackendUnavailable, DeployFailed
from ctrlplane.provider.deadlines import Deadline
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.events import (
    ProgressEvent,
    RolledBack,
    StepFinished,
    StepStarted,
    TrafficSwitched,
    UnitRemoved,
    UnitStarted,
)
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.health import GateOutcome, ProbeResult
from ctrlplane.provider.rollouts import ProbeSink, RolloutShape, roll_out
from ctrlplane.testing.conformance import check_step_pairs


def _probe(replica: int, healthy: bool) -> ProbeResult:
    return ProbeResult(
        service="web",
        replica=replica,
        kind="http",
        target=":80/healthz",
        attempt=1,
        healthy=healthy,
        observed="HTTP 200" if healthy else "HTTP 503",
        at=datetime.now(UTC),
    )


class Script:
    """Primitives that record what the engine asked for, failing where told."""

    def __init__(
        self,
        *,
        unhealthy: Sequence[int] = (),
        fail_start: Sequence[int] = (),
        observe_fails: bool = False,
        slow_start: float = 0.0,
        undo_problem: str = "",
        retire_error: bool = False,
    ) -> None:
        self.calls: list[str] = []
        self.unhealthy = set(unhealthy)
        self.fail_start = set(fail_start)
        self.observe_fails = observe_fails
        self.slow_start = slow_start
        self.undo_problem = undo_problem
        self.retire_error = retire_error

    async def start(self, replica: int, *, beside: bool) -> None:
        self.calls.append(f"start {replica}{' beside' if beside else ''}")
        await asyncio.sleep(self.slow_start)
        if replica in self.fail_start:
            raise RolloutFailed(f"start web (replica {replica})", "exited with code 3")

    async def gate(self, replica: int, on_probe: ProbeSink) -> GateOutcome | None:
        self.calls.append(f"gate {replica}")
        result = _probe(replica, replica not in self.unhealthy)
        await on_probe(result)
        return GateOutcome(result.healthy, [result], "healthy" if result.healthy else "HTTP 503")

    async def observe(self, replicas: Sequence[int], on_probe: ProbeSink) -> list[ProbeResult]:
        self.calls.append(f"observe {list(replicas)}")
        result = _probe(replicas[0], not self.observe_fails)
        await on_probe(result)
        if self.observe_fails:
            raise RolloutFailed("", "canary turned unhealthy: HTTP 503", [result])
        return [result]

    async def switch(self, replica: int) -> None:
        self.calls.append(f"switch {replica}")

    async def withdraw(self, replica: int) -> None:
        self.calls.append(f"withdraw {replica}")

    async def retire(self, replica: int, *, withdrawn: bool) -> None:
        self.calls.append(f"retire {replica}")
        if self.retire_error:
            raise BackendError("container busy")

    async def undo(self, touched: Sequence[int], beside: Sequence[int]) -> str:
        self.calls.append(f"undo {list(touched)} {list(beside)}")
        return self.undo_problem

    async def record(self) -> None:
        self.calls.append("record")


def _shape(strategy: DeployStrategy, **kw: object) -> RolloutShape:
    values: dict[str, object] = {
        "instance_id": "inst_x",
        "backend": "test",
        "strategy": strategy,
        "release_id": "rel_new",
        "previous_release": "rel_old",
        "units": [0, 1, 2],
        "services": ["web"],
        "deadline": Deadline(5, "deploy of inst_x"),
        "interval": 0.01,
        **kw,
    }
    return RolloutShape(**values)  # type: ignore[arg-type]


async def test_rolling_in_place_in_batches_then_records_and_announces() -> None:
    units, seen = Script(), list[ProgressEvent]()
    await roll_out(_shape(DeployStrategy.ROLLING, batch=2), units, seen.append)
    assert units.calls == ["start 0", "start 1", "gate 0", "gate 1", "start 2", "gate 2", "record"]
    check_step_pairs(seen)
    steps = [e.step for e in seen if isinstance(e, StepStarted)]
    assert steps == ["replace-units-0-1", "replace-unit-2"]
    assert [e.replica for e in seen if isinstance(e, UnitStarted)] == [0, 1, 2]
    assert isinstance(seen[-1], TrafficSwitched)
    assert seen[-1].to_release == "rel_new"


async def test_rolling_beside_switches_and_retires_each_unit() -> None:
    units, seen = Script(), list[ProgressEvent]()
    await roll_out(_shape(DeployStrategy.ROLLING, beside=True, units=[0, 1]), units, seen.append)
    assert units.calls == [
        "start 0 beside",
        "gate 0",
        "switch 0",
        "retire 0",
        "start 1 beside",
        "gate 1",
        "switch 1",
        "retire 1",
        "record",
    ]
    removed = [e for e in seen if isinstance(e, UnitRemoved)]
    assert [(e.replica, e.release_id) for e in removed] == [(0, "rel_old"), (1, "rel_old")]


async def test_a_failed_gate_undoes_what_was_touched_and_carries_the_evidence() -> None:
    units, seen = Script(unhealthy=[1]), list[ProgressEvent]()
    with pytest.raises(DeployFailed) as caught:
        await roll_out(_shape(DeployStrategy.ROLLING), units, seen.append)
    err = caught.value
    assert units.calls[-1] == "undo [0, 1] []"
    assert "record" not in units.calls
    assert err.step == "health gate of unit 1"
    assert "health gate failed" in err.reason
    assert [e.observed for e in err.evidence] == ["HTTP 503"]
    assert err.rolled_back
    check_step_pairs(seen)
    finished = [e for e in seen if isinstance(e, StepFinished)]
    assert not finished[-1].ok
    assert isinstance(seen[-1], RolledBack)


async def test_a_failed_start_names_its_own_step() -> None:
    with pytest.raises(DeployFailed) as caught:
        await roll_out(_shape(DeployStrategy.ROLLING), Script(fail_start=[0]))
    assert caught.value.step == "start web (replica 0)"
    assert caught.value.reason == "exited with code 3"


async def test_canary_observes_the_head_before_the_rest() -> None:
    units = Script()
    shape = _shape(DeployStrategy.CANARY, canary=1, observation=0.03)
    await roll_out(shape, units)
    first_rest = units.calls.index("start 1")
    observations = [i for i, c in enumerate(units.calls) if c.startswith("observe")]
    assert observations
    assert all(i < first_rest for i in observations)
    assert units.calls[:2] == ["start 0", "gate 0"]


async def test_a_canary_that_turns_unhealthy_rolls_back() -> None:
    units = Script(observe_fails=True)
    with pytest.raises(DeployFailed) as caught:
        await roll_out(_shape(DeployStrategy.CANARY, observation=1.0), units)
    assert caught.value.step == "canary observation"
    assert "canary turned unhealthy" in caught.value.reason
    assert caught.value.evidence
    assert units.calls[-1] == "undo [0] []"


async def test_blue_green_starts_all_gates_all_switches_then_retires_after_recording() -> None:
    units, seen = Script(), list[ProgressEvent]()
    await roll_out(_shape(DeployStrategy.BLUE_GREEN, units=[0, 1]), units, seen.append)
    assert units.calls == [
        "start 0 beside",
        "start 1 beside",
        "gate 0",
        "gate 1",
        "switch 0",
        "switch 1",
        "record",
        "withdraw 0",
        "withdraw 1",
        "retire 0",
        "retire 1",
    ]
    assert [e.step for e in seen if isinstance(e, StepStarted)] == ["start-new-set"]


async def test_blue_green_retire_failures_are_reported_after_the_release_is_live() -> None:
    units = Script(retire_error=True)
    with pytest.raises(BackendError, match="is live, but the old set was not fully retired"):
        await roll_out(_shape(DeployStrategy.BLUE_GREEN, units=[0]), units)
    assert "record" in units.calls


async def test_an_undo_that_fails_is_reported_as_not_rolled_back() -> None:
    units, seen = Script(unhealthy=[0], undo_problem="unit 0: engine gone"), list[ProgressEvent]()
    with pytest.raises(DeployFailed) as caught:
        await roll_out(_shape(DeployStrategy.ROLLING), units, seen.append)
    assert not caught.value.rolled_back
    assert "restoring the previous release failed: unit 0: engine gone" in caught.value.reason
    assert not [e for e in seen if isinstance(e, RolledBack)]


async def test_the_progress_deadline_stops_and_undoes_the_rollout() -> None:
    units = Script(slow_start=1.0)
    shape = _shape(DeployStrategy.ROLLING, deadline=Deadline(0.05, "deploy of inst_x"))
    with pytest.raises(DeployFailed) as caught:
        await roll_out(shape, units)
    assert "progress deadline (0.05s)" in caught.value.reason
    assert units.calls[-1].startswith("undo")


async def test_a_cancelled_rollout_is_undone_then_the_cancellation_goes_on() -> None:
    units = Script(slow_start=1.0)
    task = asyncio.create_task(roll_out(_shape(DeployStrategy.ROLLING), units))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert units.calls[-1] == "undo [0] []"


async def test_a_lost_engine_is_reported_as_unavailable_not_as_a_failed_deploy() -> None:
    class LostEngine(Script):
        async def gate(self, replica: int, on_probe: ProbeSink) -> GateOutcome | None:
            raise BackendUnavailable("the engine at unix:///var/run/docker.sock went away")

    units = LostEngine()
    with pytest.raises(BackendUnavailable, match="went away; the rolling deploy") as caught:
        await roll_out(_shape(DeployStrategy.ROLLING), units)
    assert "health gate of unit 0" in str(caught.value)
    assert units.calls[-1].startswith("undo")
