"""What sits between a fake exec session and its process: a terminal (or a plain pipe)
and the fake shell answering command by command. Used by
:class:`~ctrlplane.testing.sessions.FakeSession`; a fake agent's exec endpoint can use it
too.

**The terminal** (``tty`` sessions; a real engine gives the process a pseudo-terminal):
what is typed is echoed back (Enter as ``\\r\\n``, Backspace as ``\\b \\b``), Enter
(``\\r`` or ``\\n``) completes a line, and the process receives each line once it is
complete; its ``\\n`` reach the session as ``\\r\\n`` and its stderr comes on stdout (one
terminal). Ctrl-C (``\\x03``) interrupts the foreground command (echoed ``^C``), Ctrl-D
(``\\x04``) on an empty line is end of input, as is the session's end of input.
**Without a terminal** input reaches the process as it is written, nothing is echoed and
the streams stay apart.

**The interactive shell**: ``sh`` without a script (``["sh"]``, ``["/bin/sh"]``, ``["sh",
"-i"]``, ``["sh", "-s"]``) reads commands as they come. With a terminal it prints
busybox's prompt (``/ # ``, ``> `` while a command is incomplete); it runs each complete
command in the same shell (variables persist, ``exit N`` ends it with N), hands on the
output of each command as it finishes, and at end of input exits with the last status.
An interrupted command has status 130. Commands it runs read no input (``cat`` alone
reads nothing).

**Fake-only aid**: every command the interactive shell runs sees the terminal's size as
``LINES`` and ``COLUMNS`` (the fake shell has no ``stty``; a real busybox ``sh`` does not
set them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from ctrlplane.testing.shell import Fatal, FileSystem, Io, Shell, ShellExit, ShellRun
from ctrlplane.testing.shell_parse import ShellSyntaxError, parse

__all__ = [
    "INTERRUPTED",
    "Interrupted",
    "Output",
    "Terminal",
    "interactive_shell",
    "is_interactive_shell",
]

_T = TypeVar("_T")

PROMPT = b"/ # "
"""busybox's prompt for root in ``/`` (``PS1='\\w \\$ '``)."""
CONTINUED = b"> "
INTERRUPTED = 130
"""The status of a command ended by Ctrl-C (128 + SIGINT)."""
_INTERRUPT = 0x03
_EOF = 0x04
_ERASE = (0x7F, 0x08)
_ENTER = (0x0D, 0x0A)

Output = Callable[[bytes, bytes], None]
"""Receives (stdout, stderr) as the process writes it, through the terminal."""


class Interrupted(Exception):
    """Ctrl-C came while the process waited."""


def is_interactive_shell(argv: list[str]) -> bool:
    """Whether ``argv`` is ``sh`` reading its commands from its input."""
    return (
        bool(argv)
        and argv[0].rsplit("/", 1)[-1] == "sh"
        and all(a in ("-i", "-s") for a in argv[1:])
    )


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
        self._whole: bytes | None = None
        self.interrupted = asyncio.Event()
        self.ended = False

    # -- what the session sends ----------------------------------------------------------

    def type(self, data: bytes) -> None:
        """Input written by the session (ignored once input ended)."""
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
        elif byte in _ENTER:
            self._output(b"\r\n", b"")
            self._input.put_nowait(bytes(self._line) + b"\n")
            self._line.clear()
        else:
            self._line.append(byte)
            self._output(bytes([byte]), b"")

    def close(self) -> None:
        """End of input (the session's, or Ctrl-D on an empty line); a line typed but not
        completed is dropped, as a terminal does."""
        if not self.ended:
            self.ended = True
            self._line.clear()
            self._input.put_nowait(None)

    def resize(self, rows: int, columns: int) -> None:
        """The terminal's new size."""
        self.size = (rows, columns)

    # -- what the process sees -----------------------------------------------------------

    async def race(self, work: Coroutine[Any, Any, _T]) -> _T:
        """``work``'s result, unless Ctrl-C comes first (also one typed ahead, before
        ``work`` began): then ``work`` is cancelled and :class:`Interrupted` raised."""
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

    async def _more(self) -> None:
        chunk = await self._input.get()
        if chunk is None:
            self._eof = True
        else:
            self._unread += chunk

    async def readline(self) -> bytes | None:
        """The next line (with its newline; the last one may have none), or ``None`` at
        end of input; :class:`Interrupted` when Ctrl-C came first (what was typed of
        the line is dropped)."""
        while b"\n" not in self._unread and not self._eof:
            try:
                await self.race(self._more())
            except Interrupted:
                self._unread = b""
                raise
        if not self._unread:
            return None
        line, newline, rest = self._unread.partition(b"\n")
        self._unread = rest
        return line + newline

    async def read_all(self) -> bytes:
        """All of the input, once it has ended (for programs that read their input
        whole); every call gives the same bytes."""
        while not self._eof:
            await self._more()
        if self._whole is None:
            self._whole, self._unread = self._unread, b""
        return self._whole

    def write(self, out: bytes, err: bytes) -> None:
        """Output of the process (with a terminal: ``\\r\\n``, one stream)."""
        if self.tty:
            merged = (out + err).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            if merged:
                self._output(merged, b"")
        elif out or err:
            self._output(out, err)

    def environ(self) -> dict[str, str]:
        """The terminal's size as ``LINES`` and ``COLUMNS`` (the fake-only aid of the
        module docs); empty before a size was set."""
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
