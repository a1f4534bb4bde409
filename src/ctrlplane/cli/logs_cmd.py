"""``logs``: an instance's log lines, of every service (default) or of the ``-s`` ones,
coloured for people.

Each line is prefixed ``service[replica]`` (and the engine's time with
``--timestamps``); stderr lines go to stderr. With one service, replicas get different
colours; with several, each service gets its own colour. Without ``--follow`` the lines
of several services are merged in time order; with it, lines are printed as they
arrive. ``-o json`` prints one record per line. The services are the live release's
(or, for a provider without a release history, the status').
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import click

from ctrlplane.cli.completion import complete_instances, complete_services
from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.options import global_options
from ctrlplane.durations import coerce_duration
from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider import LogOptions, LogRecord, Provider, ReleaseHistory, ServiceRole

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

    def __init__(self, services: Sequence[str], json_mode: bool, timestamps: bool = False) -> None:
        self._services = list(services)
        self._json = json_mode
        self._timestamps = timestamps

    def __call__(self, rec: LogRecord) -> None:
        if self._json:
            click.echo(rec.to_json())
            return
        if len(self._services) > 1 and rec.service in self._services:
            colour = _COLOURS[self._services.index(rec.service) % len(_COLOURS)]
        else:
            colour = _COLOURS[rec.replica % len(_COLOURS)]
        prefix = click.style(f"{rec.service}[{rec.replica}]", fg=colour)
        if self._timestamps:
            prefix = rec.time.isoformat(timespec="milliseconds") + " " + prefix
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
@click.option(
    "-s",
    "--service",
    "services",
    multiple=True,
    shell_complete=complete_services,
    help="Service to read (default: every service); repeat for several.",
)
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
        show = _Printer([n for n in names if n], state.json, timestamps)
        await _show(provider, iid, options, show)

    run(go())
