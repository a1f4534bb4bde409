"""Reading container logs as typed records (I/O on one engine).

Each container's log is read with timestamps; frames are decoded (multiplexed or TTY),
split into lines and turned into :class:`LogRecord`. Several replicas are merged: without
``follow`` by time; with ``follow`` as lines arrive. The iterator ends when every
container's stream ends (the containers stopped) or when the caller closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from ctrlplane.provider.docker.engine import Engine
from ctrlplane.provider.docker.logframes import FrameDecoder, LineSplitter, split_timestamp
from ctrlplane.provider.results import LogRecord

__all__ = ["LogSource", "read_logs"]


@dataclass(frozen=True, slots=True)
class LogSource:
    """One container to read: its ref, service, replica, and whether it has a TTY."""

    ref: str
    service: str
    replica: int
    tty: bool = False


def _params(follow: bool, tail: int, since: datetime | None) -> dict[str, str]:
    params = {
        "stdout": "1",
        "stderr": "1",
        "timestamps": "1",
        "follow": "1" if follow else "0",
        "tail": str(tail) if tail > 0 else "all",
    }
    if since is not None:
        params["since"] = f"{since.timestamp():.9f}"
    return params


async def _records(
    engine: Engine, src: LogSource, params: dict[str, str]
) -> AsyncIterator[LogRecord]:
    decoder = FrameDecoder(tty=src.tty)
    splitter = LineSplitter()

    def record(stream: str, line: str) -> LogRecord:
        when, text = split_timestamp(line)
        return LogRecord(
            time=when,
            service=src.service,
            replica=src.replica,
            stream="stderr" if stream == "stderr" else "stdout",
            line=text,
        )

    async with engine.logs(src.ref, params) as resp:
        while True:
            chunk = await resp.content.readany()
            if not chunk:
                break
            for stream, payload in decoder.feed(chunk):
                for line in splitter.feed(stream, payload):
                    yield record(stream, line)
    for stream, line in splitter.flush():
        yield record(stream, line)


async def read_logs(
    engine: Engine,
    sources: Sequence[LogSource],
    *,
    follow: bool,
    tail: int,
    since: datetime | None,
) -> AsyncIterator[LogRecord]:
    """Records of ``sources`` (see the module docstring)."""
    params = _params(follow, tail, since)
    if not follow:
        collected: list[LogRecord] = []
        for src in sources:
            collected.extend([r async for r in _records(engine, src, params)])
        if len(sources) > 1:
            collected.sort(key=lambda r: r.time)
            if tail > 0:
                collected = collected[-tail:]
        for rec in collected:
            yield rec
        return
    queue: asyncio.Queue[LogRecord | BaseException | None] = asyncio.Queue(maxsize=1024)

    async def pump(src: LogSource) -> None:
        try:
            async for rec in _records(engine, src, params):
                await queue.put(rec)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await queue.put(exc)
        else:
            await queue.put(None)

    tasks = [asyncio.create_task(pump(src)) for src in sources]
    remaining = len(tasks)
    try:
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
