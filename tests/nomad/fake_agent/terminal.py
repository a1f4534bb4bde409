"""Exec processes that read their input as it comes: a fake terminal and the fake shell
answering command by command.

**The terminal** (``tty=true`` sessions; a real agent gives the process a pseudo-terminal):
what is typed is echoed back (Enter as ``\\r\\n``, Backspace as ``\\b \\b``), Enter
(``\\r``) becomes a newline, the process receives each line once it is complete, its
``\\n`` reach the client as ``\\r\\n`` and its stderr comes on stdout (one terminal).
Ctrl-C (``\\x03``) interrupts the foreground command (echoed ``^C``), Ctrl-D
(``\\x04``) on an empty line is end of input; ``tty_size`` frames resize it. Without a
terminal, input lines reach the process as they arrive and the streams stay apart.

**The interactive shell**: ``sh`` without a script (``["sh"]``, ``["/bin/sh"]``,
``["sh", "-i"]``) reads commands as they come. With a terminal it prints busybox's
prompt (``/ # ``, ``> `` while a command is incomplete); it runs each complete command
in the same shell (variables persist, ``exit N`` ends it with N), streams the output of
each command as it finishes, and at end of input exits with the last status. An
interrupted command has status 130.

**Fake-only aid**: every command the interactive shell runs sees the terminal's size as
``LINES`` and ``COLUMNS`` in its environment (``echo $LINES $COLUMNS``), since the fake
shell has no ``stty``; a real busybox ``sh`` does not set them (use ``stty size``
there). Tests may also read the sizes a process received from
:attr:`ExecProcess.sizes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ctrlplane.testing.shell import Fatal, FileSystem, Io, Shell, ShellExit
from ctrlplane.testing.shell import _Run as ShellRun
from ctrlplane.testing.shell_parse import ShellSyntaxError, parse

__all__ = [
    "ExecProcess",
    "Interrupted",
    "Terminal",
    "interactive_shell",
    "is_interactive_shell",
]

_T = TypeVar("_T")

PROMPT = b"/ # "
"""busybox's prompt for root in ``/`` (``PS1='\\w \\$ '``)."""
CONTINUED = b"> "
INTERRUPTED = 130
_INTERRUPT = 0x03
_EOF = 0x04
_ERASE = (0x7F, 0x08)

Output = Callable[[bytes, bytes], None]
"""Receives (stdout, stderr) as the process writes it."""


class Interrupted(Exception):
    """Ctrl-C while the process waited for a line."""


def is_interactive_shell(argv: list[str]) -> bool:
    """Whether ``argv`` is ``sh`` reading its commands from its input."""
    return argv[0].rsplit("/", 1)[-1] == "sh" and all(a in ("-i", "-s") for a in argv[1:])


@dataclass
class ExecProcess:
    """One command an exec session runs, as the agent knows it (for tests)."""

    alloc_id: str
    task: str
    argv: list[str]
    tty: bool
    sizes: list[tuple[int, int]] = field(default_factory=list)
    """Every terminal size the session sent (rows, columns), in order."""
    received: list[str] = field(default_factory=list)
    """The kinds of frames the session sent (``stdin``, ``stdin close``, ``tty_size``)."""


class Terminal:
    """The line discipline between a session and its process (see the module docs)."""

    def __init__(self, tty: bool, output: Output) -> None:
        self.tty = tty
        self._output = output
        self.size: tuple[int, int] | None = None
        self._line = bytearray()
        self._input: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._unread = b""
        self._eof = False
        self.interrupted = asyncio.Event()
        self.ended = False

    # -- what the session sends ----------------------------------------------------------

    def type(self, data: bytes) -> None:
        """Bytes typed (a ``stdin`` frame): without a terminal the process can read them
        at once; with one, line by line."""
        if self.ended or not data:
            return
        if not self.tty:
            self._input.put_nowait(data)
            return
        for byte in data:
            self._key(byte)

    def _key(self, byte: int) -> None:
        if byte == _INTERRUPT:
            self._line.clear()
            self.write(b"^C\n", b"")
            self.interrupted.set()
        elif byte == _EOF:
            if not self._line:
                self.close()
        elif byte in _ERASE:
            if self._line:
                self._line.pop()
                self._output(b"\b \b", b"")
        elif byte in (0x0D, 0x0A):
            self._output(b"\r\n", b"")
            self._input.put_nowait(bytes(self._line) + b"\n")
            self._line.clear()
        else:
            self._line.append(byte)
            self._output(bytes([byte]), b"")

    def close(self) -> None:
        """End of input (a ``stdin`` close frame, or Ctrl-D on an empty line)."""
        if not self.ended:
            self.ended = True
            self._line.clear()
            self._input.put_nowait(None)

    def resize(self, rows: int, columns: int) -> None:
        """A ``tty_size`` frame."""
        self.size = (rows, columns)

    # -- what the process sees -----------------------------------------------------------

    async def race(self, work: Coroutine[Any, Any, _T]) -> _T:
        """``work``'s result, unless Ctrl-C comes first: then ``work`` is cancelled and
        :class:`Interrupted` raised."""
        self.interrupted.clear()
        task = asyncio.ensure_future(work)
        interrupt = asyncio.ensure_future(self.interrupted.wait())
        try:
            await asyncio.wait({task, interrupt}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupt.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled():
            self.interrupted.clear()
            raise Interrupted
        return task.result()

    async def readline(self) -> bytes | None:
        """The next line (with its newline; the last one may have none), or ``None`` at
        end of input; :class:`Interrupted` when Ctrl-C came first (what was typed of
        the line is dropped)."""
        while b"\n" not in self._unread and not self._eof:
            try:
                chunk = await self.race(self._input.get())
            except Interrupted:
                self._unread = b""
                raise
            if chunk is None:
                self._eof = True
            else:
                self._unread += chunk
        if not self._unread:
            return None
        line, newline, rest = self._unread.partition(b"\n")
        self._unread = rest
        return line + newline

    async def read_all(self, grace: float) -> bytes:
        """Input until it ends or none came for ``grace`` seconds (for programs that
        read their input whole)."""
        data = bytearray(self._unread)
        self._unread = b""
        while not self._eof:
            try:
                chunk = await asyncio.wait_for(self._input.get(), grace)
            except TimeoutError:
                break
            if chunk is None:
                self._eof = True
            else:
                data += chunk
        return bytes(data)

    def write(self, out: bytes, err: bytes) -> None:
        """Output of the process (through the terminal: ``\\r\\n``, one stream)."""
        if self.tty:
            merged = (out + err).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            if merged:
                self._output(merged, b"")
        elif out or err:
            self._output(out, err)

    def environ(self) -> dict[str, str]:
        """The terminal's size as ``LINES`` and ``COLUMNS`` (the fake-only aid of the
        module docs); empty before a ``tty_size`` frame."""
        if self.size is None:
            return {}
        rows, columns = self.size
        return {"LINES": str(rows), "COLUMNS": str(columns)}


def _incomplete(script: str) -> bool:
    """Whether ``script`` needs more lines (an open ``if``, loop or quote)."""
    try:
        parse(script)
    except ShellSyntaxError as exc:
        return "end of file" in str(exc) or "unterminated" in str(exc)
    return False


async def interactive_shell(term: Terminal, env: Mapping[str, str], fs: FileSystem) -> int:
    """``sh`` reading its commands from ``term`` (module docs); its exit status."""
    run = ShellRun(fs, False, term.write, pids=itertools.count(100))
    shell = Shell(run, dict(env), set(env), next(run.pids), in_job=False)
    pending = ""
    try:
        while True:
            if term.tty:
                term.write(CONTINUED if pending else PROMPT, b"")
            try:
                line = await term.readline()
            except Interrupted:
                pending = ""
                shell.status = INTERRUPTED
                continue
            if line is None:
                return shell.status
            pending += line.decode(errors="replace")
            if _incomplete(pending):
                continue
            script, pending = pending, ""
            if not script.strip():
                continue
            for name, value in term.environ().items():
                shell.vars[name] = value
                shell.exported.add(name)
            shell.status = await _foreground(term, shell, script)
            run.flush()
    except ShellExit as done:
        return done.code
    finally:
        run.flush()
        run.stop()


async def _foreground(term: Terminal, shell: Shell, script: str) -> int:
    """Run one command line; Ctrl-C interrupts it (status 130)."""
    io = Io(b"", shell.run.out, shell.run.err)
    try:
        return await term.race(shell.eval(script, io))
    except Interrupted:
        return INTERRUPTED
    except Fatal as exc:
        io.say(f"sh: {exc}")
        return 2
