"""``deploy --detach`` and what ``rollout status`` follows.

The library runs a deploy inside the calling process (an awaited coroutine): there is
no server-side job to hand it to. So a detached deploy is the same ``ctrlplane deploy``
command run again, without ``--detach``, in a background process of its own session
(it survives the terminal closing). Its progress lines go to a log file and, when it
ends, its exit code and last error line to a result file, both in
``$XDG_STATE_HOME/ctrlplane/rollouts/`` (``~/.local/state/...``), named after the
instance ID, beside a record of the process (pid, log, when it started).

``ctrlplane rollout status INSTANCE`` then prints the log as it grows, until the process
ends, and exits with the deploy's exit code (0 deployed, 7 rolled back, ...). Without a
local record (another machine started the deploy) it follows the instance's operation
lease where the provider reports it in ``status`` (``operation`` metadata), and says
which release is live when the lease is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ctrlplane.cli.config import user_state_dir
from ctrlplane.cli.context import CliState, resolve_instance, run

__all__ = [
    "RESULT_ENV",
    "DetachedRollout",
    "detach_deploy",
    "record_result",
    "rollouts_dir",
]

RESULT_ENV = "CTRLPLANE_ROLLOUT_RESULT"
"""Set in a detached deploy's environment: where it writes its result."""
START_WAIT = 10.0
"""Seconds ``deploy --detach`` waits for the background deploy to take the instance."""


def rollouts_dir(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/ctrlplane/rollouts`` (default ``~/.local/state``)."""
    return user_state_dir(os.environ if environ is None else environ) / "rollouts"


@dataclass(frozen=True)
class DetachedRollout:
    """The files of one detached deploy of one instance."""

    instance_id: str
    folder: Path

    @property
    def record(self) -> Path:
        return self.folder / f"{self.instance_id}.json"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.instance_id}.log"

    @property
    def result(self) -> Path:
        return self.folder / f"{self.instance_id}.result.json"

    def read_record(self) -> dict[str, Any] | None:
        return _read_object(self.record)

    def read_result(self) -> dict[str, Any] | None:
        return _read_object(self.result)

    def running(self) -> bool:
        """Whether the background deploy has not written its result yet (and lives)."""
        record = self.read_record()
        if record is None or self.read_result() is not None:
            return False
        return _alive(int(record.get("pid", 0)))


def _read_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; ``None`` when it is missing, unreadable or not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (ended, not reaped) still answers: look at its state where /proc exists.
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().split(") ", 1)[1][:1] != "Z"
        except (OSError, IndexError):
            return True
    return True


def _argv_without_detach(argv: list[str]) -> list[str]:
    return [arg for arg in argv if arg != "--detach"]


def detach_deploy(state: CliState, instance: str) -> None:
    """Start ``ctrlplane deploy`` (this command's arguments, without ``--detach``) in the
    background for ``instance``; say how to follow it. Refuses when a detached deploy of
    that instance is still running (exit 9)."""
    provider = state.provider()
    iid, _ = run(resolve_instance(provider, instance, state.tenant_id))
    files = DetachedRollout(iid, rollouts_dir())
    if files.running():
        from ctrlplane.errors import InstanceBusy

        record = files.read_record() or {}
        raise InstanceBusy(
            iid,
            operation="detached deploy",
            holder=f"pid {record.get('pid')}",
            since=datetime.fromisoformat(record.get("started_at", datetime.now(UTC).isoformat())),
            waited=0,
        )
    files.folder.mkdir(parents=True, exist_ok=True)
    files.result.unlink(missing_ok=True)
    argv = _argv_without_detach(state.argv)
    with files.log.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ctrlplane.cli", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, RESULT_ENV: str(files.result)},
        )
    record = {
        "instance_id": iid,
        "pid": proc.pid,
        "argv": argv,
        "log": str(files.log),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    files.record.write_text(json.dumps(record), encoding="utf-8")
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline and proc.poll() is None and files.log.stat().st_size == 0:
        time.sleep(0.05)
    if state.json:
        from ctrlplane.cli.output import emit_json

        emit_json({"instance_id": iid, "detached": True, "pid": proc.pid, "log": str(files.log)})
        return
    click.echo(f"deploying to {iid} in the background (pid {proc.pid})")
    click.echo(f"follow it: ctrlplane rollout status {instance}")
    click.echo(f"log: {files.log}")


def record_result(code: int, error: str) -> None:
    """In a detached deploy: write its exit code and last error line (no-op otherwise)."""
    path = os.environ.get(RESULT_ENV)
    if not path:
        return
    data = {"exit_code": code, "error": error, "ended_at": datetime.now(UTC).isoformat()}
    with contextlib.suppress(OSError):
        Path(path).write_text(json.dumps(data), encoding="utf-8")
