"""The client fs logs API (``/v1/client/fs/logs/:alloc``), as a Nomad agent streams it.

Frames are compact JSON objects written back to back, ``{"Data": <base64>, "File":
"alloc/logs/<task>.<type>.0", "Offset": N}``, where ``Offset`` is the file offset at the
**end** of the frame's data (a real 1.1.2 agent answered ``Offset: 6`` for the 6 bytes
``out-1\\n`` read from offset 0). ``origin=start`` reads from ``offset``; ``origin=end``
from ``offset`` bytes before the end (from the start when that is before it); an offset
beyond the file answers nothing. ``plain=true`` answers the raw bytes. With ``follow``
the stream stays open, sending ``{}`` heartbeats, also after the task died (the real
agent kept it open for 40 s and more): the client decides when to stop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from typing import TYPE_CHECKING

from aiohttp import web

from .replies import text, unknown_alloc

if TYPE_CHECKING:
    from .server import FakeNomadAgent

__all__ = ["LogsApi"]

HEARTBEAT = 0.5
"""Seconds between heartbeat frames of an idle followed stream (Nomad: 1 s)."""


def frame(data: bytes, name: str, end: int) -> bytes:
    """One data frame: ``Offset`` is where ``data`` ends in the file."""
    body = {"Data": base64.b64encode(data).decode(), "File": name, "Offset": end}
    return json.dumps(body, separators=(",", ":")).encode()


class LogsApi:
    """The fs logs endpoint of one agent."""

    def __init__(self, agent: FakeNomadAgent) -> None:
        self.agent = agent

    def routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/v1/client/fs/logs/{id}", self.logs)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        alloc_id = request.match_info["id"]
        alloc = self.agent.find_alloc(alloc_id)
        if alloc is None:
            return unknown_alloc(alloc_id)
        task = request.query.get("task", "")
        kind = request.query.get("type", "")
        if kind not in ("stdout", "stderr"):
            return text(400, "must provide log type (stdout/stderr)")
        if alloc.log_bytes(task, kind) is None:
            return text(400, f'unknown task name "{task}"')
        follow = request.query.get("follow") == "true"
        plain = request.query.get("plain") == "true"
        origin = request.query.get("origin", "start")
        offset = int(request.query.get("offset", "0") or 0)
        data = alloc.log_bytes(task, kind) or b""
        if origin == "end":
            pos = max(0, len(data) - offset)
        elif offset > len(data):
            return web.Response(status=200, body=b"", content_type="application/json")
        else:
            pos = offset
        response = web.StreamResponse(
            headers={"Content-Type": "text/plain" if plain else "application/json"}
        )
        await response.prepare(request)
        name = f"alloc/logs/{task}.{kind}.0"
        idle_since = time.monotonic()
        try:
            while True:
                data = alloc.log_bytes(task, kind) or b""
                if len(data) > pos:
                    chunk = data[pos:]
                    pos = len(data)
                    await response.write(chunk if plain else frame(chunk, name, pos))
                    idle_since = time.monotonic()
                if not follow:
                    break
                if time.monotonic() - idle_since > HEARTBEAT and not plain:
                    await response.write(b"{}")
                    idle_since = time.monotonic()
                await asyncio.sleep(0.02)
        except (ConnectionResetError, asyncio.CancelledError):
            return response
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response
