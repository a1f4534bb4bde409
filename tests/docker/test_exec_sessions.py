"""Interactive exec sessions on a real engine (``DockerProvider.exec_session``, the core's
``InteractiveExec``): a shell on a terminal answering command after command, the
terminal's size as ``stty`` sees it, exit codes, piped input without a terminal, the
``exec`` checks, and no process left in the container after the session, however it
ends (exit, Ctrl-D, leaving the block while a command runs, an error, a cancellation,
a connection the engine dropped)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ctrlplane.errors import InvalidSpec
from ctrlplane.provider import ExecRequest
from ctrlplane.provider.docker import DockerProvider
from ctrlplane.provider.sessions import ExecSession, InteractiveExec, OutputChunk

from .helpers import IMAGE, TRAP, request

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from pty_terminal import PtyCli

EXE = str(Path(sys.executable).with_name("ctrlplane"))

PROMPT = b"/ # "
WAIT = 10.0
"""Seconds a test waits for output or for a process to go."""
IDLE = ["sh", "-c", TRAP + "sleep 100000 & wait"]


class Screen:
    """What a session printed so far, read as it comes."""

    def __init__(self, session: ExecSession) -> None:
        self.chunks: AsyncIterator[OutputChunk] = aiter(session.output())
        self.text = b""
        self.streams: list[tuple[str, bytes]] = []

    async def until(self, marker: bytes) -> bytes:
        """Read until ``marker`` was printed (within :data:`WAIT`); all printed so far."""
        async with asyncio.timeout(WAIT):
            while marker not in self.text:
                chunk = await anext(self.chunks)
                self.streams.append((chunk.stream, chunk.data))
                self.text += chunk.data
        return self.text

    async def rest(self) -> bytes:
        """Everything until the output ends."""
        async with asyncio.timeout(WAIT):
            async for chunk in self.chunks:
                self.streams.append((chunk.stream, chunk.data))
                self.text += chunk.data
        return self.text

    def take(self) -> bytes:
        text, self.text = self.text, b""
        return text


async def processes(provider: DockerProvider, iid: str) -> set[str]:
    """The container's live processes (``ps``: pid and command; zombies and the ``ps``
    itself left out)."""
    out = await provider.exec(iid, ExecRequest(command=["ps", "-o", "pid,stat,args"]))
    rows = [line.split(None, 2) for line in out.stdout.decode().splitlines()[1:]]
    return {f"{pid} {args}" for pid, stat, args in rows if "Z" not in stat and "ps -o" not in args}


async def no_process_left(provider: DockerProvider, iid: str, before: set[str]) -> None:
    """Wait (within :data:`WAIT`) until the container runs only what it ran ``before``."""
    now: set[str] = set()
    for _ in range(int(WAIT / 0.2)):
        now = await processes(provider, iid)
        if now == before:
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"left running in the container: {sorted(now - before)}")


@pytest.fixture
async def idle(
    provider: DockerProvider, make_id: Callable[[], str]
) -> AsyncIterator[tuple[str, set[str]]]:
    """An instance whose one service idles; its processes before any session."""
    iid = make_id()
    await provider.provision(request(iid, {"name": "app", "image": IMAGE, "command": IDLE}))
    try:
        yield iid, await processes(provider, iid)
    finally:
        await provider.deprovision(iid)


@contextlib.asynccontextmanager
async def terminal(provider: DockerProvider, iid: str) -> AsyncIterator[tuple[ExecSession, Screen]]:
    """A ``sh`` session on a terminal, its first prompt shown."""
    async with provider.exec_session(iid, ExecRequest(command=["sh"], tty=True)) as session:
        screen = Screen(session)
        await screen.until(PROMPT)
        yield session, screen


def test_docker_provider_is_an_interactive_exec_provider(provider: DockerProvider) -> None:
    assert isinstance(provider, InteractiveExec)


async def test_a_terminal_session_runs_commands_and_exits_with_the_remote_code(
    provider: DockerProvider, idle: tuple[str, set[str]]
) -> None:
    iid, before = idle
    async with terminal(provider, iid) as (session, screen):
        assert len(await processes(provider, iid)) == len(before) + 1  # the shell
        screen.take()
        await session.write(b"echo one\r")
        first = await screen.until(b"one\r\n")
        assert b"two" not in first  # the second command is not typed yet
        await screen.until(PROMPT)
        screen.take()
        await session.write(b"x=two; echo $x; tty\r")
        shown = await screen.until(PROMPT)
        assert b"two\r\n/dev/pts/" in shown
        await session.write(b"echo gone >&2; exit 3\r")
        assert await asyncio.wait_for(session.wait(), WAIT) == 3
        assert b"gone\r\n" in await screen.rest()
    assert {stream for stream, _ in screen.streams} == {"stdout"}  # one terminal
    await no_process_left(provider, iid, before)


async def test_ctrl_d_ends_the_shell_and_its_background_jobs(
    provider: DockerProvider, idle: tuple[str, set[str]]
) -> None:
    iid, before = idle
    async with terminal(provider, iid) as (session, screen):
        screen.take()
        await session.write(b"sleep 3000 &\r")
        await screen.until(PROMPT)  # the next prompt
        assert any("sleep 3000" in p for p in await processes(provider, iid))
        await session.close_stdin()  # Ctrl-D on an empty line
        assert await asyncio.wait_for(session.wait(), WAIT) == 0
    # The engine leaves the background job running: the session's end swept it.
    await no_process_left(provider, iid, before)


async def test_the_window_size_reaches_the_process(
    provider: DockerProvider, idle: tuple[str, set[str]]
) -> None:
    iid, before = idle
    async with terminal(provider, iid) as (session, screen):
        await session.resize(40, 120)
        screen.take()
        await session.write(b"stty size\r")
        assert b"\r\n40 120\r\n" in await screen.until(b"40 120\r\n")
        await session.resize(50, 132)
        await screen.until(PROMPT)
        screen.take()
        await session.write(b"stty size\r")
        assert b"\r\n50 132\r\n" in await screen.until(b"50 132\r\n")
        await session.write(b"exit\r")
        assert await asyncio.wait_for(session.wait(), WAIT) == 0
        await session.resize(10, 10)  # after the exit: nothing to resize, no error
    await no_process_left(provider, iid, before)


async def test_piped_input_without_a_terminal(
    provider: DockerProvider, idle: tuple[str, set[str]]
) -> None:
    iid, before = idle
    script = ExecRequest(command=["sh", "-c", "while read -r l; do echo got:$l; done; exit 5"])
    async with provider.exec_session(iid, script) as session:
        screen = Screen(session)
        await session.resize(10, 10)  # a no-op without a terminal
        await session.write(b"first\n")
        assert await screen.until(b"got:first\n") == b"got:first\n"  # answered as it comes
        data = b"x" * 100 + b"\n"
        await session.write(data * 3000)  # more than a socket buffer
        await session.close_stdin()
        text = await screen.rest()
        assert text.count(b"got:" + b"x" * 100 + b"\n") == 3000
        assert await asyncio.wait_for(session.wait(), WAIT) == 5
    await no_process_left(provider, iid, before)

    req = ExecRequest(command=["sh", "-c", "echo out; echo err >&2; cat >&2"])
    async with provider.exec_session(iid, req) as session:
        await session.write(b"typed")
        await session.close_stdin()
        chunks = [c async for c in session.output()]
        assert await asyncio.wait_for(session.wait(), WAIT) == 0
    by_stream = {s: b"".join(c.data for c in chunks if c.stream == s) for s in ("stdout", "stderr")}
    assert by_stream == {"stdout": b"out\n", "stderr": b"err\ntyped"}


async def test_leaving_the_session_ends_the_command_that_still_runs(
    provider: DockerProvider, idle: tuple[str, set[str]]
) -> None:
    iid, before = idle
    async with terminal(provider, iid) as (session, screen):
        await session.write(b"sleep 3000; echo never\r")
        await screen.until(b"never\r\n")
        assert any("sleep 3000" in p for p in await processes(provider, iid))
        left = time.monotonic()
    assert time.monotonic() - left < 5
    await no_process_left(provider, iid, before)
    assert b"never" not in (await screen.rest()).replace(b"echo never", b"")


async def test_an_error_in_the_session_propagates_and_leaves_nothing_running(
    provider: DockerProvider, idle: tuple[str, set[str]]
) -> None:
    iid, before = idle

    async def user() -> None:
        async with terminal(provider, iid) as (session, _):
            await session.write(b"sleep 3000\r")
            await asyncio.sleep(0.3)
            raise RuntimeError("the caller's own error")

    with pytest.raises(RuntimeError, match="the caller's own"):
        await user()
    await no_process_left(provider, iid, before)


async def test_a_cancelled_session_leaves_nothing_running(
    provider: DockerProvider, idle: tuple[str, set[str]]
) -> None:
    iid, before = idle
    started = asyncio.Event()

    async def user() -> None:
        async with terminal(provider, iid) as (session, _):
            await session.write(b"sleep 3000 & sleep 3001\r")
            started.set()
            await asyncio.sleep(600)

    task = asyncio.ensure_future(user())
    await asyncio.wait_for(started.wait(), WAIT)
    await asyncio.sleep(0.3)
    assert sum("sleep 300" in p for p in await processes(provider, iid)) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await no_process_left(provider, iid, before)


async def test_a_program_that_does_not_exist_and_a_wrong_target(
    provider: DockerProvider, idle: tuple[str, set[str]]
) -> None:
    iid, before = idle
    async with provider.exec_session(iid, ExecRequest(command=["/no/such"], tty=True)) as s:
        text = b"".join([c.data async for c in s.output()])
        assert await asyncio.wait_for(s.wait(), WAIT) == 127
    assert b"no such file" in text.lower() or b"not found" in text.lower()
    with pytest.raises(InvalidSpec, match="nope"):
        async with provider.exec_session(iid, ExecRequest(command=["sh"], service="nope")):
            pytest.fail("a session in a service that does not exist must not open")
    await no_process_left(provider, iid, before)


# -- the command on a terminal ---------------------------------------------------------


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRLPLANE_")}
    return {**env, "CTRLPLANE_PROVIDER": "docker", "CTRLPLANE_DOCKER_PULL_POLICY": "never"}


@contextlib.asynccontextmanager
async def cli_terminal(iid: str, *args: str) -> AsyncIterator[PtyCli]:
    """``ctrlplane exec -it IID ARGS`` on a 30x100 terminal."""
    term = PtyCli(EXE, ["exec", "-it", iid, *args], env=_cli_env(), rows=30, columns=100)
    try:
        yield term
    finally:
        term.close()


async def test_exec_it_on_a_terminal(provider: DockerProvider, idle: tuple[str, set[str]]) -> None:
    iid, before = idle
    async with cli_terminal(iid, "app", "--", "sh") as term:
        await term.until(PROMPT)
        assert term.is_raw()
        term.take()
        term.type(b"stty size; echo $((6 * 7))\r")
        assert b"\r\n30 100\r\n42\r\n" in await term.until(b"42\r\n" + PROMPT)
        term.resize(40, 120)  # SIGWINCH: the new size reaches the remote terminal
        await asyncio.sleep(0.5)
        term.take()
        term.type(b"stty size\r")
        assert b"\r\n40 120\r\n" in await term.until(b"40 120\r\n" + PROMPT)
        term.type(b"sleep 3000 &\r")
        await term.until(PROMPT)
        term.type(b"exit 3\r")
        assert await term.exit_code() == 3
        assert term.settings() == term.settings_before  # the terminal is restored
    await no_process_left(provider, iid, before)


async def test_exec_it_ends_nothing_left_when_the_terminal_hangs_up(
    provider: DockerProvider, idle: tuple[str, set[str]]
) -> None:
    iid, before = idle
    async with cli_terminal(iid, "--", "sh") as term:
        await term.until(PROMPT)
        term.type(b"sleep 3000\r")
        await term.until(b"sleep 3000\r\n")
        assert any("sleep 3000" in p for p in await processes(provider, iid))
        term.proc.send_signal(signal.SIGHUP)  # the terminal closed (an ssh that dropped)
        assert await term.exit_code() == 128 + signal.SIGHUP
        assert term.settings() == term.settings_before
    await no_process_left(provider, iid, before)


async def test_exec_i_with_piped_input_and_json(idle: tuple[str, set[str]]) -> None:
    iid, _ = idle

    async def piped(*args: str, stdin: bytes) -> tuple[int, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            EXE, *args, env=_cli_env(), stdin=PIPE, stdout=PIPE, stderr=PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
        assert proc.returncode is not None
        return proc.returncode, out, err

    script = b"echo one\necho two >&2\nexit 4\n"
    assert await piped("exec", "-i", iid, "--", "sh", stdin=script) == (4, b"one\n", b"two\n")
    code, out, err = await piped("exec", "-it", iid, "--", "sh", stdin=script)
    assert (code, out) == (4, b"one\n")
    assert err.startswith(b"standard input is not a terminal")
    code, out, _ = await piped("-o", "json", "exec", "-it", iid, "--", "sh", stdin=b"exit 6\n")
    assert code == 6
    assert json.loads(out) == {"exit_code": 6, "stdout": "", "stderr": ""}


async def test_one_shot_exec_with_a_tty_and_input_ends_with_the_remote_code(
    provider: DockerProvider, idle: tuple[str, set[str]]
) -> None:
    # On a tty a half-close ended the stream while the shell ran on: exit code -1 and
    # a shell left behind. The input now ends with the terminal's Ctrl-D.
    iid, before = idle
    req = ExecRequest(command=["sh"], stdin=b"echo hi; exit 3\n", tty=True)
    r = await asyncio.wait_for(provider.exec(iid, req), WAIT)
    assert r.exit_code == 3
    assert b"hi\r\n" in r.stdout
    r = await provider.exec(iid, ExecRequest(command=["cat"], stdin=b"a\nb\n", tty=True))
    assert r.exit_code == 0
    await no_process_left(provider, iid, before)
