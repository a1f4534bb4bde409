"""The library's TaskGroup: a group whose task fails leaves its owner's cancellation count
as it found it, so the owner's own timeouts and lease still tell their cancellations from
a caller's (Python 3.11 and 3.12's stdlib group leaves it one too high)."""

from __future__ import annotations

import asyncio

import pytest

from ctrlplane.provider.taskgroups import TaskGroup


async def _fail_soon() -> None:
    await asyncio.sleep(0.01)
    raise ValueError("the engine said no")


async def test_a_failed_group_leaves_its_owner_uncancelled() -> None:
    task = asyncio.current_task()
    assert task is not None
    with pytest.raises(ExceptionGroup) as caught:
        async with TaskGroup() as group:
            group.create_task(_fail_soon())
    assert caught.group_contains(ValueError)
    assert task.cancelling() == 0


async def test_a_timeout_around_a_failed_group_still_times_out() -> None:
    """The group fails inside a timeout; the code goes on and overruns it: TimeoutError
    (with the stdlib group on 3.11 the timeout took its expiry for the caller's
    cancellation and let a bare CancelledError through)."""

    async def overrun() -> None:
        async with asyncio.timeout(0.2):
            try:
                async with TaskGroup() as group:
                    group.create_task(_fail_soon())
            except* ValueError:
                pass
            await asyncio.sleep(5)

    with pytest.raises(TimeoutError):
        await overrun()


async def test_a_caller_cancelling_the_owner_still_cancels_it() -> None:
    started = asyncio.Event()
    seen: list[int] = []

    async def owner() -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            async with TaskGroup() as group:
                group.create_task(asyncio.sleep(5))
                started.set()
        except asyncio.CancelledError:
            seen.append(task.cancelling())
            raise

    running = asyncio.create_task(owner())
    await started.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert seen == [1]  # the caller's cancellation, counted once
