"""Child processes timed from outside, with their peak memory.

:func:`run_process` runs a command under a tiny launcher (``python -I -S``, about 8 MiB
resident) that forks it, waits for it with ``os.wait4`` and reports its wall time, exit
status and peak resident set size. The launcher is needed because Linux keeps a
process's peak RSS across ``exec``: a command forked straight from this (large) process
would report at least this process's size. So peak RSS figures cannot read below the
launcher's ~8 MiB, and wall times start just before the fork of the command and end when
it is reaped (the launcher's own start-up is not counted). The launcher leads a process
group of its own: a timeout or a cancellation kills that group (by its ID). The event
loop keeps running meanwhile (e.g. the counting proxy the command talks to).

:func:`count_output_lines` streams a command's output and counts its lines as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Finished", "ProcessFailed", "Streamed", "count_output_lines", "run_process"]

_LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
began = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"cannot run {argv[0]}: {exc}\\n".encode())
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.monotonic() - began
with open(report, "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {wall!r} {usage.ru_maxrss}")
"""


@dataclass(frozen=True)
class Finished:
    """A child process that ended."""

    argv: tuple[str, ...]
    returncode: int
    wall: float
    """Seconds from just before the fork to just after the child was reaped."""
    max_rss_kib: int
    """Peak resident set size of the child (KiB, the kernel's ``ru_maxrss``)."""
    stdout: bytes
    stderr: bytes

    def check(self) -> Finished:
        """``self`` if the exit status is 0, else :class:`ProcessFailed`."""
        if self.returncode != 0:
            raise ProcessFailed(self)
        return self


class ProcessFailed(RuntimeError):
    """A command exited non-zero (the message has its status and last output)."""

    def __init__(self, finished: Finished) -> None:
        tail = (finished.stderr or finished.stdout).decode("utf-8", "replace").strip()
        super().__init__(
            f"{' '.join(finished.argv[:4])}... exited {finished.returncode}: {tail[-600:]}"
        )
        self.finished = finished


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    within: float = 300.0,
) -> Finished:
    """Run ``argv`` to its end and measure it (see the module docstring).

    ``env`` entries are added to this process's environment; standard input is empty.
    Output goes to temporary files (no pipe can fill up). Past ``within`` seconds the
    command is killed and ``TimeoutError`` raised.
    """
    full_env = {**os.environ, **(env or {})}
    with (
        tempfile.TemporaryDirectory(prefix="bench-proc-") as tmp,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        report = Path(tmp) / "report"
        launcher = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report), *argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )  # fmt: skip
        try:
            async with asyncio.timeout(within):
                await launcher.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(launcher.pid, signal.SIGKILL)
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(launcher.wait()), 10)
            raise
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        try:
            code, wall, rss = report.read_text().split()
        except (OSError, ValueError):
            raise RuntimeError(
                f"the launcher of {argv[0]} failed ({launcher.returncode}): {stderr[-400:]!r}"
            ) from None
        return Finished(tuple(argv), int(code), float(wall), int(rss), stdout, stderr)


@dataclass(frozen=True)
class Streamed:
    """What :func:`count_output_lines` saw."""

    lines: int
    seconds: float
    """From just before the start until the last counted byte arrived."""
    max_rss_kib: int | None
    """Peak RSS of the command when it ended by itself (``None`` when it was killed)."""


async def count_output_lines(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    until: bytes = b"",
    within: float = 600.0,
) -> Streamed:
    """Run ``argv`` (under the launcher) and count the lines of its standard output as
    they arrive: until it ends, or (``until`` given) until that text has arrived, when
    its process group is killed. Past ``within`` seconds it is killed and
    ``TimeoutError`` raised."""
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        report = Path(tmp) / "report"
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report), *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )  # fmt: skip
        assert proc.stdout is not None
        lines = 0
        carry = b""
        at_end = False
        try:
            async with asyncio.timeout(within):
                while chunk := await proc.stdout.read(1 << 20):
                    lines += chunk.count(b"\n")
                    if until and until in carry + chunk:
                        break
                    carry = chunk[-len(until) :] if until else b""
                else:
                    at_end = True
            seconds = time.monotonic() - started
        finally:
            if not at_end:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        rss: int | None = None
        if at_end:
            with contextlib.suppress(OSError, ValueError, IndexError):
                rss = int(report.read_text().split()[2])
        return Streamed(lines, seconds, rss)
