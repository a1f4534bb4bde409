"""Running the real ``ctrlplane`` command on a pseudo-terminal, as a user at a terminal
does: the pty is its controlling terminal (stdin, stdout and stderr), a window size is
set with ``TIOCSWINSZ`` (the kernel then sends ``SIGWINCH``), keys are typed on the
master side and the screen is read from it as it comes (in the test's event loop, so
fakes running in that loop keep answering)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import subprocess
import termios
from pathlib import Path
from typing import Any

__all__ = ["PtyCli"]


def _controlling_terminal() -> None:
    """In the child: a new session whose controlling terminal is its stdin (the pty)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyCli:
    """One ``ctrlplane`` process on a new pseudo-terminal of ``rows`` x ``columns``."""

    def __init__(
        self,
        exe: str,
        args: list[str],
        *,
        env: dict[str, str],
        cwd: Path | None = None,
        rows: int = 24,
        columns: int = 80,
    ) -> None:
        self.master, self.slave = os.openpty()
        self.resize(rows, columns)
        self.settings_before: list[Any] = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(
            [exe, *args],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env={**env, "TERM": "xterm"},
            cwd=cwd,
            preexec_fn=_controlling_terminal,
            close_fds=True,
        )
        os.set_blocking(self.master, False)
        self.screen = b""

    def resize(self, rows: int, columns: int) -> None:
        """Set the window size (the kernel sends SIGWINCH to the foreground process)."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def type(self, keys: bytes) -> None:
        """Type ``keys`` on the terminal."""
        os.write(self.master, keys)

    def settings(self) -> list[Any]:
        """The terminal's current settings (``termios.tcgetattr``)."""
        return termios.tcgetattr(self.slave)

    def is_raw(self) -> bool:
        """Whether the terminal is in raw mode now (no echo, no line editing, no signals)."""
        lflag = self.settings()[3]
        return not lflag & (termios.ECHO | termios.ICANON | termios.ISIG)

    async def _read(self) -> bytes:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.master, wake)
        try:
            await ready
        finally:
            loop.remove_reader(self.master)
        try:
            return os.read(self.master, 65536)
        except (BlockingIOError, OSError):
            return b""

    async def until(self, marker: bytes, limit: float = 20.0) -> bytes:
        """Read the screen until ``marker`` shows (within ``limit`` s); all of it so far."""
        try:
            async with asyncio.timeout(limit):
                while marker not in self.screen:
                    self.screen += await self._read()
        except TimeoutError:
            raise AssertionError(f"{marker!r} not shown within {limit}s: {self.screen!r}") from None
        return self.screen

    def take(self) -> bytes:
        """The screen since the last take."""
        screen, self.screen = self.screen, b""
        return screen

    async def exit_code(self, limit: float = 30.0) -> int:
        """Wait (``limit`` s) for the process to exit, reading the screen; its exit code."""
        async with asyncio.timeout(limit):
            while self.proc.poll() is None:
                try:
                    async with asyncio.timeout(0.1):
                        self.screen += await self._read()
                except TimeoutError:
                    pass
        while True:  # what is still in the pty
            try:
                data = os.read(self.master, 65536)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            self.screen += data
        return self.proc.returncode

    def close(self) -> None:
        """Kill the process if it still runs; close the terminal."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)
        os.close(self.slave)
