"""Interactive exec sessions of the fake (see :mod:`ctrlplane.provider.sessions`).

The fake shell runs a command to completion over a given input, so a fake session
collects what is written and runs the command when input ends (:meth:`close_stdin`, or
:meth:`wait`); its output then arrives at once, in order (everything on ``stdout`` with a
tty, as a real terminal merges the streams). That is enough to test code that drives a
session (a CLI, a web terminal): the input reaches the process, the output and the exit
code come back, nothing keeps running after the session. It does not model a prompt
answering line by line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

from ctrlplane.provider.sessions import OutputChunk
from ctrlplane.testing.shell import FileSystem, run_command

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
        self._input = bytearray()
        self._run: asyncio.Task[tuple[int, list[OutputChunk]]] | None = None

    async def write(self, data: bytes) -> None:
        """Buffer ``data`` as input (ignored once input ended)."""
        if self._run is None:
            self._input += data

    async def close_stdin(self) -> None:
        """End input: the command runs now."""
        self._start()

    async def resize(self, rows: int, columns: int) -> None:
        """Record the size (``size``)."""
        self.size = (rows, columns)

    def _start(self) -> asyncio.Task[tuple[int, list[OutputChunk]]]:
        if self._run is None:
            self._run = asyncio.create_task(self._execute())
        return self._run

    async def _execute(self) -> tuple[int, list[OutputChunk]]:
        res = await run_command(self.argv, env=self.env, fs=self.fs, stdin=bytes(self._input))
        if self.tty:
            return res.exit_code, [OutputChunk("stdout", res.stdout + res.stderr)]
        return res.exit_code, [OutputChunk("stdout", res.stdout), OutputChunk("stderr", res.stderr)]

    async def output(self) -> AsyncIterator[OutputChunk]:
        """The output, once the command has run (input ends first if it has not)."""
        _, chunks = await self._start()
        for chunk in chunks:
            if chunk.data:
                yield chunk

    async def wait(self) -> int:
        """The exit code (input ends first if it has not)."""
        code, _ = await asyncio.shield(self._start())
        return code

    async def end(self) -> None:
        """Stop the command if it still runs (nothing is left running)."""
        if self._run is not None and not self._run.done():
            self._run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._run
