"""The allocation exec websocket (``/v1/client/allocation/:alloc/exec``).

Frames: ``{"stdin": {"data": <base64>}}`` / ``{"stdin": {"close": true}}`` from the
client; ``{"stdout": {"data": ...}}``, ``{"stderr": ...}``, their ``close`` frames and
``{"exited": true, "result": {"exit_code": N}}`` from the agent, the ``result`` empty for
exit code 0 (Nomad encodes a protobuf message with ``omitempty`` fields). As on a real
agent the command starts at once and never waits for stdin to be closed: it gets the
stdin that arrived before it ran (the fake shell reads stdin whole, so the agent gives
it a short moment to arrive). A program the image does not have exits 126 with the
runtime's error on stdout (what runc answered on Docker). A client that closes the
session cancels the command.
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
        self.agent.exec_open += 1
        try:
            await self._session(ws, run.container, argv)
        finally:
            self.agent.exec_open -= 1
        return ws

    async def _stdin(self, ws: web.WebSocketResponse) -> tuple[bytes, bool]:
        """Stdin until it is closed or none arrived for :data:`STDIN_GRACE`; and whether
        the client is still there."""
        stdin = bytearray()
        while True:
            try:
                msg = await ws.receive(timeout=STDIN_GRACE)
            except TimeoutError:
                return bytes(stdin), True
            if msg.type is not WSMsgType.TEXT:
                return bytes(stdin), False
            part = json.loads(msg.data).get("stdin") or {}
            if part.get("data"):
                stdin += base64.b64decode(part["data"])
            if part.get("close"):
                return bytes(stdin), True

    async def _session(self, ws: web.WebSocketResponse, c: FakeContainer, argv: list[str]) -> None:
        stdin, connected = await self._stdin(ws)
        if not connected:
            return
        missing = missing_program(argv)
        if missing is not None:
            await self._send(ws, 126, missing, b"")
            return
        command = asyncio.ensure_future(run_command(argv, env=c.env, fs=c.files, stdin=stdin))
        closed = asyncio.ensure_future(self._until_closed(ws))
        await asyncio.wait({command, closed}, return_when=asyncio.FIRST_COMPLETED)
        if not command.done():
            command.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await command
            return
        closed.cancel()
        res = command.result()
        await self._send(ws, res.exit_code, res.stdout, res.stderr)

    @staticmethod
    async def _until_closed(ws: web.WebSocketResponse) -> None:
        """Return when the client closed the session (more stdin is ignored)."""
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                return

    async def _send(
        self, ws: web.WebSocketResponse, code: int, stdout: bytes, stderr: bytes
    ) -> None:
        """Output, then both close frames, then ``exited`` (the order a 1.1.2 agent used)."""
        for stream, data in (("stdout", stdout), ("stderr", stderr)):
            if data:
                await ws.send_json({stream: {"data": base64.b64encode(data).decode()}})
        for stream in ("stdout", "stderr"):
            await ws.send_json({stream: {"close": True}})
        result = {"exit_code": code} if code else {}
        if self.agent.exec_without_result:
            await ws.send_json({"exited": True})
        else:
            await ws.send_json({"exited": True, "result": result})
        await ws.close()
