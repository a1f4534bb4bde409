"""Rendering for the CLI: tables drawn by rich for people, JSON for scripts.

Tables have an upper-case header row and no borders (like ``docker ps``); on a terminal
the header is bold and states are coloured, piped output is plain text with trailing
spaces trimmed, so it greps and diffs well. rich is imported only when a table is drawn.

Endpoints print as ``http://`` when the port speaks HTTP: a port that a health check
probes over HTTP (``path`` set), a public endpoint of a service whose only TCP port is
such a port, or an endpoint the backend reports with an ``http`` URL.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

    from ctrlplane.provider import Endpoint, InstanceStatus

__all__ = [
    "echo_table",
    "emit_json",
    "endpoint_url",
    "format_table",
    "status_lines",
    "stderr_console",
    "yes_no",
]

_STATE_STYLES = {
    "running": "green",
    "healthy": "green",
    "starting": "yellow",
    "pending": "yellow",
    "stopped": "dim",
    "failed": "red",
    "unhealthy": "red",
    "unknown": "magenta",
}


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _console(file: Any, terminal: bool) -> Console:
    from rich.console import Console

    if terminal:
        return Console(file=file, highlight=False)
    return Console(
        file=file, width=10_000, force_terminal=False, highlight=False, color_system=None
    )


def stderr_console() -> Console:
    """A rich console on standard error (styled only when it is a terminal)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], styled: bool) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold" if styled else "")
    for header in headers:
        table.add_column(str(header).upper(), no_wrap=True, overflow="ignore")
    for row in rows:
        cells = []
        for cell in row:
            text = str(cell)
            style = _STATE_STYLES.get(text, "") if styled else ""
            cells.append(Text(text, style=style))
        table.add_row(*cells)
    return table


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """The table as plain text: columns separated by two spaces, trailing spaces trimmed."""
    buffer = io.StringIO()
    _console(buffer, terminal=False).print(_table(headers, rows, styled=False))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a table on standard output (styled on a terminal)."""
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        _console(sys.stdout, terminal=True).print(_table(headers, rows, styled=True))
    else:
        click.echo(format_table(headers, rows))


def emit_json(data: Any) -> None:
    """Write ``data`` as indented JSON (stable key order as given)."""
    click.echo(json.dumps(data, indent=2, default=str))


@dataclass(frozen=True)
class HttpPorts:
    """Which endpoints speak HTTP, as the workload's health checks tell.

    ``ports``: the container ports a health check probes over HTTP (``path`` set).
    ``services``: the services whose only TCP port is such a port, so that each of their
    public endpoints (a host port, whose number says nothing of the container port)
    speaks HTTP too.
    """

    ports: frozenset[int] = frozenset()
    services: frozenset[str] = frozenset()


def http_ports(services: Iterable[Any]) -> HttpPorts:
    """The :class:`HttpPorts` of these service specs (``ServiceSpec``, or a release's
    ``ServiceDeploySpec``, which has no ports: then only :attr:`HttpPorts.ports`)."""
    ports: set[int] = set()
    names: set[str] = set()
    for svc in services:
        hc = svc.health_check
        if hc is None or not hc.path or not hc.port:
            continue
        ports.add(hc.port)
        tcp = {p.container for p in getattr(svc, "ports", ()) if p.protocol == "tcp"}
        if tcp == {hc.port}:
            names.add(svc.name)
    return HttpPorts(frozenset(ports), frozenset(names))


def endpoint_url(ep: Endpoint, http: HttpPorts = HttpPorts()) -> str:
    """``ep.url``, with ``http://`` for a TCP endpoint that speaks HTTP: an internal one
    at a port of ``http.ports``, a public one of a service of ``http.services``."""
    scheme, sep, rest = ep.url.partition("://")
    if not sep or scheme != "tcp" or ep.protocol != "tcp":
        return ep.url
    speaks = ep.service_name in http.services if ep.public else ep.port in http.ports
    return f"http://{rest}" if speaks else ep.url


def _endpoint_row(ep: Endpoint, http: HttpPorts) -> list[object]:
    return [
        ep.service_name or "-",
        endpoint_url(ep, http),
        ep.protocol,
        "public" if ep.public else "internal",
    ]


def status_lines(
    instance_id: str,
    name: str,
    status: InstanceStatus,
    http: HttpPorts = HttpPorts(),
) -> str:
    """A human summary of an instance's status: header, services table, endpoints table.

    ``http`` says which endpoints speak HTTP (they print as ``http://``; see
    :func:`endpoint_url`).
    """
    started = status.started_at.isoformat(timespec="seconds") if status.started_at else "-"
    head = (
        f"instance {instance_id}"
        + (f" ({name})" if name else "")
        + f"\nstate {status.state}  ready {yes_no(status.ready)}  "
        f"restarts {status.restarts}  started {started}"
    )
    if status.message:
        head += f"\nmessage {status.message}"
    operation = status.metadata.get("operation")
    if operation:
        head += f"\noperation {operation} ({status.metadata.get('operation_state', 'running')})"
    parts = [head]
    if status.services:
        rows = [
            [n, s.state, yes_no(s.ready), s.restarts, s.message or "-"]
            for n, s in sorted(status.services.items())
        ]
        parts.append(format_table(["service", "state", "ready", "restarts", "message"], rows))
    if status.endpoints:
        parts.append(
            format_table(
                ["service", "endpoint", "protocol", "scope"],
                [_endpoint_row(e, http) for e in status.endpoints],
            )
        )
    else:
        parts.append("no endpoints")
    return "\n\n".join(parts)


def kv_line(values: Mapping[str, object]) -> str:
    """``key=value`` pairs joined by spaces (for one-line summaries)."""
    return " ".join(f"{k}={v}" for k, v in values.items())
