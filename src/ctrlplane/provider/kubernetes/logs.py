"""Reading container logs through ``pods/log`` and merging them across pods.

Every request names the container (a pod holds every service) and asks for timestamps
(nanoseconds: lines of several pods and of both streams merge in time order, and
``since`` is exact). A container's log comes in file order, not time order across stdout
and stderr, so records are sorted by their stamps.

With ``log_streams="split"`` stdout and stderr are read apart through the ``stream``
parameter where the server honours it. That is found out by behaviour, not by the
answer's status: a server without the ``PodLogsQuerySplitStreams`` feature (1.21, or
1.32+ with the feature off) answers 200 and ignores the parameter, even ``stream=Bogus``,
returning every line for each stream. :func:`_splits` reads the first bytes of one
container's log as stdout and as stderr: the same text twice means the parameter is
ignored (the lines are then read once, as stdout); an error answer means the same. A
specific stream cannot be combined with ``tailLines``, so a tail in split mode is found
with one merged read (the oldest stamp of the last lines) and the streams are read from
that stamp on.

:func:`open_instance_logs` is the whole of ``logs``: it picks the pods (replica order) and
the containers that have started, and ties the connection's life to the stream's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ctrlplane.errors import CtrlplaneError, InvalidSpec, Problem
from ctrlplane.provider.kubernetes.client import Cluster, LogResponse
from ctrlplane.provider.kubernetes.config import LogStreams
from ctrlplane.provider.kubernetes.context import Context, Settings
from ctrlplane.provider.kubernetes.instances import load, pods
from ctrlplane.provider.kubernetes.observe.loglines import Line, LogSource, Stream, parse_line
from ctrlplane.provider.kubernetes.observe.pods import has_started, replica_order
from ctrlplane.provider.kubernetes.render.naming import BACKEND
from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import LogOptions
from ctrlplane.provider.streams import as_they_come

__all__ = ["open_instance_logs", "open_merged"]

_API_STREAMS = {"stdout": "Stdout", "stderr": "Stderr", None: ""}

PROBE_BYTES = 4096
"""How much of a container's log :func:`_splits` reads per stream."""

TAIL_SLACK = 16
"""Extra lines asked for with a tail (not followed): the file's last lines are not quite
the last by time, so a few more are read and the newest ``tail`` by time are kept."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Opened = tuple[LogResponse, LogSource, Stream, int | None]
"""An open log: its response, source, stream and the oldest stamp (ns) to keep."""


def _params(
    source: LogSource,
    *,
    tail: int,
    since: datetime | None,
    follow: bool,
    stream: Stream | None,
) -> dict[str, str]:
    """The query of one ``pods/log`` request (``tail`` only without a ``stream``; with
    :data:`TAIL_SLACK` more lines when not followed)."""
    params = {"container": source.container, "timestamps": "true"}
    if tail > 0 and stream is None:
        params["tailLines"] = str(tail if follow else tail + TAIL_SLACK)
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
    resp: LogResponse,
    source: LogSource,
    stream: Stream,
    since: datetime | None,
    floor: int | None,
) -> AsyncIterator[Line]:
    async for text in resp.lines():
        line = parse_line(text, source, stream)
        if line is None or (floor is not None and line.at_ns < floor):
            continue
        if since is None or line.record.time >= since:
            yield line


async def _probe(cluster: Cluster, source: LogSource, stream: str) -> str | None:
    """The first :data:`PROBE_BYTES` of ``source``'s log asked for as ``stream``."""
    params = {"container": source.container, "timestamps": "true", "stream": stream}
    params["limitBytes"] = str(PROBE_BYTES)
    return await cluster.read_log(source.pod, params, "find out how the server reads streams")


async def _splits(cluster: Cluster, sources: Sequence[LogSource]) -> bool:
    """Whether the server honours the ``stream`` parameter of ``pods/log`` (see the
    module), decided by the first container with any output (undecided: merged).

    Stderr is read first, then stdout: a server that ignores the parameter returns the
    same log twice, the first read a prefix of the second (the log may have grown
    between them). When only stdout has lines, stderr is read once more: still empty,
    the server honours the parameter (the container wrote nothing to stderr)."""
    for source in sources:
        err, out = await _probe(cluster, source, "Stderr"), await _probe(cluster, source, "Stdout")
        if err == "" and out:
            err = await _probe(cluster, source, "Stderr")
        if err is None or out is None:
            return False
        if err:
            return not (out.startswith(err) or err.startswith(out))
        if out:
            return True
    return False


async def _tail_start(cluster: Cluster, source: LogSource, tail: int) -> int | None:
    """The stamp (ns) of the ``tail``-th newest line of ``source``'s log (read merged,
    with :data:`TAIL_SLACK` more lines); ``None`` when the log is empty (or unreadable:
    then nothing is cut)."""
    lines = str(tail + TAIL_SLACK)
    params = {"container": source.container, "timestamps": "true", "tailLines": lines}
    text = await cluster.read_log(source.pod, params, _what(source))
    stamps = sorted(
        line.at_ns
        for raw in (text or "").splitlines()
        if (line := parse_line(raw, source, "stdout")) is not None
    )
    return stamps[-tail:][0] if stamps else None


def _later(since: datetime | None, floor: int | None) -> datetime | None:
    """The later of ``since`` and the stamp ``floor`` (whole seconds, for ``sinceTime``)."""
    if floor is None:
        return since
    at = _EPOCH + timedelta(seconds=floor // 1_000_000_000)
    return at if since is None or at > since else since


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
    honours the ``stream`` parameter. A pod deleted meanwhile contributes nothing."""
    split = split and bool(sources) and await _splits(cluster, sources)
    opened: list[Opened] = []
    try:
        for source in sources:
            floor = await _tail_start(cluster, source, tail) if split and tail > 0 else None
            streams: list[Stream | None] = ["stdout", "stderr"] if split else [None]
            for stream in streams:
                params = _params(
                    source, tail=tail, since=_later(since, floor), follow=follow, stream=stream
                )
                resp = await cluster.open_log(
                    source.pod,
                    params,
                    follow=follow,
                    what=_what(source),
                    subject=f"logs of {source.service} (pod {source.pod})",
                )
                if resp is not None:
                    opened.append((resp, source, stream or "stdout", floor))
        if not follow:
            found: list[Line] = []
            for resp, source, stream, floor in opened:
                found += [line async for line in _lines(resp, source, stream, since, floor)]
            found.sort(key=lambda line: (line.at_ns, line.record.replica))
            records = [line.record for line in found]
            if tail > 0:
                records = records[-tail:]
            return _iterate(records)
    except BaseException:
        for resp, _, _, _ in opened:
            await resp.aclose()
        raise
    return _follow(opened, since)


async def _iterate(records: Sequence[LogRecord]) -> AsyncIterator[LogRecord]:
    for record in records:
        yield record


async def _follow(opened: Sequence[Opened], since: datetime | None) -> AsyncIterator[LogRecord]:
    """The records of every open log as they arrive
    (:func:`~ctrlplane.provider.streams.as_they_come`); an error of one that is not a
    :class:`CtrlplaneError` becomes one. The responses close when this ends."""
    lines = [
        (line.record async for line in _lines(resp, source, stream, since, floor))
        for resp, source, stream, floor in opened
    ]
    try:
        async with contextlib.aclosing(as_they_come(lines, buffer=0)) as arriving:
            async for record in arriving:
                yield record
    except CtrlplaneError:
        raise
    except Exception as exc:
        raise CtrlplaneError(f"{BACKEND} logs: {exc}") from exc
    finally:
        for resp, _, _, _ in opened:
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
    (:func:`open_merged`); the stream closes its connection when it ends or is closed.
    Opening is a read-only operation (its errors are scrubbed); the records are the
    containers' own output, as they printed it."""
    async with settings.ops.reading(instance_id, "logs") as op:
        connection = settings.connect(op)
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
