"""``rollout status INSTANCE``: follow a running deploy until it ends (like ``kubectl
rollout status``); see :mod:`ctrlplane.cli.detach` for how a detached deploy is found.

Exit codes: the detached deploy's own (0 deployed, 7 rolled back, 8 not restored...)
when this machine started it; otherwise 0 once no operation holds the instance (the live
release is printed), 6 when ``--timeout`` passes first.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click

from ctrlplane.cli.completion import complete_instances
from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.detach import DetachedRollout, rollouts_dir
from ctrlplane.cli.options import DURATION, global_options
from ctrlplane.cli.output import emit_json
from ctrlplane.errors import OperationTimeout
from ctrlplane.provider import Provider, ReleaseHistory

__all__ = ["rollout_group"]

POLL = 0.5
"""Seconds between reads of the log or the status."""


@click.group("rollout")
def rollout_group() -> None:
    """Follow a rollout: ctrlplane rollout status INSTANCE.

    Example: ctrlplane rollout status hello-web
    """


async def _live_release(provider: Provider, iid: str) -> str:
    if not isinstance(provider, ReleaseHistory):
        return ""
    history = await provider.releases(iid)
    return next((r.release_id for r in history if r.live), "")


async def _follow_lease(
    state: CliState, provider: Provider, iid: str, limit: float
) -> dict[str, Any]:
    """Wait until no operation holds ``iid`` (as its status reports), showing its phase."""
    deadline = time.monotonic() + limit
    shown = ""
    while True:
        status = await provider.status(iid)
        operation = status.metadata.get("operation", "")
        if not operation:
            break
        phase = status.metadata.get("operation_phase", "")
        line = f"- {operation}" + (f": {phase}" if phase else "")
        if line != shown and not state.json:
            click.echo(line, err=True)
            shown = line
        if time.monotonic() >= deadline:
            raise OperationTimeout(f"rollout of {iid}", limit)
        await asyncio.sleep(POLL)
    return {
        "instance_id": iid,
        "running": False,
        "followed": bool(shown),
        "live_release": await _live_release(provider, iid),
        "state": str(status.state),
    }


def _follow_detached(state: CliState, files: DetachedRollout, timeout: float) -> dict[str, Any]:
    """Print the detached deploy's log as it grows until it ends; its result."""
    deadline = time.monotonic() + timeout
    offset = 0
    while True:
        running = files.running()
        try:
            with files.log.open("rb") as log:
                log.seek(offset)
                chunk = log.read()
        except OSError:
            chunk = b""
        if chunk and not state.json:
            click.echo(chunk.decode(errors="replace"), nl=False, err=True)
        offset += len(chunk)
        if not running:
            break
        if time.monotonic() >= deadline:
            raise OperationTimeout(f"rollout of {files.instance_id}", timeout)
        time.sleep(POLL)
    result = files.read_result() or {
        "exit_code": 1,
        "error": "the deploy process ended without a result (killed?)",
    }
    return {"instance_id": files.instance_id, "running": False, "detached": True, **result}


@rollout_group.command("status")
@click.argument("instance", shell_complete=complete_instances)
@click.option(
    "--timeout", type=DURATION, default="15m", show_default=True, help="How long to follow."
)
@global_options()
@pass_state
def rollout_status_cmd(state: CliState, instance: str, timeout: float) -> None:
    """Follow the running deploy of an instance until it ends.

    A deploy started here with deploy --detach is followed through its log: its
    progress lines are printed as they come and its exit code becomes ours (0 deployed,
    7 rolled back, 8 not restored). Otherwise the instance's operation is followed
    where the provider reports it in its status, and the live release is printed when
    it ends. Without a running deploy it prints the live release and exits 0.

    Example: ctrlplane rollout status hello-web --timeout 5m
    """
    provider = state.provider()
    iid, _ = run(resolve_instance(provider, instance, state.tenant_id))
    files = DetachedRollout(iid, rollouts_dir())
    if files.read_record() is not None and (files.running() or files.read_result() is not None):
        result = _follow_detached(state, files, timeout)
        files.record.unlink(missing_ok=True)
        result["live_release"] = run(_live_release(provider, iid))
    else:
        result = run(_follow_lease(state, provider, iid, timeout))
    code = int(result.get("exit_code", 0))
    if state.json:
        emit_json(result)
    elif result.get("detached"):
        verdict = "deployed" if code == 0 else f"failed (exit {code})"
        click.echo(f"rollout of {iid} {verdict}; live release {result['live_release'] or '-'}")
        if code and result.get("error"):
            click.echo(result["error"], err=True)
    else:
        what = "finished" if result.get("followed") else "no rollout in progress"
        click.echo(
            f"{what}: {iid} is {result['state']}, live release {result['live_release'] or '-'}"
        )
    if code:
        raise SystemExit(code)
