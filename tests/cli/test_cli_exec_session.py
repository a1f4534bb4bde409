"""``ctrlplane exec -it`` / ``-i`` as live sessions, the real command on a pseudo-terminal
against the fake Nomad agent (real HTTP and websocket on 127.0.0.1; its exec processes
are a fake terminal and shell answering command by command): the prompt, commands and
their output, the window size (and its changes) reaching the process, the remote exit
code, the local terminal raw during the session and restored after it, piped input,
``-o json``, a terminal that hangs up, and no exec process left on the agent.

The same against the real Docker engine is in ``tests/docker/test_exec_sessions.py``; the
refusals of a provider without sessions are in-process tests on the fake provider."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from cli_process import EXE, base_env
from fake_cli import run_cli
from pty_terminal import PtyCli
from test_cli_cluster_fakes import _nomad_settings
from tests.nomad.harness import TOKEN, NomadHarness, request_of

from ctrlplane.provider import InteractiveExec
from ctrlplane.testing import FakeProvider

PROMPT = b"/ # "


@dataclass
class Agent:
    """The fake agent, an idle instance on it, and the CLI's environment."""

    harness: NomadHarness
    iid: str
    env: dict[str, str]

    async def no_process_left(self) -> None:
        agent = self.harness.agent
        for _ in range(250):
            if not agent.exec_processes and not agent.exec_open:
                return
            await asyncio.sleep(0.02)
        pytest.fail(f"exec processes still running: {agent.exec_processes}")

    async def piped(self, *args: str, stdin: bytes) -> tuple[int, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            EXE,
            *args,
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
        assert proc.returncode is not None
        return proc.returncode, out, err


@pytest_asyncio.fixture
async def agent(tmp_path: Path) -> AsyncIterator[Agent]:
    h = NomadHarness()
    await h.setup()
    try:
        req = request_of(h.idle_service("app"))
        await h.make_provider().provision(req)
        env = base_env(tmp_path)
        settings = _nomad_settings(h)
        env.update(CTRLPLANE_PROVIDER="nomad", NOMAD_ADDR=settings.pop("address"))
        env["NOMAD_TOKEN"] = TOKEN
        env.update({f"CTRLPLANE_NOMAD_{k.upper()}": v for k, v in settings.items()})
        yield Agent(h, req.instance_id, env)
    finally:
        await h.teardown()


@pytest_asyncio.fixture
async def terminal(agent: Agent) -> AsyncIterator[PtyCli]:
    """``ctrlplane exec -it IID app -- sh`` on a 30x100 terminal, its prompt shown."""
    term = PtyCli(
        EXE, ["exec", "-it", agent.iid, "app", "--", "sh"], env=agent.env, rows=30, columns=100
    )
    try:
        await term.until(PROMPT)
        yield term
    finally:
        term.close()


async def test_a_terminal_session_on_nomad(agent: Agent, terminal: PtyCli) -> None:
    assert terminal.is_raw()  # every key goes to the remote terminal
    (process,) = agent.harness.agent.exec_processes
    assert (process.argv, process.tty, process.task) == (["sh"], True, "app")
    terminal.take()
    terminal.type(b"echo $LINES $COLUMNS\r")  # the fake shell's aid: no stty there
    assert b"\r\n30 100\r\n" in await terminal.until(b"30 100\r\n" + PROMPT)
    terminal.resize(40, 120)  # SIGWINCH
    for _ in range(100):
        if process.sizes[-1:] == [(40, 120)]:
            break
        await asyncio.sleep(0.05)
    terminal.take()
    terminal.type(b"x=two; echo $x $LINES $COLUMNS\r")
    assert b"\r\ntwo 40 120\r\n" in await terminal.until(b"40 120\r\n" + PROMPT)
    terminal.type(b"exit 3\r")
    assert await terminal.exit_code() == 3
    assert terminal.settings() == terminal.settings_before  # the terminal is restored
    await agent.no_process_left()


async def test_ctrl_d_ends_the_session_with_the_shells_code(agent: Agent, terminal: PtyCli) -> None:
    terminal.type(b"false\r")
    await terminal.until(PROMPT + b"false\r\n" + PROMPT)
    terminal.type(b"\x04")  # Ctrl-D: a key like any other, the remote shell ends
    assert await terminal.exit_code() == 1
    assert terminal.settings() == terminal.settings_before
    await agent.no_process_left()


async def test_a_terminal_that_hangs_up_ends_the_session(agent: Agent, terminal: PtyCli) -> None:
    terminal.type(b"sleep 300\r")
    await terminal.until(b"sleep 300\r\n")
    terminal.proc.send_signal(signal.SIGHUP)
    assert await terminal.exit_code() == 128 + signal.SIGHUP
    assert b"session ended by SIGHUP" in terminal.screen
    assert terminal.settings() == terminal.settings_before
    await agent.no_process_left()


async def test_piped_input_is_forwarded_and_the_output_printed(agent: Agent) -> None:
    script = b"echo one\necho two >&2\nexit 4\n"
    code, out, err = await agent.piped("exec", "-i", agent.iid, "--", "sh", stdin=script)
    assert (code, out, err) == (4, b"one\n", b"two\n")
    # -it with piped input runs without a terminal (and says so), like kubectl.
    code, out, err = await agent.piped("exec", "-it", agent.iid, "--", "sh", stdin=script)
    assert (code, out) == (4, b"one\n")
    assert err == b"standard input is not a terminal: running without -t\ntwo\n"
    await agent.no_process_left()


async def test_json_reports_the_remote_exit_code(agent: Agent) -> None:
    code, out, _ = await agent.piped(
        "exec", "-i", agent.iid, "-o", "json", "--", "sh", stdin=b"echo x\nexit 2\n"
    )
    doc = json.loads(out)
    assert code == 2
    assert doc["exit_code"] == 2
    assert base64.b64decode(doc["stdout"]) == b"x\n"


def test_a_provider_without_sessions_refuses_it_on_a_terminal(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    class OneShotOnly:
        """The fake without ``exec_session``."""

        def __getattr__(self, name: str) -> object:
            if name == "exec_session":
                raise AttributeError(name)
            return getattr(fake, name)

    provider = OneShotOnly()
    assert not isinstance(provider, InteractiveExec)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    iid = "inst_01jd0000000000000000000001"
    code, _, err = run_cli(capsys, provider, "exec", "-it", iid, "--", "sh")
    assert code == 4
    assert "no interactive exec sessions" in err
    assert "ctrlplane exec INSTANCE -- CMD" in err
    # -t alone runs the command to completion with a terminal (the one-shot exec).
    code, _, _ = run_cli(capsys, provider, "exec", "-t", iid, "--", "sh", "-c", "exit 0")
    assert code == 3  # no such instance on the fake: the one-shot exec ran and said so


def test_service_before_the_dash(capsys: pytest.CaptureFixture[str], fake: FakeProvider) -> None:
    code, _, err = run_cli(capsys, fake, "exec", "x", "a", "b", "--", "sh")
    assert code == 2
    assert "only one SERVICE" in err
    code, _, err = run_cli(capsys, fake, "exec", "x", "a", "-s", "b", "--", "sh")
    assert code == 2
    assert "two services given" in err
    code, _, err = run_cli(capsys, fake, "exec", "x", "a", "--")
    assert code == 2
    assert "give the command to run" in err


class _UnreadableStdin:
    """A standard input that refuses every read (closed, or captured as pytest does)."""

    @property
    def buffer(self) -> _UnreadableStdin:
        return self

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError("no file descriptor")

    def read(self, size: int = -1) -> bytes:
        raise OSError("reading from stdin is refused")


def test_a_stdin_that_cannot_be_read_ends_the_sessions_input(
    capsys: pytest.CaptureFixture[str],
    fake: FakeProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = tmp_path / "app.yaml"
    app.write_text("name: reader\nservices:\n  - {name: web, image: app:1}\n")
    code, out, err = run_cli(capsys, fake, "-o", "json", "up", "-f", str(app))
    assert code == 0, err
    iid = json.loads(out)["instance_id"]
    assert isinstance(fake, InteractiveExec)
    monkeypatch.setattr("sys.stdin", _UnreadableStdin())
    # The session's cat and sh get end of input, as from an empty stdin, instead of
    # waiting for input that never comes.
    code, out, err = run_cli(
        capsys, fake, "exec", "-i", iid, "--", "sh", "-c", "cat; echo cat ended"
    )
    assert (code, out) == (0, "cat ended\n"), err
    code, out, err = run_cli(capsys, fake, "exec", "-it", iid, "--", "sh")
    assert code == 0, err
    assert out == ""
    assert "standard input is not a terminal: running without -t" in err
