"""Logs from the client fs logs API (I/O): history by offset, then following.

:func:`select` picks the allocations and the service (and refuses a ``since`` the files
cannot answer exactly: :func:`~ctrlplane.provider.nomad.limits.since_refusals`); the
stream is :func:`read`, with a client of its own that lives as long as the stream.
Frames, lines and their times: :mod:`~ctrlplane.provider.nomad.observe.logframes` (a
frame's ``Offset`` is where its data *ends* in the file). A line read from a file's
history carries its task's first start in that allocation (a lower bound; the files
have no timestamps), a followed line the time it arrived. A followed stream ends once
the task is dead (the agent itself keeps the stream open long after; the provider
looks at the allocation every ``poll_interval`` and then reads what is left).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from datetime import UTC, datetime

from ctrlplane.errors import CtrlplaneError, InvalidSpec, Problem
from ctrlplane.provider.deadlines import seconds
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


async def _read(
    api: NomadClient,
    alloc_id: str,
    task: str,
    stream: str,
    params: dict[str, str],
    splitter: LineSplitter | None = None,
) -> tuple[list[str], int | None, int]:
    """One non-following read: the lines, where the data read starts in the file
    (``None``: nothing was read) and where it ends. With ``splitter`` (a follower's),
    the data continues its partial line, and a partial last line stays in it."""
    decoder = FrameDecoder()
    own = splitter is None
    splitter = splitter or LineSplitter()
    lines: list[str] = []
    start: int | None = None
    end = 0
    query = {"task": task, "type": stream, "follow": "false", **params}
    async with aclosing(api.stream(f"/v1/client/fs/logs/{alloc_id}", **query)) as chunks:
        async for chunk in chunks:
            for frame in decoder.feed(chunk):
                if start is None:
                    start = frame.start
                lines += splitter.feed(frame.data)
                end = frame.offset
    return (lines + splitter.flush() if own else lines), start, end


async def _history(
    api: NomadClient, alloc_id: str, task: str, stream: str, tail: int
) -> tuple[list[str], int]:
    """Lines of one log file (the last ``tail``, if set) and the offset they end at."""
    if not tail:
        lines, _, end = await _read(api, alloc_id, task, stream, {"origin": "start", "offset": "0"})
        return lines, end
    offset = 4096
    while True:
        params = {"origin": "end", "offset": str(offset)}
        lines, start, end = await _read(api, alloc_id, task, stream, params)
        from_start = start in (None, 0) or offset >= end
        if not from_start and lines:
            lines = lines[1:]  # the first line may be cut
        if len(lines) >= tail or from_start:
            return lines[-tail:], end
        offset *= 4


async def _task_dead(api: NomadClient, alloc_id: str, task: str) -> bool:
    """Whether ``task`` of the allocation will write no more (dead, or gone)."""
    alloc = await api.get(f"/v1/allocation/{alloc_id}", missing_ok=True)
    if alloc is None or alloc.get("ClientStatus") in ("complete", "failed", "lost"):
        return True
    return ((alloc.get("TaskStates") or {}).get(task) or {}).get("State") == "dead"


async def _follow(
    api: NomadClient,
    config: NomadConfig,
    alloc: JSON,
    service: str,
    stream: str,
    offset: int,
    queue: asyncio.Queue[LogRecord | None],
) -> None:
    """Put the lines written to one log file from ``offset`` on ``queue`` until the task
    is dead (then what is left is read) or the stream ends; then ``None``."""
    alloc_id = str(alloc["ID"])
    params = {"task": service, "type": stream, "follow": "true", "origin": "start"}
    splitter = LineSplitter()
    pos = offset

    async def put(lines: list[str]) -> None:
        for line in lines:
            await queue.put(_record(alloc, service, stream, line, datetime.now(UTC)))

    async def pump() -> None:
        nonlocal pos
        decoder = FrameDecoder()
        path = f"/v1/client/fs/logs/{alloc_id}"
        async with aclosing(api.stream(path, **params, offset=str(pos))) as chunks:
            async for chunk in chunks:
                for frame in decoder.feed(chunk):
                    pos = frame.offset
                    await put(splitter.feed(frame.data))

    pumping = asyncio.create_task(pump())
    poll = seconds(config.poll_interval)
    try:
        while not pumping.done():
            await asyncio.wait({pumping}, timeout=poll)
            if not pumping.done() and await _task_dead(api, alloc_id, service):
                pumping.cancel()
                await asyncio.gather(pumping, return_exceptions=True)
                after = {"origin": "start", "offset": str(pos)}
                rest, _, _ = await _read(api, alloc_id, service, stream, after, splitter)
                await put(rest)
                break
        if pumping.done() and not pumping.cancelled():
            pumping.result()  # the stream's own error, if it ended with one
        await put(splitter.flush())
    except CtrlplaneError as exc:
        # The allocation went away or the agent dropped the stream: this follower ends
        # and the merged stream ends once every follower has.
        log.debug("log follower of %s/%s ended: %s", alloc_id, service, exc)
    finally:
        pumping.cancel()
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
                _follow(
                    api, config, alloc, service, stream, ends[(str(alloc["ID"]), stream)], queue
                )
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
