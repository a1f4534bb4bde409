"""Rendering for the CLI: plain tables for people, JSON for scripts.

Nothing here does I/O except :func:`emit_json` and :func:`echo_table`, which write to
standard output. Tables are padded columns with an upper-case header row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from ctrlplane.provider import Endpoint, InstanceStatus

__all__ = ["echo_table", "emit_json", "format_table", "status_lines", "yes_no"]


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces; trailing spaces trimmed."""
    cells = [[str(h).upper() for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    click.echo(format_table(headers, rows))


def emit_json(data: Any) -> None:
    """Write ``data`` as indented JSON (stable key order as given)."""
    click.echo(json.dumps(data, indent=2, default=str))


def _endpoint_row(ep: Endpoint) -> list[object]:
    return [ep.service_name or "-", ep.url, ep.protocol, "public" if ep.public else "internal"]


def status_lines(instance_id: str, name: str, status: InstanceStatus) -> str:
    """A human summary of an instance's status: header, services table, endpoints table."""
    started = status.started_at.isoformat(timespec="seconds") if status.started_at else "-"
    head = (
        f"instance {instance_id}"
        + (f" ({name})" if name else "")
        + f"\nstate {status.state}  ready {yes_no(status.ready)}  "
        f"restarts {status.restarts}  started {started}"
    )
    if status.message:
        head += f"\nmessage {status.message}"
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
                [_endpoint_row(e) for e in status.endpoints],
            )
        )
    else:
        parts.append("no endpoints")
    return "\n\n".join(parts)
