"""``logs``: an instance's log lines, of every service (default) or of the ``-s`` ones,
coloured for people.

Each line is prefixed ``service[replica]`` (and the engine's time with
``--timestamps``); stderr lines go to stderr. With one service, replicas get different
colours; with several, each service gets its own colour. Without ``--follow`` the lines
of several services are merged in time order; with it, lines are printed as they
arrive. ``-o json`` prints one record per line. The services are the live release's
(or, for a provider without a release history, the status').

Lines are written as they are read, never collected: the merge holds one pending
record per service (:mod:`ctrlplane.provider.streams`), so the memory used does not grow
with the log's length (what the provider itself buffers aside). A reader that goes
away (``ctrlplane logs web | head``) ends the command quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import TextIO

import click

from ctrlplane.cli.completion import complete_instances
from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.options import global_options, services_option
from ctrlplane.durations import coerce_duration
from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider import LogOptions, LogRecord, Provider, ReleaseHistory, ServiceRole
from ctrlplane.provider.streams import as_they_come, merge_by_time

__all__ = ["logs_cmd", "parse_since"]

_COLOURS = ("cyan", "magenta", "yellow", "green", "blue", "red")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: a duration back from now (``10m``, ``90`` seconds) or an RFC 3339 time."""
    try:
        span = coerce_duration(text, numbers_are_seconds=True)
    except (TypeError, ValueError):
        span = None  # not a duration: try a point in time
    if span is not None:
        return (now or datetime.now(UTC)) - span
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSpec(
            [Problem("--since", f"{text!r} is neither a duration (10m) nor a time (RFC 3339)")],
            subject="option",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Printer:
    """Writes records as they come: JSON lines, or ``service[replica] line`` coloured per
    service (when several are shown) or per replica; stderr lines to stderr.

    Lines are written to the streams' own buffers (a terminal shows each line at once;
    a pipe gets them in blocks), the other stream is flushed before a line changes
    stream so the order is kept, and ``flush_each`` (``--follow``) flushes every line.
    Colour only where the stream is a terminal and ``NO_COLOR`` is unset.
    """

    def __init__(
        self,
        services: Sequence[str],
        json_mode: bool,
        timestamps: bool = False,
        *,
        flush_each: bool = False,
    ) -> None:
        self._services = list(services)
        self._json = json_mode
        self._timestamps = timestamps
        self._flush_each = flush_each
        self._out: TextIO = sys.stdout
        self._err: TextIO = sys.stderr
        self._last: TextIO | None = None
        self._prefixes: dict[tuple[str, int, bool], str] = {}
        plain = bool(os.environ.get("NO_COLOR"))
        self._colour = {
            id(self._out): not plain and self._out.isatty(),
            id(self._err): not plain and self._err.isatty(),
        }

    def _prefix(self, rec: LogRecord, stream: TextIO) -> str:
        colour = self._colour[id(stream)]
        key = (rec.service, rec.replica, colour)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = f"{rec.service}[{rec.replica}]"
            if colour:
                if len(self._services) > 1 and rec.service in self._services:
                    index = self._services.index(rec.service)
                else:
                    index = rec.replica
                prefix = click.style(prefix, fg=_COLOURS[index % len(_COLOURS)])
            self._prefixes[key] = prefix
        return prefix

    def __call__(self, rec: LogRecord) -> None:
        if self._json:
            stream, text = self._out, rec.to_json()
        else:
            stream = self._err if rec.stream == "stderr" else self._out
            text = f"{self._prefix(rec, stream)} {rec.line}"
            if self._timestamps:
                text = rec.time.isoformat(timespec="milliseconds") + " " + text
        if self._last is not None and self._last is not stream:
            self._last.flush()
        self._last = stream
        stream.write(text + "\n")
        if self._flush_each:
            stream.flush()

    def close(self) -> None:
        """Flush what is buffered."""
        for stream in (self._out, self._err):
            stream.flush()


async def _show(provider: Provider, iid: str, options: list[LogOptions], show: _Printer) -> None:
    """Open every stream (concurrently), then write their records as they are read:
    merged in time order, or as they arrive with ``--follow``."""
    async with contextlib.AsyncExitStack() as stack:
        streams = []
        for opts in options:
            stream = provider.logs(iid, opts)
            stack.push_async_callback(stream.aclose)
            streams.append(stream)
        await asyncio.gather(*(s.open() for s in streams))
        records: AsyncIterator[LogRecord]
        if len(streams) == 1:
            records = streams[0]
        elif options[0].follow:
            records = as_they_come(streams)
        else:
            records = merge_by_time(streams)
        try:
            async for rec in records:
                show(rec)
        finally:
            closer = getattr(records, "aclose", None)
            if closer is not None:
                await closer()


def _quiet_broken_pipe() -> None:
    """The reader of our output went away (``logs | head``): point stdout at /dev/null
    so that the interpreter's last flush does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


async def service_names(provider: Provider, iid: str) -> list[str]:
    """Every long-lived service of the instance (inits too: their logs matter), in the
    live release's order; the status' services for a provider without a history."""
    if isinstance(provider, ReleaseHistory):
        history = await provider.releases(iid)
        live = next((r for r in history if r.live), history[0] if history else None)
        if live is not None:
            if live.specs:
                inits = [s.name for s in live.specs if s.role is ServiceRole.INIT]
                return inits + [s.name for s in live.specs if s.role is not ServiceRole.INIT]
            return [s.name for s in live.services]
    return sorted((await provider.status(iid)).services)


@click.command("logs")
@click.argument("instance", shell_complete=complete_instances)
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines.")
@click.option("--since", default=None, help="Only lines newer than a duration (10m) or time.")
@click.option(
    "-n",
    "--tail",
    type=click.IntRange(min=0),
    default=0,
    help="Only the last N lines of each service (0: all).",
)
@click.option("-t", "--timestamps", is_flag=True, help="Prefix each line with its time.")
@services_option("Service to read (default: every service); repeat for several.")
@click.option("--replica", type=int, default=None, help="One replica (default: all).")
@global_options()
@pass_state
def logs_cmd(
    state: CliState,
    instance: str,
    follow: bool,
    since: str | None,
    tail: int,
    timestamps: bool,
    services: tuple[str, ...],
    replica: int | None,
) -> None:
    """Print the logs of an instance's services, prefixed service[replica].

    Every service by default (-s picks some), each in its own colour. -n/--tail
    applies to each service. Without -f the lines of several services are merged in
    time order; with -f they are printed as they arrive, until Ctrl-C.

    Example: ctrlplane logs hello-web --since 5m -n 20 --timestamps
    """
    start = parse_since(since) if since else None
    provider = state.provider()

    async def go() -> None:
        iid, _ = await resolve_instance(provider, instance, state.tenant_id)
        names = list(dict.fromkeys(services)) or await service_names(provider, iid)
        options = [
            LogOptions(service_name=name, follow=follow, since=start, tail=tail, replica=replica)
            for name in names or [""]
        ]
        show = _Printer([n for n in names if n], state.json, timestamps, flush_each=follow)
        try:
            await _show(provider, iid, options, show)
        finally:
            show.close()

    try:
        run(go())
    except BrokenPipeError:
        _quiet_broken_pipe()
