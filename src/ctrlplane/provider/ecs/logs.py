"""Logs from CloudWatch Logs (I/O): the ``awslogs`` streams of the instance's tasks.

Each container of each task writes to ``<log_group>`` stream
``<instance>/<service>/<task id>``. :func:`select` picks the service (default the main
one) and the tasks: the live service's current tasks in replica order (only
``opts.replica``'s if set), or, when none runs (a stopped instance), the newest stopped
ones. :func:`read` reads their streams with ``GetLogEvents``: everything, ``since`` a time
(from that millisecond on), or the last ``tail`` lines; merged in time order; with
``follow`` it then polls every ``poll_interval`` from each stream's forward token and
ends once every selected task stopped (after reading what they wrote last). The stream
has an AWS client of its own, for as long as it is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.ecs.context import EcsContext
from ctrlplane.provider.ecs.instances import current_tasks, require, stopped_tasks
from ctrlplane.provider.ecs.observe.logevents import merge, records, to_ms
from ctrlplane.provider.ecs.observe.tasks import ordered, task_id
from ctrlplane.provider.ecs.render.names import stream_name
from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import LogOptions

__all__ = ["Selection", "last_lines", "read", "select"]

_PAGE = 10_000


@dataclass
class Selection:
    """What a log stream reads: the instance, the service, and the tasks by replica."""

    instance_id: str
    service: str
    live: str
    tasks: list[tuple[int, JSON]] = field(default_factory=list)


async def select(ctx: EcsContext, instance_id: str, opts: LogOptions) -> Selection:
    """The service and tasks to read (see the module docs); ``InvalidSpec`` for an
    unknown service or replica."""
    inst = await require(ctx, instance_id)
    req = inst.request
    service = opts.service_name or req.main.name
    if service not in {s.name for s in req.services}:
        names = ", ".join(s.name for s in req.services)
        raise InvalidSpec(
            [
                Problem(
                    "service_name", f"no service {service!r} in {instance_id!r} (it has {names})"
                )
            ],
            subject="log options",
        )
    tasks = ordered(await current_tasks(ctx, inst.name))
    if not tasks:
        stopped = sorted(
            await stopped_tasks(ctx, inst.name), key=lambda t: str(t.get("stoppedAt") or "")
        )
        tasks = ordered(stopped[-inst.remembered :])
    chosen = list(enumerate(tasks))
    if opts.replica is not None:
        chosen = [(r, t) for r, t in chosen if r == opts.replica]
        if not chosen:
            raise InvalidSpec(
                [Problem("replica", f"replica {opts.replica} does not exist ({len(tasks)} run)")],
                subject="log options",
            )
    return Selection(instance_id, service, inst.name, chosen)


async def _history(
    ctx: EcsContext, sel: Selection, opts: LogOptions
) -> tuple[list[LogRecord], dict[str, str]]:
    """The records so far and each stream's forward token."""
    group = ctx.config.log_group
    groups: list[list[LogRecord]] = []
    tokens: dict[str, str] = {}
    for replica, task in sel.tasks:
        stream = stream_name(sel.instance_id, sel.service, task_id(task))
        mine: list[LogRecord] = []
        if opts.tail and opts.since is None:
            page = await ctx.api.log_events(group, stream, from_head=False, limit=opts.tail)
            if page is not None:
                mine = records(page.get("events") or [], sel.service, replica)
                tokens[stream] = str(page.get("nextForwardToken", ""))
        else:
            start = to_ms(opts.since) if opts.since is not None else None
            token: str | None = None
            while True:
                page = await ctx.api.log_events(
                    group, stream, start_ms=start, from_head=True, limit=_PAGE, token=token
                )
                if page is None:
                    break
                events = page.get("events") or []
                mine += records(events, sel.service, replica)
                following = str(page.get("nextForwardToken", ""))
                tokens[stream] = following
                if not events or following == token:
                    break
                token = following
        groups.append(mine)
    merged = merge(groups)
    if opts.tail:
        merged = merged[-opts.tail :]
    return merged, tokens


async def read(
    ctx_factory: Callable[[], AbstractAsyncContextManager[EcsContext]],
    sel: Selection,
    opts: LogOptions,
) -> AsyncIterator[LogRecord]:
    """The records of ``sel`` (see the module docs), on a client of the stream's own."""
    async with ctx_factory() as ctx:
        history, tokens = await _history(ctx, sel, opts)
        for record in history:
            yield record
        if not opts.follow:
            return
        poll = seconds(ctx.config.poll_interval)
        arns = [str(t["taskArn"]) for _, t in sel.tasks]
        replicas = {stream_name(sel.instance_id, sel.service, task_id(t)): r for r, t in sel.tasks}
        done = not arns
        while True:
            await asyncio.sleep(poll)
            if not done:
                described = await ctx.api.describe_tasks(arns)
                done = all(t.get("lastStatus") == "STOPPED" for t in described)
            fresh: list[list[LogRecord]] = []
            for stream, replica in replicas.items():
                token = tokens.get(stream)
                page = await ctx.api.log_events(
                    ctx.config.log_group, stream, from_head=True, limit=_PAGE, token=token or None
                )
                if page is None:
                    continue
                fresh.append(records(page.get("events") or [], sel.service, replica))
                tokens[stream] = str(page.get("nextForwardToken", "") or token or "")
            for record in merge(fresh):
                yield record
            if done:
                return


async def last_lines(
    ctx: EcsContext, instance_id: str, container: str, task: JSON, count: int = 5
) -> str:
    """The last ``count`` lines a task's container wrote, joined by `` | `` (``""`` if
    none could be read)."""
    stream = stream_name(instance_id, container, task_id(task))
    try:
        page = await ctx.api.log_events(ctx.config.log_group, stream, from_head=False, limit=count)
    except Exception:  # an excerpt is a courtesy: its failure must not hide the error
        return ""
    lines = [str(e.get("message", "")).rstrip("\n") for e in (page or {}).get("events") or []]
    return " | ".join(lines)
