"""Reading container logs through ``pods/log`` and merging them across pods.

Every request names the container (a pod holds every service), asks for timestamps (so
lines of several pods merge in time order and ``since`` is exact), and, where the server
supports it (the ``stream`` parameter of 1.32+ servers with ``PodLogsQuerySplitStreams``),
reads stdout and stderr separately when configured to (``log_streams="split"``);
otherwise every line is reported as stdout.

:func:`open_instance_logs` is the whole of ``logs``: it picks the pods (replica order) and
the containers that have started, and ties the connection's life to the stream's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from ctrlplane.errors import CtrlplaneError, InvalidSpec, Problem
from ctrlplane.provider.kubernetes.client import Cluster, LogResponse
from ctrlplane.provider.kubernetes.config import LogStreams
from ctrlplane.provider.kubernetes.context import Context, Settings
from ctrlplane.provider.kubernetes.instances import load, pods
from ctrlplane.provider.kubernetes.observe.loglines import LogSource, Stream, parse_line
from ctrlplane.provider.kubernetes.observe.pods import has_started, replica_order
from ctrlplane.provider.kubernetes.render.naming import BACKEND
from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import LogOptions

__all__ = ["open_instance_logs", "open_merged"]

_API_STREAMS = {"stdout": "Stdout", "stderr": "Stderr", None: ""}

Opened = tuple[LogResponse, LogSource, Stream]


def _params(
    source: LogSource, *, tail: int, since: datetime | None, follow: bool, stream: Stream | None
) -> dict[str, str]:
    """The query of one ``pods/log`` request."""
    params = {"container": source.container, "timestamps": "true"}
    if tail > 0:
        params["tailLines"] = str(tail)
    if since is not None:
        params["sinceTime"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if follow:
        params["follow"] = "true"
    if _API_STREAMS[stream]:
        params["stream"] = _API_STREAMS[stream]
    return params


def _what(source: LogSource) -> str:
    return f"read logs of {source.pod}/{source.container}"


async def _lines(
    resp: LogResponse, source: LogSource, stream: Stream, since: datetime | None
) -> AsyncIterator[LogRecord]:
    async for line in resp.lines():
        record = parse_line(line, source, stream)
        if record is not None and (since is None or record.time >= since):
            yield record


async def _splits(cluster: Cluster, source: LogSource) -> bool:
    """Whether the server accepts the ``stream`` parameter of ``pods/log``."""
    params = {"container": source.container, "stream": "Stderr", "tailLines": "1"}
    return await cluster.accepts(source.pod, params, "probe the log stream parameter")


async def open_merged(
    cluster: Cluster,
    sources: Sequence[LogSource],
    *,
    tail: int,
    since: datetime | None,
    follow: bool,
    split: bool = False,
) -> AsyncIterator[LogRecord]:
    """Connect to every source now (so errors raise here and a followed stream misses
    nothing that happens after this returns), then yield records in time order (followed:
    as they arrive). With ``split``, stdout and stderr are read apart where the server
    accepts the ``stream`` parameter. A pod deleted meanwhile contributes nothing."""
    split = split and bool(sources) and await _splits(cluster, sources[0])
    streams: list[Stream | None] = ["stdout", "stderr"] if split else [None]
    opened: list[Opened] = []
    try:
        for source in sources:
            for stream in streams:
                params = _params(source, tail=tail, since=since, follow=follow, stream=stream)
                resp = await cluster.open_log(
                    source.pod,
                    params,
                    follow=follow,
                    what=_what(source),
                    subject=f"logs of {source.service} (pod {source.pod})",
                )
                if resp is not None:
                    opened.append((resp, source, stream or "stdout"))
        if not follow:
            records: list[LogRecord] = []
            for resp, source, stream in opened:
                records += [r async for r in _lines(resp, source, stream, since)]
            records.sort(key=lambda r: (r.time, r.replica))
            if tail > 0:
                records = records[-tail:]
            return _iterate(records)
    except BaseException:
        for resp, _, _ in opened:
            await resp.aclose()
        raise
    return _follow(opened, since)


async def _iterate(records: Sequence[LogRecord]) -> AsyncIterator[LogRecord]:
    for record in records:
        yield record


async def _follow(opened: Sequence[Opened], since: datetime | None) -> AsyncIterator[LogRecord]:
    queue: asyncio.Queue[LogRecord | BaseException | None] = asyncio.Queue()

    async def pump(resp: LogResponse, source: LogSource, stream: Stream) -> None:
        try:
            async for record in _lines(resp, source, stream, since):
                await queue.put(record)
        except Exception as exc:  # handed to the consumer
            await queue.put(exc)
        finally:
            await queue.put(None)

    tasks = [asyncio.create_task(pump(*item)) for item in opened]
    open_count = len(tasks)
    try:
        while open_count:
            item = await queue.get()
            if item is None:
                open_count -= 1
            elif isinstance(item, BaseException):
                if isinstance(item, CtrlplaneError):
                    raise item
                raise CtrlplaneError(f"{BACKEND} logs: {item}") from item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for resp, _, _ in opened:
            await resp.aclose()


async def _sources(ctx: Context, instance_id: str, options: LogOptions) -> list[LogSource]:
    """The service's containers of the instance's pods in replica order (or the one
    replica asked for) that have started."""
    inst = await load(ctx, instance_id)
    name = options.service_name or inst.req.main.name
    if name not in {s.name for s in inst.req.services}:
        raise InvalidSpec(
            [Problem("service_name", f"no service {name!r} in instance {instance_id}")]
        )
    ordered = replica_order(await pods(ctx, instance_id))
    return [
        LogSource(pod=p["metadata"]["name"], container=name, service=name, replica=i)
        for i, p in enumerate(ordered)
        if (options.replica is None or options.replica == i) and has_started(p, name)
    ]


async def open_instance_logs(
    settings: Settings, instance_id: str, options: LogOptions
) -> AsyncIterator[LogRecord]:
    """The records of :meth:`~.provider.KubernetesProvider.logs` (its contract), merged
    (:func:`open_merged`); the stream closes its connection when it ends or is closed."""
    connection = settings.connect()
    ctx = await connection.__aenter__()
    try:
        records = await open_merged(
            ctx.cluster,
            await _sources(ctx, instance_id, options),
            tail=options.tail,
            since=options.since,
            follow=options.follow,
            split=ctx.config.log_streams is LogStreams.SPLIT,
        )
    except BaseException:
        await connection.__aexit__(None, None, None)
        raise
    return _Closing(records, connection)


class _Closing(AsyncIterator[LogRecord]):
    """Records that also close the connection when the stream ends or is closed (even if
    it was never read, when an async generator's ``finally`` would not run)."""

    def __init__(
        self,
        records: AsyncIterator[LogRecord],
        connection: contextlib.AbstractAsyncContextManager[Any],
    ) -> None:
        self._records = records
        self._connection: contextlib.AbstractAsyncContextManager[Any] | None = connection

    async def __anext__(self) -> LogRecord:
        try:
            return await self._records.__anext__()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        closer = getattr(self._records, "aclose", None)
        if closer is not None:
            await closer()
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.__aexit__(None, None, None)
