"""Reading container logs as typed records (I/O on one engine).

Each container's log is read with timestamps; frames are decoded (multiplexed or TTY),
split into lines and turned into :class:`LogRecord`. Several replicas are merged: without
``follow`` by time; with ``follow`` as lines arrive. The iterator ends when every
container's stream ends (the containers stopped) or when the caller closes it.
:func:`open_instance_logs` picks an instance's containers of one service (all replicas
or one) and reads them within one session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider.docker.engine import Engine
from ctrlplane.provider.docker.logframes import FrameDecoder, LineSplitter, split_timestamp
from ctrlplane.provider.docker.session import Session
from ctrlplane.provider.docker.translate import Translator, Workload
from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import LogOptions

__all__ = ["LogSource", "log_sources", "open_instance_logs", "read_logs"]

JSON = dict[str, Any]


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


async def open_instance_logs(
    session: AbstractAsyncContextManager[Session], instance_id: str, options: LogOptions
) -> AsyncIterator[LogRecord]:
    """Open ``session``, pick the sources ``options`` ask for (default the main service)
    and return their records; the session closes when the records end or are closed
    (or here, if picking fails)."""
    stack = AsyncExitStack()
    ses = await stack.enter_async_context(session)
    try:
        wl, inspects = await ses.load(instance_id)
        service = options.service_name or wl.main.name
        sources = log_sources(ses.tr, wl, inspects, service, options.replica)
    except BaseException:
        await stack.aclose()
        raise

    async def records() -> AsyncIterator[LogRecord]:
        try:
            async for rec in read_logs(
                ses.engine,
                sources,
                follow=options.follow,
                tail=options.tail,
                since=options.since,
            ):
                yield rec
        finally:
            await stack.aclose()

    return records()


def log_sources(
    tr: Translator, wl: Workload, inspects: Sequence[JSON], service: str, replica: int | None
) -> list[LogSource]:
    """The containers of ``service`` (of ``replica`` unless ``None``), by replica;
    :class:`InvalidSpec` for an unknown service or replica."""
    try:
        wl.service(service)
    except KeyError:
        known = ", ".join(s.name for s in wl.services)
        raise InvalidSpec(
            [Problem("service_name", f"no service {service!r} (services: {known})")],
            subject="log options",
        ) from None
    keys = tr.labels
    sources = []
    for i in inspects:
        labels = i["Config"]["Labels"]
        r = int(labels.get(keys.replica, "0"))
        if labels.get(keys.service) != service or (replica is not None and r != replica):
            continue
        tty = bool((i.get("Config") or {}).get("Tty"))
        sources.append(LogSource(i["Id"], service, r, tty))
    if not sources:
        raise InvalidSpec(
            [Problem("replica", f"no replica {replica} of service {service!r}")],
            subject="log options",
        )
    return sorted(sources, key=lambda s: s.replica)
