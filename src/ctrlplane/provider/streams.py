"""The stream type that ``Provider.logs`` returns.

A :class:`LogStream` can be used three ways, all equivalent::

    async for rec in provider.logs(iid, opts): ...          # opens on first iteration
    async with provider.logs(iid, opts) as records: ...     # opens on enter, closes on exit
    records = await provider.logs(iid, opts)                # opens now (errors raise here)

Opening runs the provider's checks (unknown instance, unknown service, missing
capability), so with ``async with`` and ``await`` those errors surface before the first
record. Closing (``aclose``, leaving the ``async with``, or breaking out of the loop and
letting the stream be collected) releases the backend connection; a stream ends by
itself when the containers end, unless ``follow`` keeps it open.

Several streams read as one, lazily (the CLI's ``logs`` of several services, a
backend's replicas): :func:`merge_by_time` in time order, :func:`as_they_come` as the
items arrive. Neither holds more than a bounded number of items, whatever the length of
the logs: at most one pending record per stream, or ``buffer`` items in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar, cast

from ctrlplane.provider.results import LogRecord

__all__ = ["LogStream", "as_they_come", "merge_by_time"]

T = TypeVar("T")

Opener = Callable[[], Awaitable[AsyncIterator[LogRecord]]]


class LogStream(AsyncIterator[LogRecord]):
    """An async iterator of :class:`LogRecord` that is also awaitable and a context manager.

    ``opener`` is a coroutine function that performs the provider's checks and returns
    the iterator of records (usually an async generator). It is called at most once.
    """

    def __init__(self, opener: Opener) -> None:
        self._opener: Opener | None = opener
        self._records: AsyncIterator[LogRecord] | None = None
        self._closed = False

    async def open(self) -> Self:
        """Run the provider's checks and connect; idempotent."""
        if self._opener is not None:
            opener, self._opener = self._opener, None
            try:
                self._records = await opener()
            except BaseException:
                self._closed = True  # a failed open ends the stream, as a raising generator
                raise
        return self

    def __await__(self) -> Generator[object, None, Self]:
        return self.open().__await__()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> LogRecord:
        if self._closed:
            raise StopAsyncIteration
        await self.open()
        assert self._records is not None
        try:
            return await self._records.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop reading and release the backend connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._opener = None
        records, self._records = self._records, None
        closer = getattr(records, "aclose", None)
        if closer is not None:
            await closer()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def collect(self, limit: int | None = None) -> list[LogRecord]:
        """Read records until the stream ends (or ``limit`` are read), then close it."""
        out: list[LogRecord] = []
        try:
            async for record in self:
                out.append(record)
                if limit is not None and len(out) >= limit:
                    break
        finally:
            await self.aclose()
        return out


async def merge_by_time(
    streams: Sequence[AsyncIterator[LogRecord]],
) -> AsyncGenerator[LogRecord, None]:
    """Yield the records of ``streams`` (each in time order) in time order.

    The first record of every stream is read concurrently (every first read finishes
    before an error of one propagates, so no stream is left mid-read); after that, a
    stream is read again only once its pending record has been yielded, so at most
    ``len(streams)`` records are held. Records of equal time come in the order of
    ``streams``. The caller owns the streams (and closes them); the first error of a
    stream propagates.
    """
    heap: list[tuple[datetime, int, LogRecord]] = []

    async def pull(index: int) -> None:
        record = await anext(streams[index], None)
        if record is not None:
            heapq.heappush(heap, (record.time, index, record))

    firsts = await asyncio.gather(*(pull(i) for i in range(len(streams))), return_exceptions=True)
    for outcome in firsts:
        if isinstance(outcome, BaseException):
            raise outcome
    while heap:
        _, index, record = heapq.heappop(heap)
        yield record
        await pull(index)


async def as_they_come(
    sources: Sequence[AsyncIterator[T]], buffer: int = 64
) -> AsyncGenerator[T, None]:
    """Yield the items of ``sources`` as they arrive (for ``follow``), until every source
    ends or the caller stops.

    One task reads each source into a queue of ``buffer`` items (0: unbounded): a reader
    waits while the queue is full, so memory stays bounded however fast the sources are.
    The first error of a source propagates; the readers are cancelled (and waited for)
    when this generator closes.
    """
    done = object()
    queue: asyncio.Queue[T | BaseException | object] = asyncio.Queue(maxsize=buffer)

    async def pump(source: AsyncIterator[T]) -> None:
        try:
            async for item in source:
                await queue.put(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await queue.put(exc)
        else:
            await queue.put(done)

    readers = [asyncio.create_task(pump(s)) for s in sources]
    remaining = len(readers)
    try:
        while remaining:
            item = await queue.get()
            if item is done:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield cast("T", item)
    finally:
        for reader in readers:
            reader.cancel()
        for reader in readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
