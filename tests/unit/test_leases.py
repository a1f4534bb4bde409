"""The operation lease: one mutating operation per instance, waits, expiry, takeover."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ctrlplane.errors import BackendUnavailable, InstanceBusy
from ctrlplane.provider.deadlines import finish, raise_failure, run_to_end
from ctrlplane.provider.events import ProgressEvent, StepFinished, StepStarted
from ctrlplane.provider.leases import InstanceLocks, Lease, LeaseLost, LeaseRecord
from ctrlplane.provider.operations import Operations
from ctrlplane.provider.taskgroups import TaskGroup
from ctrlplane.testing.leases import MemoryLeaseStore


def _locks(store: MemoryLeaseStore, **kw: float) -> InstanceLocks:
    kw = {"ttl": 1.0, "wait": 0.3, "poll": 0.02, **kw}
    return InstanceLocks(store, provider="test", **kw)


async def _take_over(store: MemoryLeaseStore) -> None:
    """Another holder ("thief") takes the lease of inst_a over."""
    current = store.records["inst_a"]
    await store.replace("inst_a", current, replace(current.lease, holder="thief"))


async def test_a_second_holder_waits_then_is_refused_naming_the_first() -> None:
    store = MemoryLeaseStore()
    locks = _locks(store)
    async with locks.hold("inst_a", "deploy"):
        with pytest.raises(InstanceBusy) as caught:
            async with locks.hold("inst_a", "scale"):
                pass
    busy = caught.value
    assert busy.operation == "deploy"
    assert "deploy by" in str(busy)
    assert busy.waited == pytest.approx(0.3)
    assert store.records == {}  # released at the end


async def test_a_waiter_gets_the_lease_when_the_holder_finishes() -> None:
    store = MemoryLeaseStore()
    locks = _locks(store, wait=2.0)
    order: list[str] = []

    async def first() -> None:
        async with locks.hold("inst_a", "deploy"):
            order.append("deploy start")
            await asyncio.sleep(0.2)
            order.append("deploy end")

    async def second() -> None:
        await asyncio.sleep(0.05)
        async with locks.hold("inst_a", "rollback"):
            order.append("rollback")

    await asyncio.gather(first(), second())
    assert order == ["deploy start", "deploy end", "rollback"]


async def test_an_expired_lease_is_taken_over_and_reported_as_interrupted() -> None:
    store = MemoryLeaseStore()
    past = datetime.now(UTC) - timedelta(seconds=10)
    dead = Lease("other/1/x", "deploy", past, past, 1.0, {"release_id": "rel_1", "phase": "roll"})
    await store.create("inst_a", dead)
    async with _locks(store).hold("inst_a", "status") as held:
        assert held.previous == dead
        assert held.lease.holder != dead.holder


async def test_the_lease_is_renewed_while_the_operation_works() -> None:
    store = MemoryLeaseStore()
    locks = _locks(store, ttl=0.3)
    async with locks.hold("inst_a", "deploy") as held:
        first = held.lease.renewed_at
        await asyncio.sleep(0.5)  # longer than the ttl: renewals keep it alive
        assert not held.lease.expired()
        assert held.lease.renewed_at > first
        await held.note(phase="switch")
        assert store.records["inst_a"].lease.intent == {"phase": "switch"}


async def test_a_lost_lease_stops_the_operation() -> None:
    store = MemoryLeaseStore()
    locks = _locks(store, ttl=0.3)

    async def work() -> None:
        async with locks.hold("inst_a", "deploy"):
            await _take_over(store)  # someone took it over
            await asyncio.sleep(2)

    with pytest.raises(LeaseLost):
        await work()
    assert store.records["inst_a"].lease.holder == "thief"  # never deleted by the loser


async def test_an_operation_reports_its_wait_as_a_step() -> None:
    store = MemoryLeaseStore()
    ops = Operations(_locks(store, wait=2.0), secrets=None)
    seen: list[ProgressEvent] = []

    async def holder() -> None:
        async with ops.mutating("inst_a", "deploy"):
            await asyncio.sleep(0.2)

    async def waiter() -> None:
        await asyncio.sleep(0.05)
        async with ops.mutating("inst_a", "scale", events=seen.append):
            pass

    await asyncio.gather(holder(), waiter())
    assert [type(e) for e in seen] == [StepStarted, StepFinished]
    assert isinstance(seen[0], StepStarted)
    assert seen[0].step == "wait-for-lease"
    assert "deploy by" in seen[0].detail


async def test_a_caller_cancelled_while_taking_the_lease_leaves_no_record() -> None:
    class SlowStore(MemoryLeaseStore):
        async def create(self, instance_id: str, lease: Lease) -> LeaseRecord | None:
            await asyncio.sleep(0.1)
            return await super().create(instance_id, lease)

    store = SlowStore()
    task = asyncio.create_task(_locks(store).acquire("inst_a", "deploy"))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.records == {}


async def test_a_repair_that_fails_puts_the_interrupted_lease_back() -> None:
    store = MemoryLeaseStore()
    past = datetime.now(UTC) - timedelta(seconds=10)
    dead = Lease("other/1/x", "deploy", past, past, 1.0, {"phase": "switch"})
    await store.create("inst_a", dead)

    async def failing_repair() -> None:
        async with _locks(store).hold("inst_a", "scale") as held:
            assert held.previous == dead
            raise RuntimeError("the repair failed")

    with pytest.raises(RuntimeError):
        await failing_repair()
    assert store.records["inst_a"].lease == dead  # the next caller repairs again
    async with _locks(store).hold("inst_a", "scale") as held:
        assert held.previous == dead
        await held.note(phase="scale")
    assert "inst_a" not in store.records  # repaired and noted: released normally


async def test_a_note_that_changes_nothing_writes_nothing_yet_makes_the_operation_its_own() -> None:
    store = MemoryLeaseStore()
    past = datetime.now(UTC) - timedelta(seconds=10)
    dead = Lease("other/1/x", "deploy", past, past, 1.0, {"phase": "switch"})
    await store.create("inst_a", dead)
    locks = _locks(store, ttl=30.0)  # no renewal during the test

    async def failing_provision() -> None:
        async with locks.hold("inst_a", "provision", intent={"phase": "provision"}) as held:
            token = store.records["inst_a"].token
            await held.note(phase="provision")
            assert store.records["inst_a"].token == token  # no write
            await held.note(kept_volumes="data")
            assert store.records["inst_a"].token != token
            assert store.records["inst_a"].lease.intent == {
                "phase": "provision",
                "kept_volumes": "data",
            }
            raise RuntimeError("the provision failed after its repair")

    with pytest.raises(RuntimeError):
        await failing_provision()
    # its own failure, not the repair's: the interrupted lease is not handed back
    assert "inst_a" not in store.records


async def test_a_lease_lost_while_cleaning_up_a_failure_raises_that_failure() -> None:
    """The engine fails a task group's step, the lease is lost while the cleanup runs:
    the operation raises its own typed failure (noting the lost lease), not a bare
    CancelledError and not a LeaseLost that hides where it stopped."""
    store = MemoryLeaseStore()
    locks = _locks(store, ttl=0.3)

    async def engine_gone() -> None:
        await asyncio.sleep(0.01)
        raise BackendUnavailable("engine unreachable", backend="test")

    async def provision() -> None:
        async with locks.hold("inst_a", "provision"):
            try:
                async with TaskGroup() as group:
                    group.create_task(engine_gone())
            except* BackendUnavailable:
                failure = BackendUnavailable(
                    "engine unreachable; the provision stopped at step pull", backend="test"
                )
                await _take_over(store)
                _, interrupted = await run_to_end(asyncio.sleep(1))  # outlives the lease
                assert interrupted
                raise_failure(failure, interrupted)

    with pytest.raises(BackendUnavailable) as caught:
        await provision()
    assert "stopped at step pull" in str(caught.value)
    assert any("lost its operation lease" in note for note in caught.value.__notes__)


async def test_a_lease_lost_while_cleaning_up_after_a_cancellation_is_lease_lost() -> None:
    store = MemoryLeaseStore()
    locks = _locks(store, ttl=0.3)

    async def deploy() -> None:
        async with locks.hold("inst_a", "deploy"):
            await _take_over(store)
            await finish(asyncio.sleep(1))  # a cleanup without a failure of its own

    with pytest.raises(LeaseLost):
        await deploy()
