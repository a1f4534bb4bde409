"""The programs and builtins of the fake shell (:mod:`ctrlplane.testing.shell`).

Each takes the shell running it, its arguments and its :class:`~ctrlplane.testing.shell.Io`
and returns its exit status, printing what busybox's counterpart prints for the cases
the module docs of :mod:`ctrlplane.testing.shell` list. Builtins that end the shell
(``exit``, ``exec``) or would run forever (``sleep infinity``, ``httpd -f``, ``wait``
for such a job) go through the shell's ``exit`` and ``block``.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctrlplane.testing.shell import FileSystem, Io, Shell

__all__ = ["PROGRAMS", "is_dir"]

BLOCK_SECONDS = 3600.0
"""A sleep this long or longer never ends, as far as the fake is concerned."""
STANDARD_DIRS = frozenset(
    {"/", "/bin", "/dev", "/etc", "/home", "/lib", "/proc", "/root", "/sbin", "/sys", "/tmp"}
    | {"/usr", "/usr/bin", "/usr/sbin", "/var"}
)
SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "USR2": 12, "ALRM": 14}
SIGNALS["TERM"] = 15
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_dir(fs: FileSystem, path: str) -> bool:
    """Whether ``path`` is a directory: standard, or made by ``mkdir`` (a ``PATH/`` entry)."""
    bare = path.rstrip("/") or "/"
    return bare in STANDARD_DIRS or fs.read(bare + "/") is not None


def _is_file(fs: FileSystem, path: str) -> bool:
    return not path.endswith("/") and fs.read(path) is not None


async def _echo(sh: Shell, args: list[str], io: Io) -> int:
    newline = True
    if args[:1] == ["-n"]:
        newline, args = False, args[1:]
    io.out.write((" ".join(args) + ("\n" if newline else "")).encode())
    return 0


def _printf(fmt: str, args: list[str]) -> str:
    out: list[str] = []
    it = iter(args)
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == "\\" and i + 1 < len(fmt):
            out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(fmt[i + 1], "\\" + fmt[i + 1]))
            i += 2
        elif c == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            if spec == "%":
                out.append("%")
            elif spec in "sd":
                out.append(next(it, "" if spec == "s" else "0"))
            else:
                out.append(c + spec)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


async def _printf_prog(sh: Shell, args: list[str], io: Io) -> int:
    if not args:
        io.say("printf: usage: printf FORMAT [ARG]...")
        return 1
    io.out.write(_printf(args[0], args[1:]).encode())
    return 0


async def _cat(sh: Shell, args: list[str], io: Io) -> int:
    code = 0
    for name in args or ["-"]:
        if name == "-":
            io.out.write(await io.read_input())
        elif is_dir(sh.fs, name):
            io.say("cat: read error: Is a directory")
            code = 1
        elif (data := sh.fs.read(name)) is None:
            io.say(f"cat: can't open '{name}': No such file or directory")
            code = 1
        else:
            io.out.write(data)
    return code


async def _printenv(sh: Shell, args: list[str], io: Io) -> int:
    env = sh.environ()
    if not args:
        return await _env(sh, args, io)
    code = 0
    for name in args:
        if name in env:
            io.out.write((env[name] + "\n").encode())
        else:
            code = 1
    return code


async def _env(sh: Shell, args: list[str], io: Io) -> int:
    io.out.write("".join(f"{k}={v}\n" for k, v in sorted(sh.environ().items())).encode())
    return 0


async def _true(sh: Shell, args: list[str], io: Io) -> int:
    return 0


async def _false(sh: Shell, args: list[str], io: Io) -> int:
    return 1


async def _exit(sh: Shell, args: list[str], io: Io) -> int:
    if not args:
        return sh.exit(sh.status)
    if not re.fullmatch(r"-?[0-9]+", args[0]):
        return sh.fatal(f"exit: Illegal number: {args[0]}")
    return sh.exit(int(args[0]) & 0xFF)


async def _exec(sh: Shell, args: list[str], io: Io) -> int:
    if not args:
        return 0
    return sh.exit(await sh.run_argv(args, io, replace=True))


async def _eval(sh: Shell, args: list[str], io: Io) -> int:
    return await sh.eval(" ".join(args), io)


async def _break(sh: Shell, args: list[str], io: Io) -> int:
    return sh.jump(args, is_break=True)


async def _continue(sh: Shell, args: list[str], io: Io) -> int:
    return sh.jump(args, is_break=False)


async def _export(sh: Shell, args: list[str], io: Io) -> int:
    if not args:
        for name, value in sorted(sh.environ().items()):
            quoted = value.replace("'", "'\\''")
            io.out.write(f"export {name}='{quoted}'\n".encode())
        return 0
    code = 0
    for arg in args:
        name, eq, value = arg.partition("=")
        if not _NAME.fullmatch(name):
            io.say(f"sh: export: {arg}: bad variable name")
            code = 1
            continue
        if eq:
            sh.vars[name] = value
        sh.exported.add(name)
    return code


async def _unset(sh: Shell, args: list[str], io: Io) -> int:
    for name in args:
        if not name.startswith("-"):
            sh.vars.pop(name, None)
            sh.exported.discard(name)
    return 0


def _seconds(text: str) -> float | None:
    if text in ("inf", "infinity"):
        return math.inf
    unit = _UNITS.get(text[-1:])
    number = text[:-1] if unit is not None else text
    try:
        value = float(number) * (unit or 1.0)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


async def _sleep(sh: Shell, args: list[str], io: Io) -> int:
    total = 0.0
    for text in args or [""]:
        seconds = _seconds(text)
        if seconds is None:
            io.say(f"sleep: invalid number '{text}'")
            return 1
        total += seconds
    if total >= BLOCK_SECONDS:
        return sh.block("sleep " + " ".join(args), io)
    await asyncio.sleep(total)
    if total > 0:
        sh.run.spins = 0
    return 0


async def _httpd(sh: Shell, args: list[str], io: Io) -> int:
    if "-f" in args:
        return sh.block("httpd -f", io)
    return 0


async def _touch(sh: Shell, args: list[str], io: Io) -> int:
    for name in args:
        if not name.startswith("-") and sh.fs.read(name) is None and not is_dir(sh.fs, name):
            sh.fs.write(name, b"")
    return 0


async def _mkdir(sh: Shell, args: list[str], io: Io) -> int:
    parents = "-p" in args
    code = 0
    for name in (a.rstrip("/") for a in args if not a.startswith("-")):
        if not name:
            continue
        parent = (name.rsplit("/", 1)[0] or "/") if "/" in name else "/"
        if is_dir(sh.fs, name) or sh.fs.read(name) is not None:
            if not parents or not is_dir(sh.fs, name):
                io.say(f"mkdir: can't create directory '{name}': File exists")
                code = 1
            continue
        if not parents and not is_dir(sh.fs, parent):
            io.say(f"mkdir: can't create directory '{name}': No such file or directory")
            code = 1
            continue
        pieces = [piece for piece in name.split("/") if piece]
        root = "/" if name.startswith("/") else ""
        for n in range(1, len(pieces) + 1):
            path = root + "/".join(pieces[:n])
            if not is_dir(sh.fs, path):
                sh.fs.write(path + "/", b"")
    return code


async def _rm(sh: Shell, args: list[str], io: Io) -> int:
    flags = "".join(a[1:] for a in args if a.startswith("-"))
    force, recursive = "f" in flags, "r" in flags or "R" in flags
    code = 0
    for name in (a for a in args if not a.startswith("-")):
        if is_dir(sh.fs, name):
            if recursive and sh.fs.remove(name.rstrip("/") + "/"):
                continue
            io.say(f"rm: can't remove '{name}': Is a directory")
            code = 1
        elif not sh.fs.remove(name) and not force:
            io.say(f"rm: can't remove '{name}': No such file or directory")
            code = 1
    return code


def _signal(text: str) -> int | None:
    """A signal number from ``TERM``, ``SIGTERM``, ``term`` or ``15``."""
    if text.isdigit():
        return int(text) if int(text) < 65 else None
    name = text.upper().removeprefix("SIG")
    return 0 if name == "EXIT" else SIGNALS.get(name)


def _signal_name(number: int) -> str:
    return next((n for n, v in SIGNALS.items() if v == number), "EXIT" if not number else "")


async def _trap(sh: Shell, args: list[str], io: Io) -> int:
    if not args:
        for name, action in sorted(sh.traps.items()):
            quoted = action.replace("'", "'\\''")
            io.out.write(f"trap -- '{quoted}' {name}\n".encode())
        return 0
    action, names = (args[0], args[1:]) if len(args) > 1 else ("-", args)
    code = 0
    for text in names:
        number = _signal(text)
        if number is None or not _signal_name(number):
            io.say(f"sh: trap: {text}: invalid signal specification")
            code = 1
        elif action == "-":
            sh.traps.pop(_signal_name(number), None)
        else:
            sh.traps[_signal_name(number)] = action
    return code


async def _kill(sh: Shell, args: list[str], io: Io) -> int:
    number: int | None = 15
    spec = ""
    if args[:1] == ["-s"] and len(args) > 1:
        spec, args = args[1], args[2:]
    elif args and args[0].startswith("-") and len(args[0]) > 1:
        spec, args = args[0][1:], args[1:]
    if spec:
        number = _signal(spec)
    if number is None:
        io.say(f"sh: bad signal name '{spec}'")
        return 1
    if not args:
        io.say("sh: you need to specify whom to kill")
        return 1
    code = 0
    for text in args:
        if not text.isdigit():
            io.say(f"sh: invalid number '{text}'")
            code = 1
            continue
        pid = int(text)
        if pid == sh.pid:
            await _signal_self(sh, number, io)
            continue
        job = sh.run.jobs.get(pid)
        if job is None:
            io.say(f"sh: can't kill pid {pid}: No such process")
            code = 1
        elif number and job.status is None:
            job.status, job.forever = 128 + number, False
            if job.task is not None:
                job.task.cancel()
    return code


async def _signal_self(sh: Shell, number: int, io: Io) -> None:
    """``kill -SIG $$``: run the trap, or end the shell (PID 1 ignores the signal)."""
    action = sh.traps.get(_signal_name(number))
    if number == 0 or action == "":
        return
    if action is not None:
        await sh.eval(action, io)
    elif sh.pid != 1 or not sh.run.at_start:
        sh.exit(128 + number)


async def _wait(sh: Shell, args: list[str], io: Io) -> int:
    if not args:
        for job in list(sh.jobs.values()):
            failed = await sh.wait_for(job, io)
            if job.status is None:  # never ends, and the shell cannot block here
                return failed
        return 0
    status = 0
    for text in args:
        if not text.isdigit():
            io.say(f"sh: wait: Illegal number: {text}")
            return 2
        waited = sh.jobs.get(int(text))
        status = 127 if waited is None else await sh.wait_for(waited, io)
    return status


class _TestError(Exception):
    """``[`` / ``test`` was given arguments it cannot read (status 2)."""


_UNARY = frozenset({"-n", "-z", "-f", "-d", "-e", "-s"})
_STRING_OPS = frozenset({"=", "==", "!="})
_NUMBER_OPS = {
    "-eq": lambda a, b: a == b,
    "-ne": lambda a, b: a != b,
    "-lt": lambda a, b: a < b,
    "-le": lambda a, b: a <= b,
    "-gt": lambda a, b: a > b,
    "-ge": lambda a, b: a >= b,
}
_BINARY = _STRING_OPS | set(_NUMBER_OPS)


class _Test:
    """The expression of ``test``: ``-o`` binds looser than ``-a``, ``!`` and ``( )``."""

    def __init__(self, fs: FileSystem, args: list[str]) -> None:
        self.fs = fs
        self.args = args
        self.pos = 0

    def left(self) -> int:
        return len(self.args) - self.pos

    def either(self, depth: int = 0) -> bool:
        if depth > 100:
            raise _TestError("expression nested too deeply")
        result = self.both(depth)
        while self.left() > 1 and self.args[self.pos] == "-o":
            self.pos += 1
            result = self.both(depth) or result
        return result

    def both(self, depth: int) -> bool:
        result = self.negation(depth)
        while self.left() > 1 and self.args[self.pos] == "-a":
            self.pos += 1
            result = self.negation(depth) and result
        return result

    def negation(self, depth: int) -> bool:
        args, pos = self.args, self.pos
        binary_next = self.left() >= 3 and args[pos + 1] in _BINARY
        if self.left() >= 2 and args[pos] == "!" and not binary_next:
            self.pos += 1
            return not self.negation(depth + 1)
        return self.primary(depth)

    def primary(self, depth: int) -> bool:
        args, pos, left = self.args, self.pos, self.left()
        if left == 0:
            raise _TestError("argument expected")
        if left >= 3 and args[pos + 1] in _BINARY:
            self.pos += 3
            return self.binary(args[pos], args[pos + 1], args[pos + 2])
        if args[pos] == "(" and left >= 2:
            self.pos += 1
            result = self.either(depth + 1)
            if self.left() == 0 or self.args[self.pos] != ")":
                raise _TestError("missing )")
            self.pos += 1
            return result
        if args[pos] in _UNARY and left >= 2:
            self.pos += 2
            return self.unary(args[pos], args[pos + 1])
        self.pos += 1
        return args[pos] != ""

    def unary(self, op: str, arg: str) -> bool:
        if op in ("-n", "-z"):
            return (arg != "") == (op == "-n")
        if op == "-d":
            return is_dir(self.fs, arg)
        if op == "-s":
            return bool(_is_file(self.fs, arg) and self.fs.read(arg))
        exists = _is_file(self.fs, arg)
        return exists or (op == "-e" and (is_dir(self.fs, arg) or arg == "/dev/null"))

    def binary(self, a: str, op: str, b: str) -> bool:
        if op in _STRING_OPS:
            return (a == b) == (op != "!=")
        numbers: list[int] = []
        for text in (a, b):
            if not re.fullmatch(r"\s*[-+]?[0-9]+\s*", text):
                raise _TestError(f"{text}: bad number")
            numbers.append(int(text))
        return bool(_NUMBER_OPS[op](numbers[0], numbers[1]))


async def _test(sh: Shell, args: list[str], io: Io) -> int:
    try:
        test = _Test(sh.fs, args)
        result = test.either() if args else False
        if test.pos != len(args):
            raise _TestError(f"{args[test.pos]}: unknown operand")
    except _TestError as exc:
        io.say(f"sh: {exc}")
        return 2
    return 0 if result else 1


async def _bracket(sh: Shell, args: list[str], io: Io) -> int:
    if args[-1:] != ["]"]:
        io.say("sh: missing ]")
        return 2
    return await _test(sh, args[:-1], io)


Program = Callable[["Shell", list[str], "Io"], Awaitable[int]]
PROGRAMS: dict[str, Program] = {
    "echo": _echo,
    "printf": _printf_prog,
    "cat": _cat,
    "printenv": _printenv,
    "env": _env,
    "true": _true,
    ":": _true,
    "false": _false,
    "exit": _exit,
    "exec": _exec,
    "eval": _eval,
    "break": _break,
    "continue": _continue,
    "export": _export,
    "unset": _unset,
    "sleep": _sleep,
    "httpd": _httpd,
    "touch": _touch,
    "mkdir": _mkdir,
    "rm": _rm,
    "trap": _trap,
    "kill": _kill,
    "wait": _wait,
    "test": _test,
    "[": _bracket,
}
"""Every program the fake shell runs, by name (``sh`` is the shell itself)."""
