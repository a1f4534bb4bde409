"""The allocation exec websocket (``/v1/client/allocation/:alloc/exec``).

Frames: ``{"stdin": {"data": <base64>}}``, ``{"stdin": {"close": true}}`` and
``{"tty_size": {"height": ROWS, "width": COLUMNS}}`` from the client;
``{"stdout": {"data": ...}}``, ``{"stderr": ...}``, their ``close`` frames and
``{"exited": true, "result": {"exit_code": N}}`` from the agent, the ``result`` empty for
exit code 0 (Nomad encodes a protobuf message with ``omitempty`` fields). As on a real
agent the command starts at once and never waits for stdin to be closed; output reaches
the client as the process writes it (the fake shell hands it over command by command).
``tty=true`` runs the command under a terminal, and ``sh`` without a script reads its
commands as they are typed (:mod:`.terminal`). Other commands get the stdin that
arrived before they ran (the fake shell reads stdin whole, so the agent gives it a short
moment to arrive). A program the image does not have exits 126 with the runtime's error
on stdout (what runc answered on Docker). A client that closes the session ends the
command, as a real agent does (the terminal is hung up, the process killed): no
process of a closed session keeps running. The agent lists the processes it runs in
:attr:`~.server.FakeNomadAgent.exec_processes`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from ctrlplane.testing.records import FakeContainer
from ctrlplane.testing.shell import run_command
from ctrlplane.testing.shell_programs import PROGRAMS

from .replies import text, unknown_alloc
from .terminal import ExecProcess, Terminal, interactive_shell, is_interactive_shell

if TYPE_CHECKING:
    from .server import FakeNomadAgent

__all__ = ["ExecApi"]

STDIN_GRACE = 0.05
"""Seconds the agent waits for more stdin before it runs the command (the fake shell
cannot read a stream; a real process would read stdin as it comes)."""


def missing_program(argv: list[str]) -> bytes | None:
    """The runtime's error when ``argv[0]`` is not a program of the image, else ``None``."""
    name = argv[0]
    if name.rsplit("/", 1)[-1] in PROGRAMS or name.rsplit("/", 1)[-1] == "sh":
        return None
    if "/" in name:
        why = f"stat {name}: no such file or directory"
    else:
        why = "executable file not found in $PATH"
    return (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        f'exec: "{name}": {why}: unknown\r\n'
    ).encode()


class ExecApi:
    """The exec endpoint of one agent."""

    def __init__(self, agent: FakeNomadAgent) -> None:
        self.agent = agent

    def routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/v1/client/allocation/{id}/exec", self.exec_ws)

    async def exec_ws(self, request: web.Request) -> web.StreamResponse:
        alloc_id = request.match_info["id"]
        alloc = self.agent.find_alloc(alloc_id)
        if alloc is None:
            return unknown_alloc(alloc_id)
        task = request.query.get("task", "")
        raw = request.query.get("command", "")
        try:
            argv = json.loads(raw)
        except ValueError as exc:
            return text(500, f"failed to marshal command into json: {exc}")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            return text(400, "command is not present")
        run = alloc.tasks.get(task)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if run is None or run.container is None or not run.container.running:
            await ws.close(code=1011, message=b"task not running")
            return ws
        tty = request.query.get("tty", "false").lower() in ("true", "1", "t")
        process = ExecProcess(alloc_id, task, argv, tty)
        self.agent.exec_processes.append(process)
        self.agent.exec_open += 1
        try:
            await _Session(ws, run.container, process, self.agent.exec_without_result).serve()
        finally:
            self.agent.exec_open -= 1
            self.agent.exec_processes.remove(process)
        return ws


class _Session:
    """One exec session: the client's frames into the terminal, the process's output
    out as frames, then the exit code (or the process ended when the client leaves)."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        container: FakeContainer,
        process: ExecProcess,
        without_result: bool,
    ) -> None:
        self.ws = ws
        self.container = container
        self.process = process
        self.without_result = without_result
        self.outgoing: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self.terminal = Terminal(process.tty, self._output)

    def _output(self, out: bytes, err: bytes) -> None:
        for stream, data in (("stdout", out), ("stderr", err)):
            if data:
                self.outgoing.put_nowait((stream, data))

    async def serve(self) -> None:
        program = asyncio.ensure_future(self._program())
        client = asyncio.ensure_future(self._read())
        sender = asyncio.ensure_future(self._send_output())
        try:
            await asyncio.wait({program, client}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (program, client):
                task.cancel()
        if program.cancelled() or not program.done():
            # The client left first: the process is ended with its session.
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await program
            return
        with contextlib.suppress(asyncio.CancelledError):
            await client
        self.outgoing.put_nowait(None)
        await sender
        await self._exited(program.result())

    async def _read(self) -> None:
        """The client's frames, until it closes the session."""
        async for msg in self.ws:
            if msg.type is not WSMsgType.TEXT:
                return
            try:
                frame = json.loads(msg.data)
            except ValueError:
                continue
            stdin = frame.get("stdin") or {}
            if stdin.get("data"):
                self.process.received.append("stdin")
                self.terminal.type(base64.b64decode(stdin["data"]))
            if stdin.get("close"):
                self.process.received.append("stdin close")
                self.terminal.close()
            size = frame.get("tty_size")
            if isinstance(size, dict):
                self.process.received.append("tty_size")
                rows, columns = int(size.get("height") or 0), int(size.get("width") or 0)
                self.process.sizes.append((rows, columns))
                self.terminal.resize(rows, columns)

    async def _program(self) -> int:
        """Run the command; its exit code."""
        c, argv = self.container, self.process.argv
        missing = missing_program(argv)
        if missing is not None:
            self.terminal.write(missing, b"")
            return 126
        if is_interactive_shell(argv):
            return await interactive_shell(self.terminal, c.env, c.files)
        stdin = await self.terminal.read_all(STDIN_GRACE)
        res = await run_command(argv, env=c.env, fs=c.files, stdin=stdin, sink=self.terminal.write)
        self.terminal.write(res.stdout, res.stderr)
        return res.exit_code

    async def _send_output(self) -> None:
        while (item := await self.outgoing.get()) is not None:
            stream, data = item
            await self.ws.send_json({stream: {"data": base64.b64encode(data).decode()}})

    async def _exited(self, code: int) -> None:
        """Both close frames, then ``exited`` (the order a 1.1.2 agent used)."""
        for stream in ("stdout", "stderr"):
            await self.ws.send_json({stream: {"close": True}})
        result = {"exit_code": code} if code else {}
        if self.without_result:
            await self.ws.send_json({"exited": True})
        else:
            await self.ws.send_json({"exited": True, "result": result})
        await self.ws.close()
