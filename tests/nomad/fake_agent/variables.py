"""Nomad Variables (``/v1/vars``, ``/v1/var/:path``), from Nomad 1.4 (404 before).

Writes and deletes take ``?cas=<ModifyIndex>`` (check-and-set): ``cas=0`` writes only
a Variable that does not exist; a mismatch answers 409 with the Variable as it is (an
empty one when it does not exist), as Nomad does.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .replies import text

if TYPE_CHECKING:
    from .server import FakeNomadAgent

__all__ = ["VariablesApi"]

JSON = dict[str, Any]
_FIELDS = {"Namespace", "Path", "Items", "CreateIndex", "ModifyIndex", "Lock"}


def _ns(request: web.Request) -> str:
    return request.query.get("namespace") or "default"


class VariablesApi:
    """The Variables endpoints of one agent."""

    def __init__(self, agent: FakeNomadAgent) -> None:
        self.agent = agent

    def routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/v1/vars", self.list_vars)
        r.add_get("/v1/var/{path:.+}", self.read_var)
        r.add_route("PUT", "/v1/var/{path:.+}", self.write_var)
        r.add_route("POST", "/v1/var/{path:.+}", self.write_var)
        r.add_delete("/v1/var/{path:.+}", self.delete_var)

    @property
    def _store(self) -> dict[tuple[str, str], JSON]:
        return self.agent.state.variables

    def _absent(self) -> web.Response | None:
        """Before 1.4 the endpoints do not exist: 404 with an empty body."""
        return None if self.agent.features.variables else web.Response(status=404)

    @staticmethod
    def _meta(var: JSON) -> JSON:
        return {k: v for k, v in var.items() if k != "Items"}

    def _conflict(self, key: tuple[str, str], cas: str | None) -> web.Response | None:
        if cas is None:
            return None
        old = self._store.get(key)
        current = old["ModifyIndex"] if old else 0
        if str(current) == cas:
            return None
        body = old if old else {"Namespace": key[0], "Path": key[1], "Items": None}
        return web.json_response(body, status=409)

    async def list_vars(self, request: web.Request) -> web.Response:
        absent = self._absent()
        if absent is not None:
            return absent
        prefix = request.query.get("prefix", "")
        found = [
            self._meta(v)
            for (ns, path), v in sorted(self._store.items())
            if ns == _ns(request) and path.startswith(prefix)
        ]
        return web.json_response(found)

    async def read_var(self, request: web.Request) -> web.Response:
        absent = self._absent()
        if absent is not None:
            return absent
        var = self._store.get((_ns(request), request.match_info["path"]))
        if var is None:
            return text(404, "variable not found")
        return web.json_response(var)

    async def write_var(self, request: web.Request) -> web.Response:
        absent = self._absent()
        if absent is not None:
            return absent
        body = await request.json()
        path = request.match_info["path"]
        items = body.get("Items") if isinstance(body, dict) else None
        if not isinstance(items, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in items.items()
        ):
            return text(400, "variable Items must be a map of strings")
        self.agent.note_unknown(f"Variable {path}", set(body) - _FIELDS)
        if body.get("Path", path) != path:
            return text(400, "variable path does not match the URL")
        key = (_ns(request), path)
        if key[0] not in self.agent.namespaces:
            return text(500, f'nonexistent namespace "{key[0]}"')
        conflict = self._conflict(key, request.query.get("cas"))
        if conflict is not None:
            return conflict
        index = self.agent.state.tick()
        old = self._store.get(key)
        var = {
            "Namespace": key[0],
            "Path": path,
            "Items": dict(items),
            "CreateIndex": old["CreateIndex"] if old else index,
            "ModifyIndex": index,
            "CreateTime": old["CreateTime"] if old else time.time_ns(),
            "ModifyTime": time.time_ns(),
        }
        self._store[key] = var
        return web.json_response(var)

    async def delete_var(self, request: web.Request) -> web.Response:
        absent = self._absent()
        if absent is not None:
            return absent
        key = (_ns(request), request.match_info["path"])
        conflict = self._conflict(key, request.query.get("cas"))
        if conflict is not None:
            return conflict
        self._store.pop(key, None)
        return web.Response(status=200)
