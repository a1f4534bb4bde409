"""The fake shell: a tiny, busybox-compatible interpreter for exec and start commands.

So the same scripts run on the fake and on real containers built from busybox (the
conformance suite runs them on both), the fake understands a subset of ``sh`` and of
busybox's programs:

- argv run directly (``["echo", "hi"]``), ``["sh", "-c", SCRIPT]``, ``["sh", FILE]``, or
  ``sh`` reading the script on stdin;
- lists joined by ``;``, newlines, ``&&``, ``||`` and ``&``; ``! CMD``; ``if C; then ...;
  elif C; then ...; else ...; fi``, ``while C; do ...; done`` and ``until C; do ...;
  done``, nested, on one line or many, with ``break [N]`` and ``continue [N]``;
- quotes, backslash escapes, ``# comments``; ``$NAME``, ``${NAME}``, ``$?``, ``$$``,
  ``$!``, ``$#`` (0), ``$0`` (``sh``); unquoted expansions split on blanks (no globbing);
  ``$((EXPR))`` (:func:`~ctrlplane.testing.shell_arith.arithmetic`);
- ``NAME=value`` (a shell variable), ``NAME=value CMD`` (in CMD's environment only),
  ``export``, ``unset``; the container's env starts exported and is never changed;
- redirections ``>&2``, ``2>&1``, ``> FILE``, ``>> FILE``, ``2> FILE``, ``< FILE``, also
  after ``fi`` and ``done``; ``/dev/null`` discards;
- background jobs: ``CMD &`` sets ``$!``; ``wait`` (every job; status 0) and ``wait
  PID...`` (the last one's status; 127 if PID is not a job); ``kill [-SIG|-s SIG] PID...``
  ends a job, which then exits ``128 + SIG`` (143 for TERM). ``$$`` is 1 in a start
  command (the container's PID 1), 100 in exec; jobs and nested shells take the next
  numbers. Jobs still running when the command ends end with it;
- programs: ``echo [-n]``, ``printf FMT [ARG...]`` (``%s %d %% \\n \\t``), ``cat``,
  ``printenv``, ``env``, ``true``, ``false``, ``:``, ``exit [N]``, ``sleep
  N[smhd]|infinity``, ``touch``, ``mkdir [-p]``, ``rm [-fr]``, ``[ ... ]`` and ``test``
  (``! -n -z = == != -eq -ne -lt -le -gt -ge -f -d -e -s -a -o \\( \\)``), ``eval``,
  ``exec CMD...`` (CMD's status ends the shell), ``trap``, ``wait``, ``kill``, ``httpd``
  and ``sh``, also by path (``/bin/echo``).

Files only: the file system has no directories, so ``-d`` is true for ``/``, busybox's
standard directories (``/bin``, ``/tmp``, ``/var``, ...) and those ``mkdir`` made, which it
records as ``PATH/`` entries among the container's files; ``rm -r DIR`` removes such an
entry but not the files under it (the file system cannot list them).

``trap ACTION SIG`` records ACTION and runs it only when the script ``kill`` s its own
``$$`` (an ``EXIT`` trap never runs). Stopping a fake container cancels its process, which
exits 0 as the ``trap 'exit 0' TERM`` idiom makes real ones do. Without a trap, ``kill
$$`` ends the shell with ``128 + SIG``, except in a start command: PID 1 ignores signals
it does not trap.

``httpd`` is not run: HTTP in the fake comes from the image's handler
(:class:`~ctrlplane.testing.images.FakeImage`). ``httpd -f ...`` (foreground) runs until
killed, so ``httpd -f -p 80 & pid=$!; wait $pid`` is a long-running server; without
``-f`` httpd "daemonizes" and returns 0 at once.

Any other program exits 127 with ``sh: NAME: not found`` on stderr, as busybox does;
syntax outside the subset (``for``, ``case``, pipes, ``$(...)``, subshells,
here-documents, ``${NAME:-...}``) exits 2 with ``sh: syntax error: ...``.

Blocking: at container start, a command that would wait forever "blocks": the process
keeps running and :func:`run_command` returns with ``blocked`` set. That is a long sleep
(``sleep infinity``, or 3600 s and more), ``httpd -f``, ``wait`` for a job that blocks,
and an idle loop, whose test is ``true`` or ``:`` (``false`` for ``until``) and whose
body only runs ``sleep``, ``wait``, ``true`` and ``:``, such as ``while true; do sleep 1
& wait $!; done``. The call first lets running jobs finish (one that prints forever
keeps it running, as it keeps a real container busy). Outside a start command these
fail with status 1 and a message (an exec would hang), except in a background job,
which then never ends.

Busy loops: after :data:`SPIN_LIMIT` loop iterations in a row without sleeping or
waiting (which would hold the event loop), the shell ends with status 2 and says so.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

from ctrlplane.testing.shell_arith import arithmetic
from ctrlplane.testing.shell_parse import (
    AndOr,
    Command,
    If,
    Item,
    Loop,
    Redirect,
    Sequence,
    ShellSyntaxError,
    Simple,
    Word,
    parse,
)
from ctrlplane.testing.shell_programs import PROGRAMS

__all__ = [
    "FileSystem",
    "InputSource",
    "Io",
    "Shell",
    "ShellExit",
    "ShellResult",
    "ShellRun",
    "Sink",
    "run_command",
]

SPIN_LIMIT = 100_000
"""Loop iterations in a row without sleeping or waiting after which the shell gives up."""
_MAX_DEPTH = 100
_REMEMBERED_JOBS = 256
_BLANKS = (" ", "\t", "\n")
_IFS = re.compile("[ \t\n]+")


class FileSystem(Protocol):
    """The files of one container, as the shell sees them."""

    def read(self, path: str) -> bytes | None:
        """The file's content, or ``None`` if it does not exist."""
        ...

    def write(self, path: str, data: bytes, *, append: bool = False) -> None:
        """Create or overwrite (or append to) a file."""
        ...

    def remove(self, path: str) -> bool:
        """Remove a file; whether it existed."""
        ...


@dataclass
class ShellResult:
    """What a command did: its exit status and output; ``blocked`` if it kept running."""

    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""
    blocked: bool = False


Sink = Callable[[bytes, bytes], None]
"""Receives (stdout, stderr) output as each command of a script finishes."""


class Writer(Protocol):
    """Where a stream's bytes go."""

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        ...


class Buffer:
    """A stream kept in memory."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        self.data += data

    def take(self) -> bytes:
        """What was written since the last take."""
        data = bytes(self.data)
        self.data.clear()
        return data


class _Null:
    def write(self, data: bytes) -> None:
        pass


@dataclass
class _FileWriter:
    fs: FileSystem
    path: str

    def write(self, data: bytes) -> None:
        self.fs.write(self.path, data, append=True)


InputSource = Callable[[], Awaitable[bytes]]
"""Input that is not there yet: awaiting it gives all of it, once it has ended (an exec
session's input, see :mod:`ctrlplane.testing.sessions`)."""


@dataclass
class Io:
    """A command's standard input and its output streams. The input is ``stdin``, or,
    with ``source``, what the source gives once it ended: a program that reads its input
    (``cat``, ``sh`` without a script) waits for it; others never do."""

    stdin: bytes
    out: Writer
    err: Writer
    source: InputSource | None = None

    async def read_input(self) -> bytes:
        """All of the input (waits for its end, with a ``source``)."""
        return self.stdin if self.source is None else await self.source()

    def say(self, text: str) -> None:
        """Write ``text`` and a newline to stderr (how programs report errors)."""
        self.err.write(f"{text}\n".encode())


class ShellExit(Exception):
    """``exit N`` (or a fatal error): the shell ends with ``code``."""

    def __init__(self, code: int) -> None:
        self.code = code


class Blocked(Exception):
    """The shell would wait forever from here: a start command's process keeps running."""


class Fatal(Exception):
    """An error that ends the shell with status 2 (busybox prints ``sh: MESSAGE``)."""


class _Jump(Exception):
    """``break`` or ``continue`` leaving ``levels`` loops."""

    def __init__(self, levels: int, *, is_break: bool) -> None:
        self.levels = levels
        self.is_break = is_break


@dataclass
class Job:
    """A background job: ``status`` once it ended, ``forever`` if it blocked."""

    pid: int
    task: asyncio.Task[None] | None = None
    status: int | None = None
    forever: bool = False


@dataclass
class ShellRun:
    """What the shells of one command share: the file system, the output buffers (handed
    to ``sink`` at each :meth:`flush`), the background jobs and the PIDs. Made by
    :func:`run_command`, or by a driver that runs a :class:`Shell` command by command
    (the interactive shell of :mod:`ctrlplane.testing.terminal`); :meth:`stop` ends
    the jobs still running."""

    fs: FileSystem
    at_start: bool
    sink: Sink | None
    out: Buffer = field(default_factory=Buffer)
    err: Buffer = field(default_factory=Buffer)
    jobs: dict[int, Job] = field(default_factory=dict)
    spins: int = 0
    pids: itertools.count[int] = field(default_factory=itertools.count)

    def flush(self) -> None:
        if self.sink is not None and (self.out.data or self.err.data):
            self.sink(self.out.take(), self.err.take())

    def spin(self) -> None:
        self.spins += 1
        if self.spins > SPIN_LIMIT:
            raise Fatal(
                f"a loop ran {SPIN_LIMIT} times without sleeping or waiting "
                "(the fake shell stops busy loops)"
            )

    def running(self) -> list[asyncio.Task[None]]:
        return [j.task for j in self.jobs.values() if j.task is not None and not j.task.done()]

    async def settle(self) -> None:
        while pending := self.running():
            await asyncio.wait(pending)

    def stop(self) -> None:
        for task in self.running():
            task.cancel()


def _fields(shell: Shell, word: Word) -> list[str]:
    """The fields ``word`` expands to: unquoted expansions split on blanks."""
    fields: list[str] = []
    current, have = "", False
    for part in word.parts:
        text = shell.part_value(part.kind, part.text)
        if part.kind == "lit" or part.quoted:
            current += text
            have = have or part.quoted or bool(text)
            continue
        pieces = [piece for piece in _IFS.split(text) if piece]
        if text[:1] in _BLANKS and (current or have):
            fields.append(current)
            current, have = "", False
        for n, piece in enumerate(pieces):
            if n:
                fields.append(current)
                current = ""
            current += piece
            have = True
        if text[-1:] in _BLANKS and (current or have):
            fields.append(current)
            current, have = "", False
    if current or have:
        fields.append(current)
    return fields


class Shell:
    """One shell process: its variables, jobs and traps; runs parsed scripts."""

    def __init__(
        self, run: ShellRun, variables: dict[str, str], exported: set[str], pid: int, in_job: bool
    ) -> None:
        self.run = run
        self.vars = variables
        self.exported = exported
        self.pid = pid
        self.in_job = in_job
        self.status = 0
        self.last_job: int | None = None
        self.jobs: dict[int, Job] = {}
        self.traps: dict[str, str] = {}
        self.loops = 0
        self.depth = 0

    @property
    def fs(self) -> FileSystem:
        """The container's files."""
        return self.run.fs

    def environ(self) -> dict[str, str]:
        """The exported variables (what programs see as their environment)."""
        return {k: v for k, v in self.vars.items() if k in self.exported}

    def child(self, *, pid: int, in_job: bool, everything: bool) -> Shell:
        """A new shell: a subshell copies all variables, a new ``sh`` only exported ones."""
        variables = dict(self.vars) if everything else self.environ()
        return Shell(self.run, variables, set(self.exported), pid, in_job)

    def new_pid(self) -> int:
        """The next process ID of this run."""
        return next(self.run.pids)

    def part_value(self, kind: str, text: str) -> str:
        """The text of one part of a word."""
        if kind == "lit":
            return text
        if kind == "arith":
            try:
                return str(arithmetic(text, self.lookup))
            except ShellSyntaxError as exc:
                raise Fatal(str(exc)) from None
        return self.lookup(text)

    def lookup(self, name: str) -> str:
        """The value of ``$name`` (special parameters included; unset is empty)."""
        special = {"?": str(self.status), "$": str(self.pid), "#": "0", "0": "sh"}
        special["!"] = "" if self.last_job is None else str(self.last_job)
        if name in special:
            return special[name]
        return self.vars.get(name, "")

    def word(self, word: Word) -> str:
        """``word`` expanded to one string (assignments and redirection targets)."""
        return "".join(self.part_value(p.kind, p.text) for p in word.parts)

    def exit(self, code: int) -> NoReturn:
        """End the shell with status ``code``."""
        raise ShellExit(code)

    def fatal(self, message: str) -> NoReturn:
        """End the shell with status 2 after ``sh: message`` on stderr."""
        raise Fatal(message)

    def block(self, what: str, io: Io) -> int:
        """``what`` would never end: block (at start, or in a job), else fail with 1."""
        if self.run.at_start or self.in_job:
            raise Blocked
        io.say(f"sh: {what}: the fake shell runs forever only in a container's start command")
        return 1

    async def run_script(self, script: str, io: Io) -> int:
        """Run ``script`` as a whole shell: its ``exit`` and fatal errors end only it."""
        try:
            return await self.eval(script, io)
        except ShellExit as done:
            return done.code
        except Fatal as exc:
            io.say(f"sh: {exc}")
            return 2

    async def eval(self, script: str, io: Io) -> int:
        """Run ``script`` in this shell (``eval``, traps); 2 if it does not parse."""
        try:
            program = parse(script)
        except ShellSyntaxError as exc:
            io.say(f"sh: syntax error: {exc}")
            return 2
        if self.depth >= _MAX_DEPTH:
            raise Fatal("eval nested too deeply")
        self.depth += 1
        try:
            return await self.run_sequence(program, io)
        finally:
            self.depth -= 1

    async def run_sequence(self, items: Sequence, io: Io) -> int:
        """Run a list; its status is the last command's (0 after ``&``)."""
        for item in items:
            if item.background:
                self.spawn(item, io)
                self.status = 0
            else:
                self.status = await self.run_and_or(item.and_or, io)
        return self.status

    async def run_and_or(self, and_or: AndOr, io: Io) -> int:
        """Run pipelines joined by ``&&`` and ``||``."""
        status = await self.run_command(and_or.first.command, io)
        status = int(not status) if and_or.first.negate else status
        for op, pipeline in and_or.rest:
            self.status = status
            if (op == "&&") == (status == 0):
                status = await self.run_command(pipeline.command, io)
                status = int(not status) if pipeline.negate else status
        return status

    async def run_command(self, cmd: Command, io: Io) -> int:
        """Run one command with its redirections; its output reaches the sink when it ends."""
        try:
            redirected = self.redirect(cmd.redirects, io)
            if isinstance(redirected, int):
                return redirected
            if isinstance(cmd, Simple):
                return await self.run_simple(cmd, redirected)
            if isinstance(cmd, If):
                for cond, body in cmd.clauses:
                    if await self.run_sequence(cond, redirected) == 0:
                        return await self.run_sequence(body, redirected)
                return await self.run_sequence(cmd.orelse, redirected) if cmd.orelse else 0
            return await self.run_loop(cmd, redirected)
        finally:
            self.run.flush()

    async def run_simple(self, cmd: Simple, io: Io) -> int:
        """Expand and run a simple command (``NAME=value`` alone sets a variable)."""
        argv = [f for w in cmd.words for f in _fields(self, w)]
        assigns = {name: self.word(value) for name, value in cmd.assigns}
        if not argv:
            self.vars.update(assigns)
            return 0
        saved = {name: (self.vars.get(name), name in self.exported) for name in assigns}
        self.vars.update(assigns)
        self.exported.update(assigns)
        try:
            return await self.run_argv(argv, io)
        finally:
            for name, (value, exported) in saved.items():
                if value is None:
                    self.vars.pop(name, None)
                else:
                    self.vars[name] = value
                if not exported:
                    self.exported.discard(name)

    def redirect(self, redirects: list[Redirect], io: Io) -> Io | int:
        """``io`` with ``redirects`` applied (files opened now), or 1 if a file is missing."""
        if not redirects:
            return io
        fds: dict[int, Writer] = {1: io.out, 2: io.err}
        stdin, source = io.stdin, io.source
        for r in redirects:
            target = self.word(r.target)
            if r.op == "<":
                data = None if target.endswith("/") else self.fs.read(target)
                if data is None:
                    io.say(f"sh: can't open '{target}': No such file or directory")
                    return 1
                stdin, source = data, None
            elif r.op == ">&":
                if target == "-":
                    fds[r.fd] = _Null()
                elif target.isdigit() and int(target) in fds:
                    fds[r.fd] = fds[int(target)]
                else:
                    io.say(f"sh: {target}: bad file descriptor")
                    return 1
            elif target == "/dev/null":
                fds[r.fd] = _Null()
            else:
                if r.op == ">":
                    self.fs.write(target, b"")
                fds[r.fd] = _FileWriter(self.fs, target)
        return Io(stdin, fds[1], fds[2], source)

    async def run_loop(self, loop: Loop, io: Io) -> int:
        """Run a ``while``/``until`` loop (an idle one that never ends blocks)."""
        if loop.idle:
            return self.block("an idle loop", io)
        status = 0
        self.loops += 1
        try:
            while True:
                self.run.spin()
                if (await self.run_sequence(loop.cond, io) == 0) == loop.until:
                    return status
                try:
                    status = await self.run_sequence(loop.body, io)
                except _Jump as jump:
                    if jump.levels > 1:
                        jump.levels -= 1
                        raise
                    if jump.is_break:
                        return 0
        finally:
            self.loops -= 1

    def jump(self, args: list[str], *, is_break: bool) -> int:
        """``break``/``continue [N]``: leave N loops (outside a loop, do nothing)."""
        if args and (not args[0].isdigit() or int(args[0]) < 1):
            raise Fatal(f"{'break' if is_break else 'continue'}: Illegal number: {args[0]}")
        if self.loops:
            levels = int(args[0]) if args else 1
            raise _Jump(min(levels, self.loops), is_break=is_break)
        return 0

    async def run_argv(self, argv: list[str], io: Io, *, replace: bool = False) -> int:
        """Run a program; ``replace`` (``exec``, the first command) keeps this PID for ``sh``."""
        name = argv[0]
        prog = name.rsplit("/", 1)[-1]
        if prog == "sh":
            return await self.run_sh(argv[1:], io, pid=self.pid if replace else self.new_pid())
        handler = PROGRAMS.get(prog)
        if handler is None:
            io.say(f"sh: {name}: not found")
            return 127
        return await handler(self, argv[1:], io)

    async def run_sh(self, args: list[str], io: Io, *, pid: int) -> int:
        """``sh -c SCRIPT``, ``sh FILE`` or ``sh`` (the script on stdin) as a new shell."""
        if args[:1] == ["-c"]:
            if len(args) < 2:
                io.say("sh: -c requires an argument")
                return 2
            script = args[1]
        elif not args or args[0] == "-s":
            script = (await io.read_input()).decode(errors="replace")
        elif args[0].startswith("-"):
            io.say(f"sh: {args[0]}: the fake shell supports only -c SCRIPT, -s and FILE")
            return 2
        else:
            data = self.fs.read(args[0])
            if data is None:
                io.say(f"sh: can't open '{args[0]}': No such file or directory")
                return 2
            script = data.decode(errors="replace")
        if self.depth >= _MAX_DEPTH:
            raise Fatal("sh nested too deeply")
        sub = self.child(pid=pid, in_job=self.in_job, everything=False)
        sub.depth = self.depth + 1
        return await sub.run_script(script, io)

    def spawn(self, item: Item, io: Io) -> None:
        """Start ``item`` as a background job of this shell (forgetting the oldest ended
        jobs nobody waited for beyond :data:`_REMEMBERED_JOBS`, as a shell reaps them)."""
        ended = [pid for pid, j in self.jobs.items() if j.status is not None]
        for pid in ended[: max(0, len(self.jobs) - _REMEMBERED_JOBS)]:
            del self.jobs[pid], self.run.jobs[pid]
        job = Job(self.new_pid())
        sub = self.child(pid=self.pid, in_job=True, everything=True)
        job.task = asyncio.create_task(sub.run_job(item.and_or, Io(b"", io.out, io.err), job))
        self.jobs[job.pid] = self.run.jobs[job.pid] = job
        self.last_job = job.pid

    async def run_job(self, and_or: AndOr, io: Io, job: Job) -> None:
        """The body of a background job's task."""
        status = 0
        try:
            status = await self.run_and_or(and_or, io)
        except ShellExit as done:
            status = done.code
        except Blocked:
            job.forever = True
            return
        except Fatal as exc:
            io.say(f"sh: {exc}")
            status = 2
        except asyncio.CancelledError:
            for other in self.jobs.values():
                if other.task is not None:
                    other.task.cancel()
            raise
        finally:
            self.run.flush()
        if job.status is None:
            job.status = status

    async def wait_for(self, job: Job, io: Io) -> int:
        """Wait until ``job`` ends; its status (a job that never ends blocks)."""
        if job.task is not None and not job.task.done():
            await asyncio.wait({job.task})
            self.run.spins = 0
        if job.status is None:
            return self.block(f"wait {job.pid}", io)
        self.jobs.pop(job.pid, None)
        self.run.jobs.pop(job.pid, None)
        return job.status


async def run_command(
    argv: list[str],
    *,
    env: Mapping[str, str],
    fs: FileSystem,
    stdin: bytes = b"",
    stdin_source: InputSource | None = None,
    at_start: bool = False,
    sink: Sink | None = None,
) -> ShellResult:
    """Run ``argv`` in a fake container with ``env`` (not changed) and ``fs``.

    ``at_start`` marks a container's start command: a command that would never end (see
    the module docs) then blocks: once the background jobs that can finish have, the
    result has ``blocked`` set and the output printed so far, instead of failing. With
    ``sink``, output is handed over command by command (as a process prints it) and the
    result holds only what was not handed over. With ``stdin_source`` the input is what
    that source gives once it ended (a program that reads its input waits for it, see
    :class:`Io`), instead of ``stdin``. Cancelling the call ends the command and its jobs.
    """
    run = ShellRun(fs, at_start, sink, pids=itertools.count(1 if at_start else 100))
    shell = Shell(run, dict(env), set(env), next(run.pids), in_job=False)
    io = Io(stdin, run.out, run.err, stdin_source)
    try:
        try:
            code = await shell.run_argv(list(argv), io, replace=True)
        except ShellExit as done:
            code = done.code
        except Fatal as exc:
            io.say(f"sh: {exc}")
            code = 2
        except Blocked:
            await run.settle()
            return ShellResult(0, run.out.take(), run.err.take(), blocked=True)
        return ShellResult(code, run.out.take(), run.err.take())
    finally:
        run.stop()


_Run = ShellRun
"""The former name of :class:`ShellRun` (the fake Nomad agent's terminal imports it)."""
