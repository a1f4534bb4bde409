"""Reading container logs as typed records (I/O on one engine).

Each container's log is read with timestamps; frames are decoded (multiplexed or TTY),
split into lines and turned into :class:`LogRecord`. Several replicas are merged: without
``follow`` by time; with ``follow`` as lines arrive. The iterator ends when every
container's stream ends (the containers stopped) or when the caller closes it.
:func:`open_instance_logs` picks an instance's containers of one service (all replicas
or one) and reads them within one operation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from datetime import datetime

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider.docker.client import DockerClient
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.instances import load, pick_service
from ctrlplane.provider.docker.observe.logframes import FrameDecoder, LineSplitter, split_timestamp
from ctrlplane.provider.docker.observe.workload import replica_of
from ctrlplane.provider.docker.render.naming import Labels
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import LogOptions

__all__ = ["LogSource", "log_sources", "open_instance_logs", "read_logs"]


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
    client: DockerClient, src: LogSource, params: dict[str, str], *, follow: bool
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

    async with client.logs(src.ref, params, follow=follow) as chunks:
        async for chunk in chunks:
            for stream, payload in decoder.feed(chunk):
                for line in splitter.feed(stream, payload):
                    yield record(stream, line)
    for stream, line in splitter.flush():
        yield record(stream, line)


async def read_logs(
    client: DockerClient,
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
            collected.extend([r async for r in _records(client, src, params, follow=follow)])
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
            async for rec in _records(client, src, params, follow=follow):
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
    operation: AbstractAsyncContextManager[DockerContext], instance_id: str, options: LogOptions
) -> AsyncIterator[LogRecord]:
    """Open ``operation``, pick the sources ``options`` ask for (default the main
    service) and return their records; the operation's client closes when the records
    end or are closed (or here, if picking fails)."""
    stack = AsyncExitStack()
    ctx = await stack.enter_async_context(operation)
    try:
        wl, inspects = await load(ctx, instance_id)
        service = options.service_name or wl.main.name
        sources = log_sources(ctx.labels, wl, inspects, service, options.replica)
    except BaseException:
        await stack.aclose()
        raise

    async def records() -> AsyncIterator[LogRecord]:
        try:
            async for rec in read_logs(
                ctx.client,
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
    keys: Labels, wl: Workload, inspects: Sequence[JSON], service: str, replica: int | None
) -> list[LogSource]:
    """The containers of ``service`` (of ``replica`` unless ``None``), by replica;
    :class:`InvalidSpec` for an unknown service or replica."""
    pick_service(wl, service, field="service_name", subject="log options")
    sources = []
    for i in inspects:
        r = replica_of(keys, i)
        if i["Config"]["Labels"].get(keys.service) != service or (
            replica is not None and r != replica
        ):
            continue
        tty = bool((i.get("Config") or {}).get("Tty"))
        sources.append(LogSource(i["Id"], service, r, tty))
    if not sources:
        raise InvalidSpec(
            [Problem("replica", f"no replica {replica} of service {service!r}")],
            subject="log options",
        )
    return sorted(sources, key=lambda s: s.replica)
