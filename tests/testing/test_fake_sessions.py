"""The fake's interactive exec sessions behave as a real engine's do
(:mod:`ctrlplane.testing.sessions`): input as it is written, output as it comes, a
terminal with ``tty``, an interactive shell answering line by line, nothing left running.

A driver such as ``ctrlplane exec -i`` reads the output while it still sends input: the
old fake ran the command as soon as its output was read, with empty input."""

from __future__ import annotations

import asyncio

import pytest

from ctrlplane.errors import NotSupported
from ctrlplane.ids import new_id
from ctrlplane.provider import Capability, ExecRequest, ProvisionRequest, ServiceSpec
from ctrlplane.provider.sessions import ExecSession, InteractiveExec, OutputChunk
from ctrlplane.testing import FakeProvider


async def _instance() -> tuple[FakeProvider, str]:
    provider = FakeProvider()
    req = ProvisionRequest(
        instance_id=new_id("inst"),
        services=[ServiceSpec(name="web", image="app:1", env={"GREETING": "hi"})],
    )
    await provider.provision(req)
    assert isinstance(provider, InteractiveExec)
    return provider, req.instance_id


class Reader:
    """Reads a session's output in the background, as a driver does."""

    def __init__(self, session: ExecSession) -> None:
        self.chunks: list[OutputChunk] = []
        self._grew = asyncio.Event()
        self.task = asyncio.create_task(self._read(session))

    async def _read(self, session: ExecSession) -> None:
        async for chunk in session.output():
            self.chunks.append(chunk)
            self._grew.set()

    def text(self, stream: str = "stdout") -> bytes:
        return b"".join(c.data for c in self.chunks if c.stream == stream)

    async def until(self, expected: bytes) -> None:
        """Wait (bounded) until stdout ends with ``expected``."""
        async with asyncio.timeout(5):
            while not self.text().endswith(expected):
                self._grew.clear()
                await self._grew.wait()

    async def ended(self) -> None:
        async with asyncio.timeout(5):
            await self.task


async def test_an_exec_session_runs_its_input_and_leaves_nothing_running() -> None:
    provider, iid = await _instance()
    async with provider.exec_session(iid, ExecRequest(command=["sh"], tty=True)) as s:
        reader = Reader(s)
        await reader.until(b"/ # ")
        await s.resize(40, 120)
        await s.write(b"echo $GREETING $LINES\r")
        await reader.until(b"hi 40\r\n/ # ")  # answered before input ends
        await s.write(b"echo oops >&2; exit 4\r")
        await reader.ended()
        assert await s.wait() == 4
    assert reader.text() == (
        b"/ # echo $GREETING $LINES\r\nhi 40\r\n/ # echo oops >&2; exit 4\r\noops\r\n"
    )
    assert reader.text("stderr") == b""  # one terminal
    narrow = FakeProvider(provider.backend, capabilities=[Capability.PROVISION])
    refused = narrow.exec_session(iid, ExecRequest(command=["sh"]))
    with pytest.raises(NotSupported):
        await refused.__aenter__()


async def test_a_session_reading_input_while_output_is_read_gets_all_of_the_input() -> None:
    provider, iid = await _instance()
    request = ExecRequest(command=["sh", "-c", "cat; echo read it all >&2"])
    async with provider.exec_session(iid, request) as s:
        reader = Reader(s)  # output read first, as `ctrlplane exec -i` does
        await asyncio.sleep(0.05)
        assert reader.chunks == []  # cat waits for its input
        await s.write(b"line 1\n")
        await asyncio.sleep(0.05)
        await s.write(b"line 2\n")
        await s.close_stdin()
        await reader.ended()
        assert await s.wait() == 0
    assert reader.text() == b"line 1\nline 2\n"
    assert reader.text("stderr") == b"read it all\n"


async def test_a_command_that_reads_no_input_exits_though_input_never_ends() -> None:
    provider, iid = await _instance()
    async with provider.exec_session(iid, ExecRequest(command=["echo", "hi"], tty=True)) as s:
        reader = Reader(s)
        await reader.ended()
        async with asyncio.timeout(5):
            assert await s.wait() == 0
    assert reader.text() == b"hi\r\n"


async def test_a_terminal_ends_input_with_ctrl_d_and_interrupts_with_ctrl_c() -> None:
    provider, iid = await _instance()
    async with provider.exec_session(iid, ExecRequest(command=["cat"], tty=True)) as s:
        reader = Reader(s)
        await s.write(b"ab\x7fc\r\x04")  # Backspace erases, Ctrl-D ends input
        await reader.ended()
        assert await s.wait() == 0
    assert reader.text() == b"ab\b \bc\r\nac\r\n"

    async with provider.exec_session(iid, ExecRequest(command=["cat"], tty=True)) as s:
        reader = Reader(s)
        await s.write(b"never sent\x03")
        await reader.ended()
        assert await s.wait() == 130
    assert reader.text() == b"never sent^C\r\n"


async def test_leaving_a_session_stops_its_process() -> None:
    provider, iid = await _instance()
    async with provider.exec_session(iid, ExecRequest(command=["sh"])) as s:
        await s.write(b"echo still here\n")
        reader = Reader(s)
        await reader.until(b"still here\n")
        process = s.start()
        assert not process.done()  # the shell waits for more input
    assert process.done()
    await reader.ended()
