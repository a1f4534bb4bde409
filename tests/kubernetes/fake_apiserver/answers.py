"""The answers of the fake API server, shaped as the real server's: ``Status`` objects with
``Content-Type: application/json`` exactly (lightkube raises ``ApiError`` only then), the
wording of its messages, and the plain-text 404 of a path nothing serves."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .schemas import Invalid

JSON = dict[str, Any]

__all__ = [
    "conflict",
    "invalid",
    "json_answer",
    "not_found",
    "page_not_found",
    "resource_name",
    "status_error",
    "success",
]


def json_answer(body: JSON, status: int = 200) -> web.Response:
    """``body`` as JSON (compact, as the real server writes it)."""
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        headers={"Content-Type": "application/json"},
    )


def status_error(
    code: int, reason: str | None, message: str, details: JSON | None = None
) -> web.Response:
    """A ``Status`` failure (``reason`` ``None``: left out, as the real server does for
    an internal error without one)."""
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
    }
    if reason is not None:
        body["reason"] = reason
    if details:
        body["details"] = details
    body["code"] = code
    return json_answer(body, code)


def success(name: str, group: str, plural: str, uid: str = "") -> web.Response:
    """The ``Status`` of a delete that removed the object at once."""
    details: JSON = {"name": name, "group": group, "kind": plural}
    if uid:
        details["uid"] = uid
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    return json_answer({**body, "details": details})


def resource_name(plural: str, group: str) -> str:
    """``deployments.apps`` (or ``pods`` for the core group)."""
    return f"{plural}.{group}" if group else plural


def _about(
    code: int, reason: str, message: str, plural: str, group: str, name: str
) -> web.Response:
    return status_error(code, reason, message, {"name": name, "group": group, "kind": plural})


def not_found(plural: str, group: str, name: str) -> web.Response:
    message = f'{resource_name(plural, group)} "{name}" not found'
    return _about(404, "NotFound", message, plural, group, name)


def conflict(plural: str, group: str, name: str, why: str) -> web.Response:
    """409 ``Conflict`` of a write based on a stale resourceVersion."""
    message = f'Operation cannot be fulfilled on {resource_name(plural, group)} "{name}": {why}'
    return _about(409, "Conflict", message, plural, group, name)


def invalid(kind: str, group: str, name: str, err: Invalid) -> web.Response:
    """422 ``Invalid``: ``Deployment.apps "x" is invalid: field: message`` (several causes
    in brackets, comma-separated), one cause per problem."""
    causes = [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in err.causes]
    listed = [f"{f}: {m}" for f, m in err.causes]
    text = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
    qualified = f"{kind}.{group}" if group else kind
    return status_error(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {text}',
        {"name": name, "group": group, "kind": kind, "causes": causes},
    )


def page_not_found() -> web.Response:
    """What the real server answers for a path nothing serves (an API group that is not
    installed, such as ``metrics.k8s.io`` without metrics-server): a plain-text 404."""
    return web.Response(
        status=404,
        body=b"404 page not found\n",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
