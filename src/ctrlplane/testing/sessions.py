"""Interactive exec sessions of the fake (see :mod:`ctrlplane.provider.sessions`).

A fake session behaves as a session with a real engine does, so code that drives one
(a CLI, a web terminal) can read output while it still sends input:

- the process starts with the session; its output is handed on as it
  produces it (command by command), and :meth:`FakeSession.output` ends when it exited;
- its input is what the driver writes, through a terminal with ``tty`` (echo, line
  editing, Ctrl-C, Ctrl-D; output with ``\\r\\n`` and stderr on stdout) or as written
  without one (:mod:`ctrlplane.testing.terminal`);
- ``sh`` without a script (``sh``, ``sh -i``, ``sh -s``) is an interactive shell: each
  command runs as soon as its line is complete, with a prompt on a terminal, until end
  of input or ``exit``. This is how a ``-t`` session that never ends its input is used;
- any other command reads its input whole: a program that reads input (``cat``, ``sh``
  in a script...) waits until the driver ends it (:meth:`FakeSession.close_stdin`, or
  Ctrl-D on an empty line of a terminal), so it gets all of it; a command that reads no
  input (``echo hi``) runs and exits at once, input or not;
- :meth:`FakeSession.wait` waits for the process to exit (it does not end the input);
  leaving the session stops the process and its jobs (nothing is left running).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

from ctrlplane.provider.sessions import OutputChunk
from ctrlplane.testing.shell import FileSystem, run_command
from ctrlplane.testing.terminal import (
    INTERRUPTED,
    Interrupted,
    Terminal,
    interactive_shell,
    is_interactive_shell,
)

__all__ = ["FakeSession"]


class FakeSession:
    """One fake interactive process: ``argv`` in a container's env and files."""

    def __init__(
        self, argv: list[str], *, env: Mapping[str, str], fs: FileSystem, tty: bool
    ) -> None:
        self.argv = argv
        self.env = env
        self.fs = fs
        self.tty = tty
        self.size = (24, 80)
        self._chunks: asyncio.Queue[OutputChunk | None] = asyncio.Queue()
        self.terminal = Terminal(tty, self._emit)
        self._run: asyncio.Task[int] | None = None

    def _emit(self, out: bytes, err: bytes) -> None:
        for stream, data in (("stdout", out), ("stderr", err)):
            if data:
                self._chunks.put_nowait(OutputChunk(stream, data))  # type: ignore[arg-type]

    def start(self) -> asyncio.Task[int]:
        """Start the process (once; the fake provider does as it opens the session, and
        every call of the session does); the task gives its exit code."""
        if self._run is None:
            self._run = asyncio.create_task(self._process())
        return self._run

    async def _process(self) -> int:
        try:
            if is_interactive_shell(self.argv):
                return await interactive_shell(self.terminal, self.env, self.fs)
            work = run_command(
                self.argv,
                env=self.env,
                fs=self.fs,
                stdin_source=self.terminal.read_all,
                sink=self.terminal.write,
            )
            try:
                res = await (self.terminal.race(work) if self.tty else work)
            except Interrupted:
                return INTERRUPTED
            self.terminal.write(res.stdout, res.stderr)
            return res.exit_code
        finally:
            self._chunks.put_nowait(None)

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the process (ignored once input ended)."""
        self.start()
        self.terminal.type(data)

    async def close_stdin(self) -> None:
        """End input."""
        self.start()
        self.terminal.close()

    async def resize(self, rows: int, columns: int) -> None:
        """Set the terminal's size (``size``; the interactive shell's ``LINES`` and
        ``COLUMNS``)."""
        self.start()
        self.size = (rows, columns)
        self.terminal.resize(rows, columns)

    async def output(self) -> AsyncIterator[OutputChunk]:
        """The output as the process produces it, until it exited."""
        self.start()
        while (chunk := await self._chunks.get()) is not None:
            yield chunk

    async def wait(self) -> int:
        """The exit code, once the process has exited."""
        return await asyncio.shield(self.start())

    async def end(self) -> None:
        """Stop the process if it still runs (nothing is left running)."""
        if self._run is not None and not self._run.done():
            self._run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._run
