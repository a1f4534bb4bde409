"""``exec -i`` / ``-t`` as a live session (a provider with
:class:`~ctrlplane.provider.sessions.InteractiveExec`): the local terminal in raw mode,
input and window size forwarded, output printed as it comes, the remote exit code.

:func:`drive` connects an open :class:`~ctrlplane.provider.sessions.ExecSession` to the
local standard streams:

- **input** (with ``-i``): what is read from stdin is written to the session as it
  comes (a terminal, a pipe or a file); at end of input the session's input is ended
  (Ctrl-D on a remote terminal). With a remote terminal and a local one on stdin, the
  local terminal is put in raw mode (every key goes to the remote side: Ctrl-C, Ctrl-D,
  arrows), and restored however the session ends (:class:`RawTerminal`).
- **window size**: the local terminal's rows and columns are sent when the session
  starts and on every ``SIGWINCH``.
- **output**: written to stdout/stderr as the session hands it on, unbuffered.
- **the end**: when the remote process exits its exit code is returned. ``SIGHUP`` and
  ``SIGTERM`` (the terminal closed, the client is stopped) end the session like Ctrl-C
  does on a local terminal: the session's process is stopped by the provider (nothing
  left running) and the command exits 129 / 143 (128 + signal).

With ``-o json`` nothing is written while the session runs: the output is collected and
one ``ExecResult`` object is printed at the end (its exit code is the remote one).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import termios
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ctrlplane.provider.sessions import ExecSession

__all__ = ["EXIT_WAIT", "RawTerminal", "SessionEnded", "Streams", "drive", "window_size"]

EXIT_WAIT = 30.0
"""Seconds the remote side gets to report the exit code once the output ended."""
_READ = 64 * 1024
_BACKLOG = 16


class SessionEnded(Exception):
    """The client was stopped by ``signal_number`` (SIGHUP, SIGTERM) while a session ran."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


@dataclass
class Streams:
    """Where the session's output goes: the process's stdout/stderr, or (``collect``)
    buffers for ``-o json``."""

    collect: bool = False
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)

    def write(self, stream: str, data: bytes) -> None:
        if self.collect:
            (self.stderr if stream == "stderr" else self.stdout).extend(data)
            return
        target = sys.stderr if stream == "stderr" else sys.stdout
        target.buffer.write(data)
        target.buffer.flush()


def window_size() -> tuple[int, int] | None:
    """The local terminal's (rows, columns), from stdout, stdin or stderr, if one is a
    terminal of a known size."""
    for fd in (1, 0, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                size = os.get_terminal_size(fd)
                if size.lines > 0 and size.columns > 0:
                    return size.lines, size.columns
    return None


class RawTerminal:
    """The terminal on ``fd`` in raw mode for the block (if ``enabled`` and ``fd`` is a
    terminal); its settings are restored on leaving, whatever ended the block."""

    def __init__(self, fd: int, enabled: bool) -> None:
        self.fd = fd
        self.enabled = enabled and os.isatty(fd)
        self._saved: list[Any] | None = None

    def __enter__(self) -> RawTerminal:
        if self.enabled:
            self._saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None


@contextlib.contextmanager
def _signals(
    loop: asyncio.AbstractEventLoop, main: asyncio.Task[int], resize: object
) -> Iterator[list[int]]:
    """SIGWINCH calls ``resize``; SIGHUP and SIGTERM cancel ``main`` (the received one is
    appended to the yielded list). Handlers removed on leaving."""
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        main.cancel()

    installed = []
    for signum, handler, args in (
        (signal.SIGWINCH, resize, ()),
        (signal.SIGHUP, stop, (signal.SIGHUP,)),
        (signal.SIGTERM, stop, (signal.SIGTERM,)),
    ):
        loop.add_signal_handler(signum, handler, *args)  # type: ignore[arg-type]
        installed.append(signum)
    try:
        yield received
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def _forward_input(session: ExecSession, source: BinaryIO) -> None:
    """Stdin to the session as it comes, then end of input. A terminal or a pipe is
    read when it has data (the loop's reader, paused while :data:`_BACKLOG` chunks wait
    for the session); a regular file is read in chunks. A stdin that cannot be read
    (closed, or a stream that refuses reads) ends the input as its end would: the remote
    command sees end of input instead of waiting for input that never comes."""
    with contextlib.suppress(OSError):
        await _send_input(session, source)
    await session.close_stdin()


async def _send_input(session: ExecSession, source: BinaryIO) -> None:
    """Stdin to the session until its end (see :func:`_forward_input`)."""
    try:
        fd = source.fileno()
    except (OSError, ValueError):  # not a file (an in-memory stream): read it as one
        while data := await asyncio.to_thread(source.read, _READ):
            await session.write(data)
        return
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    paused = False

    def readable() -> None:
        nonlocal paused
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        chunks.put_nowait(data)
        if not data or chunks.qsize() >= _BACKLOG:
            loop.remove_reader(fd)
            paused = bool(data)

    try:
        loop.add_reader(fd, readable)
    except PermissionError:  # a regular file: it never blocks
        while data := await asyncio.to_thread(os.read, fd, _READ):
            await session.write(data)
        return
    try:
        while data := await chunks.get():
            await session.write(data)
            if paused and chunks.qsize() < _BACKLOG:
                paused = False
                loop.add_reader(fd, readable)
    finally:
        loop.remove_reader(fd)


async def drive(
    session: ExecSession,
    *,
    forward_input: bool,
    out: Streams,
    send_size: bool,
) -> int:
    """Connect ``session`` to the local streams (module docs) until the remote process
    exits; its exit code. Input ends with stdin's end; the output is written to ``out``.
    A SIGHUP/SIGTERM meanwhile raises :class:`SessionEnded` (after the session ended)."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    pending: set[asyncio.Task[None]] = set()

    def resize() -> None:
        size = window_size()
        if size is not None:
            task = loop.create_task(_resize(session, size))
            pending.add(task)
            task.add_done_callback(pending.discard)

    feeder = loop.create_task(_forward_input(session, sys.stdin.buffer)) if forward_input else None
    with _signals(loop, main, resize if send_size else _nothing) as received:
        try:
            if send_size:
                resize()
            async for chunk in session.output():
                out.write(chunk.stream, chunk.data)
            async with asyncio.timeout(EXIT_WAIT):
                return await session.wait()
        except asyncio.CancelledError:
            if received:
                main.uncancel()
                raise SessionEnded(received[0]) from None
            raise
        finally:
            for task in [*pending, *([feeder] if feeder else [])]:
                task.cancel()
            for task in [*pending, *([feeder] if feeder else [])]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def _nothing() -> None:
    return None


async def _resize(session: ExecSession, size: tuple[int, int]) -> None:
    with contextlib.suppress(Exception):  # a size that cannot be set changes nothing
        async with asyncio.timeout(10):
            await session.resize(*size)
