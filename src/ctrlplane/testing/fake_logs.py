"""Log streaming of the fake: the records behind ``FakeProvider.logs``.

Records of the selected service's containers (one replica, or all merged) in time order;
``since`` drops older records, ``tail`` keeps the last N of the merged history, and
``follow`` keeps polling for new records until the caller closes the stream, the
instance is deprovisioned, or none of the selected containers runs any more.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import LogOptions
from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.records import FakeContainer

__all__ = ["POLL_INTERVAL", "stream_records"]

POLL_INTERVAL = 0.01
"""Seconds between polls of a followed stream."""


def _selected(
    backend: FakeBackend, instance_id: str, service: str, replica: int | None
) -> list[FakeContainer]:
    record = backend.instances.get(instance_id)
    if record is None:
        return []
    return [c for c in record.containers(service) if replica is None or c.replica == replica]


async def stream_records(
    backend: FakeBackend, instance_id: str, service: str, opts: LogOptions
) -> AsyncIterator[LogRecord]:
    """Yield the records ``opts`` selects (checks were done by the caller)."""
    seen: dict[str, int] = {}
    first: list[LogRecord] = []
    for c in _selected(backend, instance_id, service, opts.replica):
        backend.catch_up(c)
        first += c.logs
        seen[c.container_id] = len(c.logs)
    first.sort(key=lambda r: r.time)
    if opts.since is not None:
        first = [r for r in first if r.time >= opts.since]
    if opts.tail > 0:
        first = first[-opts.tail :]
    for rec in first:
        yield rec
    if not opts.follow:
        return
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        containers = _selected(backend, instance_id, service, opts.replica)
        fresh: list[LogRecord] = []
        for c in containers:
            backend.catch_up(c)
            fresh += c.logs[seen.get(c.container_id, 0) :]
            seen[c.container_id] = len(c.logs)
        fresh.sort(key=lambda r: r.time)
        for rec in fresh:
            if opts.since is None or rec.time >= opts.since:
                yield rec
        if not any(c.running for c in containers):
            return
