"""Deadlines, bounded waits and work that finishes even when its caller is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from ctrlplane.errors import OperationTimeout
from ctrlplane.provider.deadlines import (
    Deadline,
    bounded,
    cleanup,
    cleanup_to_end,
    finish,
    first_error,
)
from ctrlplane.provider.failures import describe_failure


async def test_bounded_names_what_did_not_finish() -> None:
    with pytest.raises(OperationTimeout, match=r"stop of inst_1 did not finish within 0\.05s"):
        await bounded(asyncio.sleep(5), 0.05, "stop of inst_1")
    assert await bounded(asyncio.sleep(0, "done"), 1, "nap") == "done"


async def test_a_deadline_is_shared_by_every_wait() -> None:
    deadline = Deadline(0.2, "deploy")
    await asyncio.sleep(0.15)
    assert deadline.remaining() < 0.1
    with pytest.raises(OperationTimeout, match="deploy"):
        await bounded(asyncio.sleep(1), deadline)
    assert deadline.expired()
    deadline.extend(10)
    assert not deadline.expired()


async def test_finish_runs_cleanup_to_its_end_through_two_cancellations() -> None:
    done: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0.1)
        done.append("cleaned")

    task = asyncio.create_task(finish(work()))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done == ["cleaned"]


async def test_cleanup_reports_what_was_left_instead_of_raising() -> None:
    async def boom() -> None:
        raise RuntimeError("volume busy")

    assert await cleanup(asyncio.sleep(0), 1, "remove the network") == ""
    assert await cleanup(boom(), 1, "remove volumes") == "remove volumes failed: volume busy"
    left = await cleanup(asyncio.sleep(5), 0.05, "remove containers")
    assert left == "remove containers did not finish within 0.05s"


def test_first_error_prefers_a_real_error_to_a_cancellation() -> None:
    group = BaseExceptionGroup("x", [asyncio.CancelledError(), ValueError("bad")])
    assert isinstance(first_error(group), ValueError)


async def test_cleanup_to_end_reports_the_cancellation_instead_of_raising_it() -> None:
    async def slow() -> None:
        await asyncio.sleep(0.1)

    async def caller() -> tuple[str, bool]:
        return await cleanup_to_end(slow(), 1, "remove the network")

    task = asyncio.create_task(caller())
    await asyncio.sleep(0.01)
    task.cancel()
    assert await task == ("", True)


def test_a_passed_deadline_is_described_with_its_budget() -> None:
    deadline = Deadline(0, "provision of inst_1")
    assert describe_failure(TimeoutError(), deadline) == (
        "provision of inst_1 did not finish within 0s"
    )
    assert describe_failure(TimeoutError()) == "timed out"
