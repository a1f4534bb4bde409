"""Answers shaped as the agent sends them: plain-text errors, JSON, write indexes."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

__all__ = ["UUID_LENGTH", "eval_reply", "json_reply", "text", "unknown_alloc"]

UUID_LENGTH = 36


def text(status: int, message: str) -> web.Response:
    """An error as the agent answers one: plain text."""
    return web.Response(status=status, text=message, content_type="text/plain")


def json_reply(body: Any) -> web.Response:
    return web.json_response(body)


def unknown_alloc(alloc_id: str) -> web.Response:
    """What the client endpoints (logs, stats, restart, exec) answer for an allocation
    the agent does not have."""
    return text(404, f'Unknown allocation "{alloc_id}"')


def eval_reply(
    index: int,
    job_modify_index: int | None = None,
    *,
    evaluated: bool = True,
    deregister: bool = False,
) -> web.Response:
    """The answer to a job write (register; with ``deregister`` a stop or purge): the
    evaluation it created, in the keys a 1.1.2 agent sent."""
    body: dict[str, Any] = {
        "EvalID": str(uuid.uuid4()) if evaluated else "",
        "EvalCreateIndex": index if evaluated else 0,
        "JobModifyIndex": index if job_modify_index is None else job_modify_index,
    }
    if deregister:
        body.update({"VolumeEvalID": "", "VolumeEvalIndex": 0})
    else:
        body["Warnings"] = ""
    body.update({"Index": index, "LastContact": 0, "KnownLeader": False})
    return web.json_response(body)
