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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from types import TracebackType
from typing import Self

from ctrlplane.provider.results import LogRecord

__all__ = ["LogStream"]

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
