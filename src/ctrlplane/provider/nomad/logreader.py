"""Reading logs from the client fs logs API (history by offset, then following).

See :meth:`~ctrlplane.provider.nomad.NomadProvider.logs` and
:mod:`~ctrlplane.provider.nomad.logframes` (frames, lines and their times).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from ctrlplane.errors import (
    CtrlplaneError,
    NotSupported,
)
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.nomad.client import BACKEND, NomadClient
from ctrlplane.provider.nomad.logframes import FrameDecoder, LineSplitter
from ctrlplane.provider.nomad.status import (
    alloc_replica,
    current_allocs,
    parse_time,
)
from ctrlplane.provider.nomad.waits import JobReader
from ctrlplane.provider.results import (
    LogRecord,
)
from ctrlplane.provider.spec import (
    LogOptions,
)

__all__ = ["LogReader", "check_since", "first_start"]

log = logging.getLogger("ctrlplane.nomad")

JSON = dict[str, Any]


def first_start(alloc: JSON, service: str) -> datetime:
    """When ``service``'s task first started in ``alloc`` (its log file begins then)."""
    task = (alloc.get("TaskStates") or {}).get(service) or {}
    started = [e for e in task.get("Events") or [] if e.get("Type") == "Started"]
    if started:
        return datetime.fromtimestamp(int(started[0]["Time"]) / 1e9, UTC)
    return parse_time(task.get("StartedAt")) or datetime.now(UTC)


def check_since(allocs: Sequence[JSON], service: str, since: datetime | None) -> None:
    """Refuse a ``since`` that Nomad's logs cannot answer exactly.

    Nomad's log files carry no per-line timestamps, so a line is only known to be
    written after its task first started in its allocation. ``since`` at or before every
    selected task's first start is exact (every line qualifies); a later ``since`` would
    need per-line times and raises :class:`NotSupported` instead of guessing.
    """
    if since is None:
        return
    starts = [first_start(a, service) for a in allocs]
    late = [t for t in starts if since > t]
    if late:
        raise NotSupported(
            BACKEND,
            Capability.LOGS.value,
            detail=f"since {since.isoformat()} is after {service!r} started "
            f"({min(late).isoformat()}) and Nomad's log files carry no per-line timestamps; "
            "use tail (lines from the end) or follow instead",
        )


class LogReader(JobReader):
    """Log history and follow streams of one service over its allocations."""

    async def _log_allocs(self, api: NomadClient, iid: str, job: JSON) -> list[JSON]:
        allocs = await self._allocs(api, iid)
        current = current_allocs(job, allocs)
        if current:
            return current
        # a stopped job: the newest allocation of each replica keeps its logs
        newest: dict[int, JSON] = {}
        for alloc in sorted(allocs, key=lambda a: int(a.get("CreateTime", 0))):
            newest[alloc_replica(alloc)] = alloc
        return [newest[k] for k in sorted(newest)]

    async def _history_lines(
        self, api: NomadClient, alloc_id: str, task: str, stream: str, tail: int
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
            async with api.stream(f"/v1/client/fs/logs/{alloc_id}", **params) as resp:
                async for chunk in resp.aiter_bytes():
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

    async def _read_logs(
        self, allocs: Sequence[JSON], service: str, opts: LogOptions
    ) -> AsyncIterator[LogRecord]:
        api = self._client()
        try:
            records: list[LogRecord] = []
            ends: dict[tuple[str, str], int] = {}
            for alloc in allocs:
                first = first_start(alloc, service)
                for stream in ("stdout", "stderr"):
                    lines, end = await self._history_lines(
                        api, str(alloc["ID"]), service, stream, opts.tail
                    )
                    ends[(str(alloc["ID"]), stream)] = end
                    records += [
                        LogRecord(
                            time=first,
                            service=service,
                            replica=alloc_replica(alloc),
                            stream="stderr" if stream == "stderr" else "stdout",
                            line=line,
                        )
                        for line in lines
                    ]
            if opts.tail:
                records = records[-opts.tail :]
            for record in records:
                yield record
            if not opts.follow:
                return
            queue: asyncio.Queue[LogRecord | None] = asyncio.Queue()
            followers = [
                asyncio.create_task(
                    self._follow(
                        api, alloc, service, stream, ends[(str(alloc["ID"]), stream)], queue
                    )
                )
                for alloc in allocs
                for stream in ("stdout", "stderr")
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
        finally:
            await api.__aexit__(None, None, None)

    async def _follow(
        self,
        api: NomadClient,
        alloc: JSON,
        service: str,
        stream: str,
        offset: int,
        queue: asyncio.Queue[LogRecord | None],
    ) -> None:
        try:
            params = {
                "task": service,
                "type": stream,
                "follow": "true",
                "origin": "start",
                "offset": str(offset),
            }
            decoder, splitter = FrameDecoder(), LineSplitter()
            async with api.stream(f"/v1/client/fs/logs/{alloc['ID']}", **params) as resp:
                async for chunk in resp.aiter_bytes():
                    for frame in decoder.feed(chunk):
                        for line in splitter.feed(frame.data):
                            await queue.put(
                                LogRecord(
                                    time=datetime.now(UTC),
                                    service=service,
                                    replica=alloc_replica(alloc),
                                    stream="stderr" if stream == "stderr" else "stdout",
                                    line=line,
                                )
                            )
        except CtrlplaneError as exc:
            # The allocation went away or the agent dropped the stream: this follower ends
            # and the merged stream ends once every follower has.
            log.debug("log follower of %s/%s ended: %s", alloc.get("ID"), service, exc)
        finally:
            queue.put_nowait(None)
