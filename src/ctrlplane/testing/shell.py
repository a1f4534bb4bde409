"""The fake shell: a tiny, busybox-compatible interpreter for exec and start commands.

So tests written against the fake also run on real containers built from busybox, the
fake understands a small subset of ``sh`` and of busybox's programs:

- argv run directly (``["echo", "hi"]``), or ``["sh", "-c", SCRIPT]``;
- scripts of simple commands joined by ``;``, newlines, ``&&`` and ``||``; single and double
  quotes, backslash escapes, ``$NAME`` / ``${NAME}`` expansion, ``# comments``;
- redirections ``>&2``, ``1>&2``, ``2>&1``, ``> FILE``, ``>> FILE``, ``2> FILE``, ``< FILE``
  (``/dev/null`` discards);
- programs: ``echo [-n]``, ``printf FMT [ARG...]`` (``%s``, ``%d``, ``%%``, ``\\n``, ``\\t``),
  ``cat [FILE|-...]`` (stdin without arguments), ``printenv [NAME...]``, ``env``, ``true``,
  ``false``, ``:``, ``exit [N]``, ``sleep N|infinity``, ``touch``, ``mkdir``, ``rm``,
  ``trap``, ``wait``, ``exec CMD...``, ``sh -c SCRIPT``. Paths such as ``/bin/echo`` work.

Anything else exits 127 with ``sh: NAME: not found`` on stderr, as busybox does; loops and
conditionals (``while``, ``if``, ...) exit 2. At container start a long sleep
(``sleep infinity``, or 3600 s and more) "blocks": the process keeps running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["FileSystem", "ShellResult", "Sink", "run_command"]

_OPERATORS = (";", "&&", "||")
_UNSUPPORTED = frozenset({"while", "for", "if", "then", "do", "done", "fi", "case", "until"})
_BLOCK_SECONDS = 3600.0


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


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Block(Exception):
    """A long sleep at start-up: the fake container keeps running from here."""


@dataclass
class _Word:
    text: str = ""
    quoted: bool = False


@dataclass
class _Command:
    words: list[str] = field(default_factory=list)
    redirects: list[tuple[str, str]] = field(default_factory=list)


class _SyntaxError(Exception):
    """The script is not in the subset of ``sh`` the fake understands."""


def _tokenize(script: str, env: Mapping[str, str]) -> list[str | tuple[str, str]]:
    """Words (``str``) and operators (``("op", text)``) of a script, variables expanded."""
    out: list[str | tuple[str, str]] = []
    word: _Word | None = None
    i = 0
    n = len(script)

    def expand(pos: int) -> tuple[str, int]:
        if pos + 1 < n and script[pos + 1] == "{":
            end = script.find("}", pos + 2)
            if end < 0:
                raise _SyntaxError("bad substitution")
            return env.get(script[pos + 2 : end], ""), end + 1
        j = pos + 1
        while j < n and (script[j].isalnum() or script[j] == "_"):
            j += 1
        if j == pos + 1:
            return "$", pos + 1
        return env.get(script[pos + 1 : j], ""), j

    def flush() -> None:
        nonlocal word
        if word is not None and (word.text or word.quoted):
            out.append(word.text)
        word = None

    while i < n:
        c = script[i]
        if c in " \t":
            flush()
            i += 1
        elif c == "#" and word is None:
            while i < n and script[i] != "\n":
                i += 1
        elif c in ";\n":
            flush()
            out.append(("op", ";"))
            i += 1
        elif c in "&|":
            flush()
            if script.startswith(c * 2, i):
                out.append(("op", c * 2))
                i += 2
            else:
                raise _SyntaxError(f"{c!r} (background jobs and pipes) is not supported")
        elif c in "<>":
            fd = ""
            if word is not None and not word.quoted and word.text in ("1", "2"):
                fd, word = word.text, None
            flush()
            if script.startswith(">>", i):
                op, i = fd + ">>", i + 2
            elif script.startswith(">&", i):
                op, i = fd + ">&", i + 2
            else:
                op, i = fd + c, i + 1
            out.append(("op", op))
        elif c == "'":
            end = script.find("'", i + 1)
            if end < 0:
                raise _SyntaxError("unterminated quoted string")
            word = word or _Word()
            word.text += script[i + 1 : end]
            word.quoted = True
            i = end + 1
        elif c == '"':
            word = word or _Word()
            word.quoted = True
            i += 1
            while i < n and script[i] != '"':
                if script[i] == "\\" and i + 1 < n and script[i + 1] in '"\\$':
                    word.text += script[i + 1]
                    i += 2
                elif script[i] == "$":
                    value, i = expand(i)
                    word.text += value
                else:
                    word.text += script[i]
                    i += 1
            if i >= n:
                raise _SyntaxError("unterminated quoted string")
            i += 1
        elif c == "\\" and i + 1 < n:
            word = word or _Word()
            word.text += script[i + 1] if script[i + 1] != "\n" else ""
            word.quoted = True
            i += 2
        elif c == "$":
            value, i = expand(i)
            word = word or _Word()
            word.text += value
        else:
            word = word or _Word()
            word.text += c
            i += 1
    flush()
    return out


def _parse(tokens: list[str | tuple[str, str]]) -> list[tuple[str, _Command]]:
    """Commands, each with the operator that joins it to the one before (``;`` first)."""
    result: list[tuple[str, _Command]] = []
    joiner = ";"
    cmd = _Command()
    pending: str | None = None
    for tok in tokens:
        if isinstance(tok, tuple):
            op = tok[1]
            if pending is not None:
                raise _SyntaxError(f"unexpected {op!r}")
            if op in _OPERATORS:
                if cmd.words or cmd.redirects:
                    result.append((joiner, cmd))
                elif op != ";":
                    raise _SyntaxError(f"unexpected {op!r}")
                joiner, cmd = op, _Command()
            else:
                pending = op
        elif pending is not None:
            cmd.redirects.append((pending, tok))
            pending = None
        else:
            if not cmd.words and tok in _UNSUPPORTED:
                raise _SyntaxError(f"{tok!r} is not supported by the fake shell")
            cmd.words.append(tok)
    if pending is not None:
        raise _SyntaxError("redirection without a target")
    if cmd.words or cmd.redirects:
        result.append((joiner, cmd))
    return result


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


Sink = Callable[[bytes, bytes], None]
"""Receives (stdout, stderr) output as each command of a script finishes."""


class _Shell:
    def __init__(
        self, env: Mapping[str, str], fs: FileSystem, at_start: bool, sink: Sink | None = None
    ) -> None:
        self.env = env
        self.fs = fs
        self.at_start = at_start
        self.sink = sink
        self.status = 0

    async def run_script(self, script: str, stdin: bytes) -> tuple[int, bytes, bytes]:
        out, err = bytearray(), bytearray()
        try:
            commands = _parse(_tokenize(script, self.env))
        except _SyntaxError as exc:
            return 2, b"", f"sh: syntax error: {exc}\n".encode()
        for joiner, cmd in commands:
            if (joiner == "&&" and self.status != 0) or (joiner == "||" and self.status == 0):
                continue
            try:
                self.status = await self.run_simple(cmd, stdin, out, err)
            except _Exit as done:
                self.status = done.code
                break
            except _Block:
                raise _BlockedWith(bytes(out), bytes(err)) from None
            except _BlockedWith as inner:
                raise _BlockedWith(bytes(out) + inner.out, bytes(err) + inner.err) from None
            if self.sink is not None and (out or err):
                self.sink(bytes(out), bytes(err))
                out.clear()
                err.clear()
        return self.status, bytes(out), bytes(err)

    async def run_simple(self, cmd: _Command, stdin: bytes, out: bytearray, err: bytearray) -> int:
        my_out, my_err = bytearray(), bytearray()
        for op, target in cmd.redirects:
            if op == "<":
                data = self.fs.read(target)
                if data is None:
                    err += f"sh: can't open {target}: no such file\n".encode()
                    return 1
                stdin = data
        code = await self.run_argv(cmd.words, stdin, my_out, my_err) if cmd.words else 0
        sinks = {"1": my_out, "2": my_err}
        dest = {"1": out, "2": err}
        for op, target in cmd.redirects:
            fd = op[0] if op[0] in "12" else "1"
            kind = op.lstrip("12")
            if kind == ">&":
                if target in ("1", "2"):
                    dest[fd] = out if target == "1" else err
            elif kind in (">", ">>"):
                if target != "/dev/null":
                    self.fs.write(target, bytes(sinks[fd]), append=kind == ">>")
                sinks[fd].clear()
        dest["1"] += my_out
        dest["2"] += my_err
        return code

    async def run_argv(self, argv: list[str], stdin: bytes, out: bytearray, err: bytearray) -> int:
        prog, args = argv[0].rsplit("/", 1)[-1], argv[1:]
        if prog == "exec" and args:
            return await self.run_argv(args, stdin, out, err)
        if prog == "exit":
            raise _Exit(int(args[0]) & 0xFF if args and args[0].lstrip("-").isdigit() else 0)
        if prog == "sh":
            if len(args) >= 2 and args[0] == "-c":
                sub = _Shell(self.env, self.fs, self.at_start, self.sink)
                code, o, e = await sub.run_script(args[1], stdin)
                out += o
                err += e
                return code
            err += b"sh: only 'sh -c SCRIPT' is supported by the fake shell\n"
            return 2
        handler = _PROGRAMS.get(prog)
        if handler is None:
            err += f"sh: {argv[0]}: not found\n".encode()
            return 127
        return await handler(self, args, stdin, out, err)


class _BlockedWith(Exception):
    def __init__(self, out: bytes, err: bytes) -> None:
        self.out = out
        self.err = err


async def _echo(sh: _Shell, args: list[str], stdin: bytes, out: bytearray, err: bytearray) -> int:
    newline = True
    if args[:1] == ["-n"]:
        newline, args = False, args[1:]
    out += (" ".join(args) + ("\n" if newline else "")).encode()
    return 0


async def _printf_prog(
    sh: _Shell, args: list[str], stdin: bytes, out: bytearray, err: bytearray
) -> int:
    if not args:
        err += b"printf: usage: printf FORMAT [ARG]...\n"
        return 1
    out += _printf(args[0], args[1:]).encode()
    return 0


async def _cat(sh: _Shell, args: list[str], stdin: bytes, out: bytearray, err: bytearray) -> int:
    code = 0
    for name in args or ["-"]:
        if name == "-":
            out += stdin
            continue
        data = sh.fs.read(name)
        if data is None:
            err += f"cat: can't open '{name}': No such file or directory\n".encode()
            code = 1
        else:
            out += data
    return code


async def _printenv(
    sh: _Shell, args: list[str], stdin: bytes, out: bytearray, err: bytearray
) -> int:
    if not args:
        return await _env(sh, args, stdin, out, err)
    code = 0
    for name in args:
        if name in sh.env:
            out += (sh.env[name] + "\n").encode()
        else:
            code = 1
    return code


async def _env(sh: _Shell, args: list[str], stdin: bytes, out: bytearray, err: bytearray) -> int:
    out += "".join(f"{k}={v}\n" for k, v in sorted(sh.env.items())).encode()
    return 0


async def _true(sh: _Shell, args: list[str], stdin: bytes, out: bytearray, err: bytearray) -> int:
    return 0


async def _false(sh: _Shell, args: list[str], stdin: bytes, out: bytearray, err: bytearray) -> int:
    return 1


async def _sleep(sh: _Shell, args: list[str], stdin: bytes, out: bytearray, err: bytearray) -> int:
    text = args[0] if args else ""
    try:
        seconds = float("inf") if text in ("inf", "infinity") else float(text.rstrip("s"))
    except ValueError:
        err += f"sleep: invalid number '{text}'\n".encode()
        return 1
    if seconds >= _BLOCK_SECONDS:
        if sh.at_start:
            raise _Block
        err += b"sleep: the fake shell does not sleep for an hour or more in exec\n"
        return 1
    await asyncio.sleep(max(seconds, 0.0))
    return 0


async def _touch(sh: _Shell, args: list[str], stdin: bytes, out: bytearray, err: bytearray) -> int:
    for name in args:
        if sh.fs.read(name) is None:
            sh.fs.write(name, b"")
    return 0


async def _rm(sh: _Shell, args: list[str], stdin: bytes, out: bytearray, err: bytearray) -> int:
    force = "-f" in args
    code = 0
    for name in (a for a in args if not a.startswith("-")):
        if not sh.fs.remove(name) and not force:
            err += f"rm: can't remove '{name}': No such file or directory\n".encode()
            code = 1
    return code


_Program = Callable[[_Shell, list[str], bytes, bytearray, bytearray], Awaitable[int]]
_PROGRAMS: dict[str, _Program] = {
    "echo": _echo,
    "printf": _printf_prog,
    "cat": _cat,
    "printenv": _printenv,
    "env": _env,
    "true": _true,
    ":": _true,
    "trap": _true,
    "wait": _true,
    "mkdir": _true,
    "false": _false,
    "sleep": _sleep,
    "touch": _touch,
    "rm": _rm,
}


async def run_command(
    argv: list[str],
    *,
    env: Mapping[str, str],
    fs: FileSystem,
    stdin: bytes = b"",
    at_start: bool = False,
    sink: Sink | None = None,
) -> ShellResult:
    """Run ``argv`` in a fake container with ``env`` and ``fs``.

    ``at_start`` marks a container's start command: a long sleep then blocks (the result
    has ``blocked`` set and the output printed so far) instead of failing. With ``sink``,
    a script's output is handed over command by command (as a process prints it) and
    the result holds only what was not handed over.
    """
    shell = _Shell(env, fs, at_start, sink)
    out, err = bytearray(), bytearray()
    try:
        code = await shell.run_argv(list(argv), stdin, out, err)
    except _Exit as done:
        code = done.code
    except _Block:
        return ShellResult(0, bytes(out), bytes(err), blocked=True)
    except _BlockedWith as blocked:
        return ShellResult(0, bytes(out) + blocked.out, bytes(err) + blocked.err, blocked=True)
    return ShellResult(code, bytes(out), bytes(err))
