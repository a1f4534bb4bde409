"""Logs from the client fs logs API (I/O): history by offset, then following.

:func:`select` picks the allocations and the service (and refuses a ``since`` the files
cannot answer exactly: :func:`~ctrlplane.provider.nomad.limits.since_refusals`); the
stream is :func:`read`, with a client of its own that lives as long as the stream.
Frames, lines and their times: :mod:`~ctrlplane.provider.nomad.observe.logframes`. A
line read from a file's history carries its task's first start in that allocation (a
lower bound; the files have no timestamps), a followed line the time it arrived.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from datetime import UTC, datetime

from ctrlplane.errors import CtrlplaneError, InvalidSpec, Problem
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.client import NomadClient
from ctrlplane.provider.nomad.config import NomadConfig
from ctrlplane.provider.nomad.context import NomadContext
from ctrlplane.provider.nomad.limits import since_refusals
from ctrlplane.provider.nomad.observe.allocations import (
    alloc_replica,
    current_allocs,
    first_start,
    newest_per_replica,
)
from ctrlplane.provider.nomad.observe.history import request_from_job
from ctrlplane.provider.nomad.observe.logframes import FrameDecoder, LineSplitter
from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import LogOptions

__all__ = ["read", "select"]

log = logging.getLogger("ctrlplane.nomad")

_STREAMS = ("stdout", "stderr")


async def select(ctx: NomadContext, iid: str, opts: LogOptions) -> tuple[list[JSON], str]:
    """The allocations to read (the current ones; of a stopped job the newest of each
    replica; only ``opts.replica`` if set) and the service (default main)."""
    job = await jobs.read_job(ctx, iid)
    req = request_from_job(job)
    service = opts.service_name or req.main.name
    if service not in {s.name for s in req.services}:
        raise InvalidSpec(
            [Problem("service_name", f"no service {service!r} in {iid!r}")],
            subject="log options",
        )
    allocs = await jobs.allocations(ctx, iid)
    chosen = current_allocs(job, allocs) or newest_per_replica(allocs)
    if opts.replica is not None:
        chosen = [a for a in chosen if alloc_replica(a) == opts.replica]
    ctx.preflight.refuse(since_refusals(chosen, service, opts.since))
    return chosen, service


def _record(alloc: JSON, service: str, stream: str, line: str, at: datetime) -> LogRecord:
    return LogRecord(
        time=at,
        service=service,
        replica=alloc_replica(alloc),
        stream="stderr" if stream == "stderr" else "stdout",
        line=line,
    )


async def _history(
    api: NomadClient, alloc_id: str, task: str, stream: str, tail: int
) -> tuple[list[str], int]:
    """Lines of one log file (the last ``tail``, if set) and the offset they end at."""
    offset = 4096
    while True:
        params = {"task": task, "type": stream, "follow": "false"}
        if tail:
            params.update({"origin": "end", "offset": str(offset)})
        else:
            params.update({"origin": "start", "offset": "0"})
        decoder, splitter = FrameDecoder(), LineSplitter()
        lines: list[str] = []
        start: int | None = None
        end = 0
        async with aclosing(api.stream(f"/v1/client/fs/logs/{alloc_id}", **params)) as chunks:
            async for chunk in chunks:
                for frame in decoder.feed(chunk):
                    if start is None:
                        start = frame.offset
                    lines += splitter.feed(frame.data)
                    end = frame.offset + len(frame.data)
        lines += splitter.flush()
        if not tail:
            return lines, end
        from_start = start in (None, 0)
        if not from_start and lines:
            lines = lines[1:]  # the first line may be cut
        if len(lines) >= tail or from_start:
            return lines[-tail:], end
        offset *= 4


async def _follow(
    api: NomadClient,
    alloc: JSON,
    service: str,
    stream: str,
    offset: int,
    queue: asyncio.Queue[LogRecord | None],
) -> None:
    """Put the lines written to one log file from ``offset`` on ``queue`` until the
    stream ends; then ``None``."""
    params = {
        "task": service,
        "type": stream,
        "follow": "true",
        "origin": "start",
        "offset": str(offset),
    }
    try:
        decoder, splitter = FrameDecoder(), LineSplitter()
        async with aclosing(api.stream(f"/v1/client/fs/logs/{alloc['ID']}", **params)) as chunks:
            async for chunk in chunks:
                for frame in decoder.feed(chunk):
                    for line in splitter.feed(frame.data):
                        await queue.put(_record(alloc, service, stream, line, datetime.now(UTC)))
    except CtrlplaneError as exc:
        # The allocation went away or the agent dropped the stream: this follower ends
        # and the merged stream ends once every follower has.
        log.debug("log follower of %s/%s ended: %s", alloc.get("ID"), service, exc)
    finally:
        queue.put_nowait(None)


async def read(
    config: NomadConfig, allocs: Sequence[JSON], service: str, opts: LogOptions
) -> AsyncIterator[LogRecord]:
    """The lines of ``service`` in ``allocs`` (stdout and stderr; the last ``tail``),
    then, with ``follow``, the lines written since, until every allocation's streams
    end. Holds its own client until the iterator is closed."""
    async with NomadClient(config) as api:
        records: list[LogRecord] = []
        ends: dict[tuple[str, str], int] = {}
        for alloc in allocs:
            first = first_start(alloc, service)
            for stream in _STREAMS:
                lines, end = await _history(api, str(alloc["ID"]), service, stream, opts.tail)
                ends[(str(alloc["ID"]), stream)] = end
                records += [_record(alloc, service, stream, line, first) for line in lines]
        if opts.tail:
            records = records[-opts.tail :]
        for record in records:
            yield record
        if not opts.follow:
            return
        queue: asyncio.Queue[LogRecord | None] = asyncio.Queue()
        followers = [
            asyncio.create_task(
                _follow(api, alloc, service, stream, ends[(str(alloc["ID"]), stream)], queue)
            )
            for alloc in allocs
            for stream in _STREAMS
        ]
        try:
            remaining = len(followers)
            while remaining:
                item = await queue.get()
                if item is None:
                    remaining -= 1
                else:
                    yield item
        finally:
            for task in followers:
                task.cancel()
            await asyncio.gather(*followers, return_exceptions=True)
