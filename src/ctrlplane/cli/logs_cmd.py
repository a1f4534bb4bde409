"""``logs``: an instance's log lines, of one service or several, coloured for people.

Each line is prefixed ``service[replica]``; stderr lines go to stderr. With one service,
replicas get different colours; with several (``-s`` repeated), each service gets its
own colour. Without ``--follow`` the lines of several services are merged in time order;
with it, lines are printed as they arrive. ``-o json`` prints one record per line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import click

from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.durations import coerce_duration
from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider import LogOptions, LogRecord, Provider

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
    """Writes records: JSON lines, or ``service[replica] line`` coloured per service (when
    several are shown) or per replica."""

    def __init__(self, services: Sequence[str], json_mode: bool) -> None:
        self._services = list(services)
        self._json = json_mode

    def __call__(self, rec: LogRecord) -> None:
        if self._json:
            click.echo(rec.to_json())
            return
        if len(self._services) > 1 and rec.service in self._services:
            colour = _COLOURS[self._services.index(rec.service) % len(_COLOURS)]
        else:
            colour = _COLOURS[rec.replica % len(_COLOURS)]
        prefix = click.style(f"{rec.service}[{rec.replica}]", fg=colour)
        click.echo(f"{prefix} {rec.line}", err=rec.stream == "stderr")


async def _collect(provider: Provider, iid: str, opts: LogOptions) -> list[LogRecord]:
    async with provider.logs(iid, opts) as records:
        return [rec async for rec in records]


async def _follow(provider: Provider, iid: str, opts: LogOptions, show: _Printer) -> None:
    async with provider.logs(iid, opts) as records:
        async for rec in records:
            show(rec)


async def _show(provider: Provider, iid: str, options: list[LogOptions], show: _Printer) -> None:
    if len(options) == 1:
        await _follow(provider, iid, options[0], show)
    elif options[0].follow:
        await asyncio.gather(*(_follow(provider, iid, o, show) for o in options))
    else:
        batches = await asyncio.gather(*(_collect(provider, iid, o) for o in options))
        for rec in sorted((r for batch in batches for r in batch), key=lambda r: r.time):
            show(rec)


@click.command("logs")
@click.argument("instance")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines.")
@click.option("--since", default=None, help="Only lines newer than a duration (10m) or time.")
@click.option("--tail", type=int, default=0, help="Only the last N lines (0: all).")
@click.option(
    "-s",
    "--service",
    "services",
    multiple=True,
    help="Service to read (default: main); repeat for several, each in its own colour.",
)
@click.option("--replica", type=int, default=None, help="One replica (default: all).")
@pass_state
def logs_cmd(
    state: CliState,
    instance: str,
    follow: bool,
    since: str | None,
    tail: int,
    services: tuple[str, ...],
    replica: int | None,
) -> None:
    """Print an instance's logs, prefixed service[replica] and coloured.

    --tail applies to each service. Without -f the lines of several services are
    merged in time order; with -f they are printed as they arrive, until Ctrl-C.

    Example: ctrlplane logs hello-web -f --since 5m -s web -s sidecar
    """
    start = parse_since(since) if since else None
    names = list(dict.fromkeys(services)) or [""]
    options = [
        LogOptions(service_name=name, follow=follow, since=start, tail=tail, replica=replica)
        for name in names
    ]
    provider = state.provider()
    show = _Printer([n for n in names if n], state.json)

    async def go() -> None:
        iid, _ = await resolve_instance(provider, instance, state.tenant)
        await _show(provider, iid, options, show)

    run(go())
