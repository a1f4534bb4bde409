"""Interactive exec (beyond Go): a streaming session with a process in a service.

``Provider.exec`` runs a command to completion and returns its output. An interactive
session (``ctrlplane exec -it INSTANCE -- sh``) needs more: input as the user types it,
output as the process writes it, the terminal's size, and an end that leaves nothing
running. Providers that can do that implement :class:`InteractiveExec`::

    async with provider.exec_session(iid, ExecRequest(command=["sh"], tty=True)) as session:
        await session.resize(40, 120)
        await session.write(b"echo hi\\n")
        async for chunk in session.output():      # until the process ends
            sys.stdout.buffer.write(chunk.data)
        code = await session.wait()

Contract of a session:

- :meth:`ExecSession.output` yields :class:`OutputChunk` s in the order the process wrote
  them (with a tty, everything is ``stdout``) and ends when the process has exited and
  its output is drained.
- :meth:`ExecSession.write` sends input; :meth:`ExecSession.close_stdin` sends end of
  input (Ctrl-D) where the backend can half-close, else ``NotSupported`` names why.
- :meth:`ExecSession.resize` sets the tty's rows and columns (a no-op without a tty).
- :meth:`ExecSession.wait` returns the exit code once the process has exited (bound it
  with ``asyncio.timeout``).
- Leaving the ``async with`` (normally, on error or on cancellation) ends the session: if
  the process still runs it is stopped (the tty is hung up, then the process killed), so
  **no process is left running in the container**.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from ctrlplane.provider.spec import ExecRequest

__all__ = ["ExecSession", "InteractiveExec", "OutputChunk"]


@dataclass(frozen=True, slots=True)
class OutputChunk:
    """Bytes the process wrote on one stream."""

    stream: Literal["stdout", "stderr"]
    data: bytes


class ExecSession(Protocol):
    """One interactive process in a service (see the module docs)."""

    def output(self) -> AsyncIterator[OutputChunk]:
        """The process's output as it comes, until it exits."""
        ...

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the process's input."""
        ...

    async def close_stdin(self) -> None:
        """Send end of input."""
        ...

    async def resize(self, rows: int, columns: int) -> None:
        """Set the tty's size."""
        ...

    async def wait(self) -> int:
        """The exit code, once the process has exited."""
        ...


@runtime_checkable
class InteractiveExec(Protocol):
    """Optional: providers that can run an interactive session in a service."""

    def exec_session(
        self, instance_id: str, req: ExecRequest
    ) -> AbstractAsyncContextManager[ExecSession]:
        """Start ``req.command`` in ``req.service`` of ``req.replica`` (defaults as in
        ``exec``), with a tty if ``req.tty``; checks run when the context is entered
        (``exec`` capability, unknown instance or service, a command that is not an
        argv). ``req.stdin`` is not used: input goes through the session."""
        ...
