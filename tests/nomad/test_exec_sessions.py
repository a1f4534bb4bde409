"""Interactive exec sessions (``NomadProvider.exec_session``, the core's
``InteractiveExec``) over the allocation exec websocket: commands typed one after the
other on a terminal, the terminal's size, exit codes, sessions without a terminal, the
``exec`` checks, and no process left running in the task after the session, however it
ends (normally, an error, a cancellation, a client that drops)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from ctrlplane.errors import BackendUnavailable, InstanceNotFound, InvalidSpec, NotSupported
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.nomad import NomadProvider
from ctrlplane.provider.sessions import ExecSession, InteractiveExec, OutputChunk
from ctrlplane.provider.spec import ExecRequest

from .harness import NAMESPACE, TOKEN, NomadHarness, black_hole, request_of

PROMPT = b"/ # "
WAIT = 5.0
"""Seconds a test waits for output or for the agent to end a process."""


class Screen:
    """What a session printed so far, read as it comes."""

    def __init__(self, session: ExecSession) -> None:
        self.chunks: AsyncIterator[OutputChunk] = aiter(session.output())
        self.text = b""
        self.streams: list[tuple[str, bytes]] = []

    async def until(self, marker: bytes) -> bytes:
        """Read until ``marker`` has been printed (within :data:`WAIT`); everything
        printed so far."""
        async with asyncio.timeout(WAIT):
            while marker not in self.text:
                chunk = await anext(self.chunks)
                self.streams.append((chunk.stream, chunk.data))
                self.text += chunk.data
        return self.text

    def take(self) -> bytes:
        """What was printed since the last take."""
        text, self.text = self.text, b""
        return text


async def _idle(h: NomadHarness) -> str:
    req = request_of(h.idle_service("app"))
    await h.make_provider().provision(req)
    return req.instance_id


@contextlib.asynccontextmanager
async def _terminal(h: NomadHarness) -> AsyncIterator[tuple[ExecSession, Screen]]:
    """A ``sh`` session on a terminal in a new instance, its prompt shown."""
    iid = await _idle(h)
    provider = h.make_provider()
    async with provider.exec_session(iid, ExecRequest(command=["sh"], tty=True)) as session:
        screen = Screen(session)
        await screen.until(PROMPT)
        yield session, screen


async def _no_process_left(h: NomadHarness) -> None:
    """Wait (within :data:`WAIT`) until the agent runs no exec process."""
    for _ in range(int(WAIT / 0.02)):
        if not h.agent.exec_processes and not h.agent.exec_open:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"exec processes still running: {h.agent.exec_processes}")


async def test_nomad_provider_is_an_interactive_exec_provider(harness: NomadHarness) -> None:
    assert isinstance(harness.make_provider(), InteractiveExec)


async def test_a_terminal_session_runs_commands_typed_one_after_the_other(
    harness: NomadHarness,
) -> None:
    async with _terminal(harness) as (session, screen):
        (process,) = harness.agent.exec_processes
        assert (process.argv, process.tty, process.task) == (["sh"], True, "app")
        await session.write(b"echo one\r")
        first = await screen.until(b"one\r\n" + PROMPT)
        assert b"two" not in first  # the second command is not typed yet
        screen.take()
        await session.write(b"x=two; echo $x\r")
        assert await screen.until(b"two\r\n" + PROMPT) == b"x=two; echo $x\r\ntwo\r\n" + PROMPT
        await session.write(b"exit 3\r")
        assert await asyncio.wait_for(session.wait(), 5) == 3
    assert all(stream == "stdout" for stream, _ in screen.streams)  # one terminal
    await _no_process_left(harness)


async def test_the_window_size_reaches_the_process(harness: NomadHarness) -> None:
    async with _terminal(harness) as (session, screen):
        await session.resize(40, 120)
        (process,) = harness.agent.exec_processes
        await session.write(b"echo $LINES $COLUMNS\r")  # the fake's aid: no stty there
        assert b"\r\n40 120\r\n" in await screen.until(b"40 120\r\n" + PROMPT)
        await session.resize(50, 132)
        screen.take()
        await session.write(b"echo $LINES $COLUMNS\r")
        assert b"\r\n50 132\r\n" in await screen.until(b"50 132\r\n" + PROMPT)
        assert process.sizes == [(40, 120), (50, 132)]  # as tty_size frames
        await session.write(b"exit\r")
        assert await asyncio.wait_for(session.wait(), 5) == 0
    await _no_process_left(harness)


async def test_the_terminal_interrupts_and_erases_as_a_real_one(harness: NomadHarness) -> None:
    async with _terminal(harness) as (session, screen):
        await session.write(b"echo typo\x7f\x7f\x7f\x7fgone\x03")  # erased, then Ctrl-C
        await screen.until(b"^C\r\n" + PROMPT)
        screen.take()
        await session.write(b"echo $?\r")
        assert await screen.until(b"130\r\n" + PROMPT) == b"echo $?\r\n130\r\n" + PROMPT
        await session.write(b"if true; then\r")  # an incomplete command: more is read
        await screen.until(b"> ")
        await session.write(b"echo inside; fi\r")
        await screen.until(b"inside\r\n" + PROMPT)
        await session.write(b"\x04")  # Ctrl-D on an empty line: end of input
        assert await asyncio.wait_for(session.wait(), WAIT) == 0
    await _no_process_left(harness)


async def test_leaving_the_session_ends_the_command_that_still_runs(harness: NomadHarness) -> None:
    async with _terminal(harness) as (session, screen):
        await session.write(b"sleep 30; echo never\r")
        await screen.until(b"\r\n")
        assert len(harness.agent.exec_processes) == 1
        left = time.monotonic()
    assert time.monotonic() - left < 3
    await _no_process_left(harness)
    # The hang-up: Ctrl-C interrupted the sleep, Ctrl-D ended the shell.
    assert await asyncio.wait_for(session.wait(), 1) == 130
    async for chunk in screen.chunks:  # what was printed up to the end
        screen.text += chunk.data
    assert screen.text.count(b"never") == 1  # typed, never printed
    assert b"^C" in screen.text


async def test_an_error_in_the_session_propagates_and_leaves_nothing_running(
    harness: NomadHarness,
) -> None:
    iid = await _idle(harness)
    provider = harness.make_provider()

    async def user() -> None:
        async with provider.exec_session(iid, ExecRequest(command=["sh"], tty=True)) as session:
            await session.write(b"sleep 30\r")
            await asyncio.sleep(0.2)
            raise RuntimeError("the caller's own error")

    with pytest.raises(RuntimeError, match="the caller's own"):
        await user()
    await _no_process_left(harness)


async def test_a_cancelled_session_leaves_nothing_running(harness: NomadHarness) -> None:
    iid = await _idle(harness)
    provider = harness.make_provider()
    started = asyncio.Event()

    async def user() -> None:
        async with provider.exec_session(iid, ExecRequest(command=["sh"], tty=True)) as session:
            await session.write(b"sleep 30\r")
            started.set()
            await asyncio.sleep(60)

    task = asyncio.ensure_future(user())
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.sleep(0.1)
    assert len(harness.agent.exec_processes) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _no_process_left(harness)


async def test_a_session_without_a_terminal_keeps_the_streams_apart(harness: NomadHarness) -> None:
    iid = await _idle(harness)
    provider = harness.make_provider()
    async with provider.exec_session(iid, ExecRequest(command=["sh"])) as session:
        screen = Screen(session)
        await session.resize(10, 10)  # a no-op without a terminal
        await session.write(b"echo out\n")
        await screen.until(b"out\n")
        await session.write(b"echo err >&2\n")
        await screen.until(b"err\n")
        assert screen.streams == [("stdout", b"out\n"), ("stderr", b"err\n")]
        (process,) = harness.agent.exec_processes
        assert (process.tty, process.sizes) == (False, [])
        await session.write(b"false\n")
        await session.close_stdin()  # end of input: sh exits with the last status
        assert await asyncio.wait_for(session.wait(), 5) == 1
    await _no_process_left(harness)


async def test_a_command_that_ends_by_itself_streams_then_exits(harness: NomadHarness) -> None:
    iid = await _idle(harness)
    provider = harness.make_provider()
    req = ExecRequest(command=["sh", "-c", "echo a; sleep 0.5; echo b; exit 4"], tty=True)
    async with provider.exec_session(iid, req) as session:
        screen = Screen(session)
        began = time.monotonic()
        await screen.until(b"a\r\n")
        assert b"b" not in screen.text
        assert time.monotonic() - began < 0.5
        await screen.until(b"b\r\n")
        assert await asyncio.wait_for(session.wait(), 5) == 4
        assert [c async for c in session.output()] == []  # drained: ends at once
    await _no_process_left(harness)


async def test_exec_session_runs_the_exec_checks(harness: NomadHarness) -> None:
    iid = await _idle(harness)
    provider = harness.make_provider()
    with pytest.raises(InstanceNotFound):
        async with provider.exec_session(new_id(INSTANCE_PREFIX), ExecRequest(command=["sh"])):
            pass
    with pytest.raises(InvalidSpec, match="no service 'nope'"):
        async with provider.exec_session(iid, ExecRequest(command=["sh"], service="nope")):
            pass
    # Deliberately ill-typed (a string command, unvalidated): the provider must refuse it.
    smuggled = ExecRequest.model_construct(command="sh -c true", stdin=None, tty=True)  # type: ignore[arg-type]
    with pytest.raises(InvalidSpec):
        async with provider.exec_session(iid, smuggled):
            pass
    narrowed = NomadProvider(harness.config(), capabilities=[Capability.PROVISION])
    before = len(harness.agent.requests)
    with pytest.raises(NotSupported):
        async with narrowed.exec_session(iid, ExecRequest(command=["sh"])):
            pass
    assert len(harness.agent.requests) == before  # refused before any request
    await _no_process_left(harness)


async def test_the_fake_agent_ends_the_process_of_a_client_that_drops(
    harness: NomadHarness,
) -> None:
    """A client that closes the websocket mid-command (no hang-up, no stdin close): the
    agent ends the process, as a real one does."""
    iid = await _idle(harness)
    (alloc,) = harness.agent.allocs_of(NAMESPACE, iid)
    params = {
        "task": "app",
        "command": json.dumps(["sh"]),
        "tty": "true",
        "namespace": NAMESPACE,
    }
    url = f"{harness.agent.address}/v1/client/allocation/{alloc.id}/exec"
    async with (
        httpx.AsyncClient(headers={"X-Nomad-Token": TOKEN}) as client,
        # session_class (the default) named: it is what types ``ws``.
        aconnect_ws(url, client, params=params, session_class=AsyncWebSocketSession) as ws,
    ):
        await ws.send_json({"stdin": {"data": "c2xlZXAgMzAK"}})  # "sleep 30\n"
        await asyncio.sleep(0.3)
        assert len(harness.agent.exec_processes) == 1
    await _no_process_left(harness)


async def test_a_session_with_an_agent_that_never_answers_ends(harness: NomadHarness) -> None:
    async with black_hole() as address:
        provider = harness.black_hole_provider(address)
        began = time.monotonic()
        with pytest.raises(BackendUnavailable):
            async with provider.exec_session(new_id(INSTANCE_PREFIX), ExecRequest(command=["sh"])):
                pass
        assert time.monotonic() - began < harness.black_hole_limit
