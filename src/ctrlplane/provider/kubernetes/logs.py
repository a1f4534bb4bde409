"""Reading container logs through ``pods/log`` and merging them across pods.

Every request names the container (a pod holds every service), asks for timestamps (so
lines of several pods merge in time order and ``since`` is exact), and, where the server
supports it (the ``stream`` parameter of 1.32+ servers with ``PodLogsQuerySplitStreams``),
reads stdout and stderr separately when configured to (``log_streams="split"``);
otherwise every line is reported as stdout.

:func:`open_instance_logs` is the whole of ``logs``: it picks the pods (replica order) and
the containers that have started, and ties the API client's life to the stream's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx

from ctrlplane.errors import CtrlplaneError, InvalidSpec, Problem
from ctrlplane.provider.kubernetes.config import LogStreams
from ctrlplane.provider.kubernetes.errors import BACKEND, translated
from ctrlplane.provider.kubernetes.observe.loglines import LogSource, Stream, parse_line
from ctrlplane.provider.kubernetes.observe.pods import has_started, replica_order
from ctrlplane.provider.kubernetes.session import ClusterSession
from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import LogOptions

__all__ = ["LogSource", "open_instance_logs", "open_merged", "parse_line"]


class _Reader:
    def __init__(self, http: httpx.AsyncClient, namespace: str) -> None:
        self.http = http
        self.namespace = namespace

    def _params(
        self, source: LogSource, *, tail: int, since: datetime | None, follow: bool, stream: str
    ) -> dict[str, str]:
        params = {"container": source.container, "timestamps": "true"}
        if tail > 0:
            params["tailLines"] = str(tail)
        if since is not None:
            params["sinceTime"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if follow:
            params["follow"] = "true"
        if stream:
            params["stream"] = stream
        return params

    async def open(
        self,
        source: LogSource,
        *,
        tail: int,
        since: datetime | None,
        follow: bool,
        stream: Stream | None,
    ) -> httpx.Response | None:
        """The log response of one container (headers read); ``None`` if the pod is gone."""
        url = f"/api/v1/namespaces/{self.namespace}/pods/{source.pod}/log"
        api_stream = {"stdout": "Stdout", "stderr": "Stderr", None: ""}[stream]
        params = self._params(source, tail=tail, since=since, follow=follow, stream=api_stream)
        timeout = httpx.Timeout(30.0, read=None if follow else 30.0)
        with translated(f"read logs of {source.pod}/{source.container}"):
            request = self.http.build_request("GET", url, params=params, timeout=timeout)
            resp = await self.http.send(request, stream=True)
            if resp.status_code < 400:
                return resp
            body = (await resp.aread()).decode(errors="replace")
            await resp.aclose()
        if resp.status_code == 404:
            return None
        where = f"logs of {source.service} (pod {source.pod})"
        raise CtrlplaneError(f"{where}: HTTP {resp.status_code}: {body[:300]}")


async def _lines(
    resp: httpx.Response, source: LogSource, stream: Stream, since: datetime | None
) -> AsyncIterator[LogRecord]:
    try:
        with translated(f"read logs of {source.pod}/{source.container}"):
            async for line in resp.aiter_lines():
                record = parse_line(line, source, stream)
                if record is not None and (since is None or record.time >= since):
                    yield record
    finally:
        await resp.aclose()


async def _probe_split(http: httpx.AsyncClient, namespace: str, source: LogSource) -> bool:
    """Whether the server accepts the ``stream`` parameter of ``pods/log``."""
    url = f"/api/v1/namespaces/{namespace}/pods/{source.pod}/log"
    params = {"container": source.container, "stream": "Stderr", "tailLines": "1"}
    with translated("probe the log stream parameter"):
        resp = await http.get(url, params=params)
    return resp.status_code < 400


async def open_merged(
    http: httpx.AsyncClient,
    namespace: str,
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
    split = split and bool(sources) and await _probe_split(http, namespace, sources[0])
    reader = _Reader(http, namespace)
    streams: list[Stream | None] = ["stdout", "stderr"] if split else [None]
    opened: list[tuple[httpx.Response, LogSource, Stream]] = []
    try:
        for source in sources:
            for stream in streams:
                resp = await reader.open(
                    source, tail=tail, since=since, follow=follow, stream=stream
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


async def _follow(
    opened: Sequence[tuple[httpx.Response, LogSource, Stream]], since: datetime | None
) -> AsyncIterator[LogRecord]:
    queue: asyncio.Queue[LogRecord | BaseException | None] = asyncio.Queue()

    async def pump(resp: httpx.Response, source: LogSource, stream: Stream) -> None:
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


async def open_instance_logs(
    session: ClusterSession, instance_id: str, options: LogOptions
) -> AsyncIterator[LogRecord]:
    """The records of :meth:`~.provider.KubernetesProvider.logs` (its contract): the
    service's containers of the instance's pods in replica order (those that have started),
    merged; the stream closes its API client when it ends or is closed."""
    client_cm = session._client()
    client = await client_cm.__aenter__()
    try:
        inst = await session._load(client, instance_id)
        name = options.service_name or inst.req.main.name
        if name not in {s.name for s in inst.req.services}:
            raise InvalidSpec(
                [Problem("service_name", f"no service {name!r} in instance {instance_id}")]
            )
        pods = replica_order(await session._pods(client, instance_id))
        sources = [
            LogSource(pod=p["metadata"]["name"], container=name, service=name, replica=i)
            for i, p in enumerate(pods)
            if options.replica is None or options.replica == i
        ]
        by_name = {p["metadata"]["name"]: p for p in pods}
        sources = [s for s in sources if has_started(by_name[s.pod], s.container)]
        records = await open_merged(
            session._http(client),
            session.config.namespace,
            sources,
            tail=options.tail,
            since=options.since,
            follow=options.follow,
            split=session.config.log_streams is LogStreams.SPLIT,
        )
    except BaseException:
        await client_cm.__aexit__(None, None, None)
        raise
    return _Closing(records, client_cm)


class _Closing(AsyncIterator[LogRecord]):
    """Records that also close the API client when the stream ends or is closed (even if
    it was never read, when an async generator's ``finally`` would not run)."""

    def __init__(
        self, records: AsyncIterator[LogRecord], client: contextlib.AbstractAsyncContextManager[Any]
    ) -> None:
        self._records = records
        self._client: contextlib.AbstractAsyncContextManager[Any] | None = client

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
        client, self._client = self._client, None
        if client is not None:
            await client.__aexit__(None, None, None)
