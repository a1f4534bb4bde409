"""LogStream: one opener call, checks at open, clean closing of the underlying generator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from ctrlplane.errors import InstanceNotFound
from ctrlplane.provider import LogRecord, LogStream


def record(k: int, stream: str = "stdout") -> LogRecord:
    return LogRecord.model_validate(
        {
            "time": datetime(2026, 6, 1, 9, 0, k, tzinfo=UTC),
            "service": "web",
            "stream": stream,
            "line": f"line {k}",
        }
    )


@dataclass
class Source:
    """An opener whose generator yields ``count`` records and records its lifecycle."""

    count: int = 3
    fail_with: Exception | None = None
    opened: int = 0
    yielded: int = 0
    finalized: bool = False
    events: list[str] = field(default_factory=list)

    async def open(self) -> AsyncIterator[LogRecord]:
        self.opened += 1
        self.events.append("open")
        if self.fail_with is not None:
            raise self.fail_with
        return self._records()

    async def _records(self) -> AsyncIterator[LogRecord]:
        try:
            for k in range(self.count):
                self.yielded += 1
                yield record(k, "stderr" if k % 2 else "stdout")
        finally:
            self.finalized = True
            self.events.append("closed")

    def stream(self) -> LogStream:
        return LogStream(self.open)


async def test_async_for_reads_every_record_and_closes() -> None:
    src = Source(count=3)
    lines = [rec.line async for rec in src.stream()]
    assert lines == ["line 0", "line 1", "line 2"]
    assert src.opened == 1
    assert src.finalized


async def test_records_are_typed() -> None:
    src = Source(count=2)
    recs = await src.stream().collect()
    assert [r.stream for r in recs] == ["stdout", "stderr"]
    assert recs[1].time == datetime(2026, 6, 1, 9, 0, 1, tzinfo=UTC)
    assert recs[0].service == "web"
    assert recs[0].replica == 0


async def test_nothing_happens_before_use() -> None:
    src = Source()
    stream = src.stream()
    assert src.opened == 0
    await stream.aclose()  # closing an unopened stream never opens it
    assert src.opened == 0
    assert [r async for r in stream] == []


async def test_async_with_opens_on_enter_and_closes_on_exit() -> None:
    src = Source(count=100)
    async with src.stream() as records:
        assert src.opened == 1
        first = await records.__anext__()
        assert first.line == "line 0"
        assert not src.finalized
    assert src.finalized  # the generator's finally block ran
    assert src.yielded == 1
    assert [r async for r in records] == []  # closed streams end


async def test_await_opens_now() -> None:
    src = Source(count=2)
    stream = await src.stream()
    assert src.opened == 1
    assert [r.line async for r in stream] == ["line 0", "line 1"]
    await stream  # opening again does not call the opener again
    assert src.opened == 1


async def use_by_await(stream: LogStream) -> None:
    await stream


async def use_by_async_with(stream: LogStream) -> None:
    async with stream:
        pytest.fail("the body must not run")


async def use_by_async_for(stream: LogStream) -> None:
    async for _ in stream:
        pytest.fail("no record expected")


@pytest.mark.parametrize("use", [use_by_await, use_by_async_with, use_by_async_for])
async def test_checks_raise_at_open(use: Callable[[LogStream], Awaitable[None]]) -> None:
    src = Source(fail_with=InstanceNotFound("inst_x", provider="stub"))
    stream = src.stream()
    with pytest.raises(InstanceNotFound):
        await use(stream)
    assert src.opened == 1
    # A failed stream is over: iterating again ends at once, without a second open.
    assert [r async for r in stream] == []
    assert src.opened == 1


async def test_aclose_finalizes_the_generator_mid_stream() -> None:
    src = Source(count=10)
    stream = src.stream()
    got = [await stream.__anext__(), await stream.__anext__()]
    assert [r.line for r in got] == ["line 0", "line 1"]
    await stream.aclose()
    await stream.aclose()  # idempotent
    assert src.finalized
    assert src.events == ["open", "closed"]
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_breaking_out_inside_async_with_closes() -> None:
    src = Source(count=10)
    async with src.stream() as records:
        async for rec in records:
            if rec.line == "line 2":
                break
    assert src.finalized
    assert src.yielded == 3


async def test_collect_with_limit_stops_and_closes() -> None:
    src = Source(count=10)
    recs = await src.stream().collect(limit=4)
    assert [r.line for r in recs] == ["line 0", "line 1", "line 2", "line 3"]
    assert src.yielded == 4
    assert src.finalized


async def test_collect_without_limit_reads_to_the_end() -> None:
    src = Source(count=5)
    assert len(await src.stream().collect()) == 5
    assert src.finalized


async def test_an_exhausted_stream_stays_exhausted() -> None:
    src = Source(count=1)
    stream = src.stream()
    assert len([r async for r in stream]) == 1
    assert [r async for r in stream] == []
    assert src.opened == 1
