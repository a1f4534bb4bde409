"""``status``: an instance's state per service and its endpoints, once or watched.

``--watch`` reads the status every ``--interval`` seconds until Ctrl-C (or ``--count``
reads). For people it redraws the table (the screen is cleared when standard output is
a terminal; otherwise frames follow each other, separated by a blank line). In JSON mode
it writes one compact JSON object per line, the same shape as ``status -o json``, so a
script can read it line by line. While watching, an unreachable backend is shown and
the watch goes on; an instance that no longer exists ends it (exit 3). Ctrl-C ends a
watch normally (exit 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from ctrlplane.cli.completion import complete_instances
from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.options import DURATION, global_options
from ctrlplane.cli.output import HttpPorts, emit_json, http_ports, status_lines
from ctrlplane.errors import BackendUnavailable, CtrlplaneError, OperationTimeout
from ctrlplane.provider import InstanceStatus, Provider, ReleaseHistory

__all__ = ["status_cmd", "status_document"]


def status_document(instance_id: str, name: str, status: InstanceStatus) -> dict[str, Any]:
    """The JSON of ``status -o json`` (and of each ``--watch`` line)."""
    return {"instance_id": instance_id, "name": name, "status": status.to_wire()}


async def _watch(
    state: CliState, provider: Provider, instance: str, interval: float, count: int
) -> None:
    iid, name = await resolve_instance(provider, instance, state.tenant_id)
    http = await http_ports_of(provider, iid)
    shown = 0
    while not count or shown < count:
        if shown:
            await asyncio.sleep(interval)
        try:
            status: InstanceStatus | None = await provider.status(iid)
            problem = ""
        except (BackendUnavailable, OperationTimeout) as exc:
            status, problem = None, str(exc)
        shown += 1
        if state.json:
            doc = status_document(iid, name, status) if status else {"instance_id": iid}
            if problem:
                doc["error"] = problem
            click.echo(json.dumps(doc, default=str, separators=(",", ":")))
            continue
        if sys.stdout.isatty():
            click.clear()
        elif shown > 1:
            click.echo()
        at = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
        click.echo(f"every {interval:g}s: status {instance}   {at}   (Ctrl-C to stop)")
        click.echo(status_lines(iid, name, status, http) if status else f"error: {problem}")


async def http_ports_of(provider: Provider, iid: str) -> HttpPorts:
    """Which endpoints of the live release speak HTTP (printed as http://), from its
    recorded specs (or, for an older record, its health checks)."""
    if not isinstance(provider, ReleaseHistory):
        return HttpPorts()
    try:
        history = await provider.releases(iid)
    except CtrlplaneError:
        return HttpPorts()
    live = next((r for r in history if r.live), None)
    if live is None:
        return HttpPorts()
    return http_ports(live.specs or live.services)


@click.command("status")
@click.argument("instance", shell_complete=complete_instances)
@click.option("-w", "--watch", is_flag=True, help="Redraw at every interval until Ctrl-C.")
@click.option(
    "--interval",
    type=DURATION,
    default="2s",
    show_default=True,
    help="Time between redraws with --watch (2s, 1m; at least 0.1s).",
)
@click.option(
    "--count",
    type=click.IntRange(min=0),
    default=0,
    help="With --watch: stop after this many reads (0: until Ctrl-C).",
)
@global_options()
@pass_state
def status_cmd(state: CliState, instance: str, watch: bool, interval: float, count: int) -> None:
    """Show an instance's state per service and its endpoints.

    With --watch the table is redrawn every --interval seconds until Ctrl-C; with
    --output json each read is one JSON object per line.

    Example: ctrlplane status hello-web --watch --interval 1s --count 2
    """
    interval = max(interval, 0.1)
    provider = state.provider()
    if watch:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a watch ends
            run(_watch(state, provider, instance, interval, count))
        return

    async def once() -> tuple[str, str, InstanceStatus, HttpPorts]:
        iid, name = await resolve_instance(provider, instance, state.tenant_id)
        status = await provider.status(iid)
        return iid, name, status, await http_ports_of(provider, iid)

    iid, name, status, http = run(once())
    if state.json:
        emit_json(status_document(iid, name, status))
    else:
        click.echo(status_lines(iid, name, status, http))
