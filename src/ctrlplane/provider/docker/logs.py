"""Reading container logs as typed records (I/O on one engine).

Each container's log is read with timestamps; frames are decoded (multiplexed or TTY),
split into lines and turned into :class:`LogRecord` a chunk at a time
(:class:`~.observe.logframes.LogLines`). Several replicas are merged: without ``follow``
by time (each container's log is in time order: one pending record per container), with
``follow`` as lines arrive. Nothing is collected: memory does not grow with the log.
The iterator ends when every container's stream ends (the containers stopped) or when
the caller closes it.
:func:`open_instance_logs` picks an instance's containers of one service (all replicas
or one) and reads them within one operation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, aclosing
from dataclasses import dataclass
from datetime import datetime

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider.docker.client import DockerClient
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.instances import load, pick_service
from ctrlplane.provider.docker.observe.logframes import LogLines, Stream
from ctrlplane.provider.docker.observe.workload import replica_of
from ctrlplane.provider.docker.render.naming import Labels
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import LogOptions
from ctrlplane.provider.streams import as_they_come, merge_by_time

__all__ = ["LogSource", "log_sources", "open_instance_logs", "read_batches"]


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
        params["since"] = since_param(since)
    return params


def since_param(since: datetime) -> str:
    """``since`` as the engine reads it (``<seconds>.<nanoseconds>``), exact to the
    microsecond: a float timestamp can land a little after a line's own time (a line
    whose time is ``since`` itself) and drop it."""
    whole = round(since.replace(microsecond=0).timestamp())
    return f"{whole}.{since.microsecond:06d}000"


_FIELDS = tuple(LogRecord.model_fields)
_new = LogRecord.__new__
_set = object.__setattr__


def _record(when: datetime, service: str, replica: int, stream: Stream, line: str) -> LogRecord:
    """A :class:`LogRecord` of values that already have their types (an aware time, the
    stream's name), made without running the validators: what ``LogRecord(...)`` gives
    for them, at a fraction of the cost (the log reader makes one per line; a test
    keeps the two equal)."""
    record = _new(LogRecord)
    _set(
        record,
        "__dict__",
        {"time": when, "service": service, "replica": replica, "stream": stream, "line": line},
    )
    _set(record, "__pydantic_fields_set__", set(_FIELDS))
    _set(record, "__pydantic_extra__", None)
    _set(record, "__pydantic_private__", None)
    return record


async def _batches(
    client: DockerClient, src: LogSource, params: dict[str, str], *, follow: bool
) -> AsyncIterator[list[LogRecord]]:
    """The records of one container, a list per chunk the engine sent."""
    reader = LogLines(tty=src.tty)
    service, replica = src.service, src.replica
    async with client.logs(src.ref, params, follow=follow) as chunks:
        async for chunk in chunks:
            lines = reader.feed(chunk)
            if lines:
                yield [_record(when, service, replica, s, text) for s, when, text in lines]
    rest = reader.flush()
    if rest:
        yield [_record(when, service, replica, s, text) for s, when, text in rest]


async def _records(
    client: DockerClient, src: LogSource, params: dict[str, str], *, follow: bool
) -> AsyncGenerator[LogRecord, None]:
    async for batch in _batches(client, src, params, follow=follow):
        for record in batch:
            yield record


async def _by_time(
    streams: Sequence[AsyncIterator[LogRecord]], tail: int
) -> AsyncIterator[LogRecord]:
    """The records of ``streams`` (each in time order) in time order
    (:func:`~ctrlplane.provider.streams.merge_by_time`: one held per stream), with
    ``tail`` only the last ``tail`` merged ones (the engine sent at most that many per
    stream)."""
    if tail <= 0:
        async for record in merge_by_time(streams):
            yield record
        return
    last: deque[LogRecord] = deque(maxlen=tail)
    async for record in merge_by_time(streams):
        last.append(record)
    for record in last:
        yield record


async def read_batches(
    client: DockerClient,
    sources: Sequence[LogSource],
    *,
    follow: bool,
    tail: int,
    since: datetime | None,
) -> AsyncIterator[list[LogRecord]]:
    """The records of ``sources`` (see the module docstring), streamed a list at a time
    (as the engine's chunks came: one step of iteration per chunk, not per line).
    Memory holds a chunk's records per container (and the last ``tail`` ones when
    several containers are merged by time), whatever the length of the logs."""
    params = _params(follow, tail, since)
    if len(sources) == 1:
        async for batch in _batches(client, sources[0], params, follow=follow):
            yield batch
        return
    if not follow:
        streams = [_records(client, src, params, follow=False) for src in sources]
        try:
            async for record in _by_time(streams, tail):
                yield [record]
        finally:
            for stream in streams:
                await stream.aclose()
        return
    batches = [_batches(client, src, params, follow=follow) for src in sources]
    async with aclosing(as_they_come(batches, buffer=16)) as arriving:
        async for batch in arriving:
            yield batch


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
            async for batch in read_batches(
                ctx.client,
                sources,
                follow=options.follow,
                tail=options.tail,
                since=options.since,
            ):
                for rec in batch:
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
