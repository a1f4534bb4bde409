"""Interactive exec sessions (beyond Go: the core's
:class:`~ctrlplane.provider.sessions.InteractiveExec`) over the allocation exec
websocket (I/O through :meth:`~ctrlplane.provider.nomad.client.NomadClient.exec_channel`;
the frames are :mod:`~ctrlplane.provider.nomad.observe.execframes`').

A :class:`NomadExecSession` hands the process's output on as the agent sends it
(:meth:`~NomadExecSession.output`), sends input (``stdin`` frames), end of input (the
``stdin`` close frame) and the terminal's size (``tty_size``), and returns the exit
code of the ``exited`` frame (:meth:`~NomadExecSession.wait`). Nomad's protocol has no
signal frame, so ending a session whose process still runs (:meth:`~NomadExecSession.end`)
is what a terminal user would do: on a terminal, Ctrl-C then Ctrl-D (interrupt the
foreground command, then end the shell's input), then end of input; the process gets
:data:`ENDING_GRACE` to exit; then the websocket is closed, and the agent ends whatever
still runs (the terminal is hung up, the process killed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ctrlplane.errors import BackendError
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.client import ExecChannel
from ctrlplane.provider.nomad.config import BACKEND
from ctrlplane.provider.nomad.observe.execframes import (
    STDIN_CLOSE,
    exit_of,
    output_of,
    stdin_frame,
    tty_size_frame,
)
from ctrlplane.provider.sessions import OutputChunk

__all__ = ["ENDING_GRACE", "HANGUP", "NomadExecSession"]

HANGUP = b"\x03\x04"
"""What a session ending on a terminal types: Ctrl-C, then Ctrl-D."""
ENDING_GRACE = 2.0
"""Seconds an ending session's process gets to exit before the websocket is closed."""
_INPUT_CHUNK = 32 * 1024


class NomadExecSession:
    """One interactive process in a task (see the module docs and the core's
    :class:`~ctrlplane.provider.sessions.ExecSession` contract). Its
    :meth:`receive` is the exec channel's sink; :attr:`channel` is set once the
    websocket is open."""

    def __init__(self, task: str, tty: bool) -> None:
        self.task = task
        self.tty = tty
        self.channel: ExecChannel | None = None
        self._chunks: asyncio.Queue[OutputChunk | None] = asyncio.Queue()
        self._exit: asyncio.Future[int | str] = asyncio.get_running_loop().create_future()

    # -- from the agent ------------------------------------------------------------------

    def receive(self, frame: JSON | str) -> None:
        """One frame of the agent, or why the session ended (a str)."""
        if isinstance(frame, str):
            self._finish(f"ended without an exit code: {frame}")
            return
        if self._exit.done():
            return
        for chunk in output_of(frame):
            self._chunks.put_nowait(chunk)
        code = exit_of(frame)
        if code is not None:
            self._finish(code)

    def _finish(self, code: int | str) -> None:
        if not self._exit.done():
            self._exit.set_result(code)
            self._chunks.put_nowait(None)

    @property
    def exited(self) -> bool:
        """Whether the process ended (or the session did)."""
        return self._exit.done()

    async def output(self) -> AsyncIterator[OutputChunk]:
        """The output as the agent sends it, until the process exited (or the session
        ended). Everything is on ``stdout`` with a terminal."""
        while (chunk := await self._chunks.get()) is not None:
            yield chunk
        self._chunks.put_nowait(None)  # a later call ends at once too

    async def wait(self) -> int:
        """The exit code once the process exited; a session that ended without one is
        a :class:`~ctrlplane.errors.BackendError` (the code is never guessed)."""
        code = await asyncio.shield(self._exit)
        if isinstance(code, str):
            raise BackendError(f"Nomad exec in task {self.task!r} {code}", backend=BACKEND)
        return code

    # -- to the agent --------------------------------------------------------------------

    async def _send(self, frame: JSON) -> None:
        if self.channel is None:
            raise BackendError(f"Nomad exec in task {self.task!r}: not open", backend=BACKEND)
        await self.channel.send(frame)

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the process's input."""
        for i in range(0, len(data), _INPUT_CHUNK):
            await self._send(stdin_frame(data[i : i + _INPUT_CHUNK]))

    async def close_stdin(self) -> None:
        """End of input (Nomad's ``stdin`` close frame)."""
        await self._send(STDIN_CLOSE)

    async def resize(self, rows: int, columns: int) -> None:
        """Set the terminal's size (a no-op without a terminal)."""
        if rows < 1 or columns < 1:
            raise ValueError(f"a terminal size is positive, not {rows}x{columns}")
        if self.tty:
            await self._send(tty_size_frame(rows, columns))

    async def end(self) -> None:
        """Make a process that still runs exit (module docs); the caller closes the
        websocket afterwards."""
        if self.exited:
            return
        with contextlib.suppress(BackendError):  # the session ended meanwhile
            if self.tty:
                await self.write(HANGUP)
            await self.close_stdin()
        await asyncio.wait({self._exit}, timeout=ENDING_GRACE)
