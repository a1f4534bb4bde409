"""Several log streams read as one, lazily: in time order, or as the lines arrive.

Neither function holds more than a bounded number of records, whatever the size of the
logs: :func:`merge_by_time` keeps at most one pending record per stream (a heap over
the streams' heads), :func:`as_they_come` at most ``buffer`` records in flight. So
``ctrlplane logs`` of a million lines uses the memory of a few records, as ``docker
logs`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from ctrlplane.provider import LogRecord

__all__ = ["as_they_come", "merge_by_time"]


async def merge_by_time(streams: Sequence[AsyncIterator[LogRecord]]) -> AsyncIterator[LogRecord]:
    """Yield the records of ``streams`` (each in time order) in time order.

    The first record of every stream is read concurrently; after that, a stream is read
    again only once its pending record has been yielded, so at most ``len(streams)``
    records are held. Records of equal time come in the order of ``streams``. The
    caller owns the streams (and closes them); an error of a stream propagates.
    """
    heap: list[tuple[datetime, int, LogRecord]] = []

    async def pull(index: int) -> None:
        try:
            record = await anext(streams[index])
        except StopAsyncIteration:
            return
        heapq.heappush(heap, (record.time, index, record))

    await asyncio.gather(*(pull(i) for i in range(len(streams))))
    while heap:
        _, index, record = heapq.heappop(heap)
        yield record
        await pull(index)


async def as_they_come(
    streams: Sequence[AsyncIterator[LogRecord]], buffer: int = 64
) -> AsyncIterator[LogRecord]:
    """Yield the records of ``streams`` as they arrive (for ``--follow``), until every
    stream ends or the caller stops.

    One task reads each stream into a queue of ``buffer`` records: a reader waits while
    the queue is full, so memory stays bounded however fast the streams are. The first
    error of a stream propagates; the readers are cancelled when this generator closes.
    """
    done = object()
    queue: asyncio.Queue[LogRecord | BaseException | object] = asyncio.Queue(maxsize=buffer)

    async def pump(stream: AsyncIterator[LogRecord]) -> None:
        try:
            async for record in stream:
                await queue.put(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await queue.put(exc)
        else:
            await queue.put(done)

    readers = [asyncio.create_task(pump(s)) for s in streams]
    remaining = len(readers)
    try:
        while remaining:
            item = await queue.get()
            if item is done:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield cast("LogRecord", item)
    finally:
        for reader in readers:
            reader.cancel()
        for reader in readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
