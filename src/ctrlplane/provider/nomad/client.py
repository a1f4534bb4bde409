"""The thin I/O shell: Nomad's HTTP API on ``httpx`` (exec over ``httpx-ws``).

Every request carries the configured namespace and region (query parameters) and the
ACL token (``X-Nomad-Token``). Errors are translated here, so nothing from httpx escapes:
connection, TLS and timeout failures -> :class:`~ctrlplane.errors.BackendUnavailable`;
403 -> :class:`~ctrlplane.errors.PermissionDenied`; 404 -> :class:`NotFound` (callers turn
it into ``InstanceNotFound``); any other non-2xx -> :class:`~ctrlplane.errors.BackendError`
carrying the status and the agent's message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
from httpx_ws import AsyncWebSocketSession, HTTPXWSException, WebSocketDisconnect, aconnect_ws

from ctrlplane.errors import BackendError, BackendUnavailable, OperationTimeout, PermissionDenied
from ctrlplane.provider.nomad.config import NomadConfig

__all__ = ["BACKEND", "ExecOutput", "NomadClient", "NotFound"]

BACKEND = "nomad"
JSON = dict[str, Any]
_STDIN_CHUNK = 32 * 1024


class NotFound(BackendError):
    """The agent answered 404 (the object does not exist)."""


@dataclass
class ExecOutput:
    """What an exec session returned."""

    exit_code: int
    stdout: bytes
    stderr: bytes


def _seconds(value: timedelta) -> float:
    return value / timedelta(seconds=1)


def _verify(cfg: NomadConfig) -> ssl.SSLContext | bool:
    if not cfg.address.startswith("https") or not (cfg.ca_cert or cfg.client_cert):
        return True
    ctx = ssl.create_default_context(cafile=cfg.ca_cert)
    if cfg.client_cert:
        ctx.load_cert_chain(cfg.client_cert, cfg.client_key)
    return ctx


class NomadClient:
    """One ``httpx.AsyncClient`` on the agent; use as ``async with NomadClient(cfg)``."""

    def __init__(self, cfg: NomadConfig) -> None:
        self.cfg = cfg
        headers = {"Accept": "application/json"}
        if cfg.token_value():
            headers["X-Nomad-Token"] = cfg.token_value()
        self.params: dict[str, str] = {"namespace": cfg.namespace}
        if cfg.region:
            self.params["region"] = cfg.region
        self.http = httpx.AsyncClient(
            base_url=cfg.address.rstrip("/"),
            headers=headers,
            timeout=_seconds(cfg.request_timeout),
            verify=_verify(cfg),
        )

    async def __aenter__(self) -> NomadClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    def _unavailable(self, exc: Exception) -> BackendUnavailable:
        return BackendUnavailable(
            f"Nomad agent at {self.cfg.address} is unreachable: {type(exc).__name__}: {exc}",
            backend=BACKEND,
        )

    def _raise_for(self, method: str, path: str, status: int, text: str) -> None:
        if status < 300:
            return
        message = f"Nomad {method} {path} answered {status}: {text.strip()[:500]}"
        if status == 404:
            raise NotFound(message, backend=BACKEND, status=status)
        if status == 403:
            raise PermissionDenied(message, backend=BACKEND, status=status)
        raise BackendError(message, backend=BACKEND, status=status)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """One API call; the decoded JSON answer (``None`` for an empty body)."""
        try:
            resp = await self.http.request(
                method,
                path,
                params={**self.params, **(params or {})},
                content=None if body is None else json.dumps(body).encode(),
                headers={"Content-Type": "application/json"} if body is not None else None,
            )
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from None
        self._raise_for(method, path, resp.status_code, resp.text)
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise BackendError(
                f"Nomad {method} {path}: answer is not JSON: {exc}", backend=BACKEND
            ) from None

    async def get(self, path: str, **params: str) -> Any:
        return await self.request("GET", path, params=params)

    async def put(self, path: str, body: object, **params: str) -> Any:
        return await self.request("PUT", path, body=body, params=params)

    async def post(self, path: str, body: object, **params: str) -> Any:
        return await self.request("POST", path, body=body, params=params)

    async def delete(self, path: str, **params: str) -> Any:
        return await self.request("DELETE", path, params=params)

    @asynccontextmanager
    async def stream(self, path: str, **params: str) -> AsyncIterator[httpx.Response]:
        """A streaming GET (no read timeout), status already checked."""
        try:
            async with self.http.stream(
                "GET",
                path,
                params={**self.params, **params},
                timeout=httpx.Timeout(_seconds(self.cfg.request_timeout), read=None),
            ) as resp:
                if resp.status_code >= 300:
                    text = (await resp.aread()).decode(errors="replace")
                    self._raise_for("GET", path, resp.status_code, text)
                yield resp
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from None

    async def exec(
        self, alloc_id: str, task: str, argv: list[str], stdin: bytes, tty: bool
    ) -> ExecOutput:
        """Run ``argv`` in ``task`` over the exec websocket: send stdin (then close it),
        collect stdout and stderr until the ``exited`` frame with the exit code.

        Bounded by ``exec_timeout``: past it the session is closed and
        :class:`~ctrlplane.errors.OperationTimeout` raised (the command may still run in
        the task). An ``exited`` frame without a ``result`` object, or a session that
        ends before one, is a :class:`~ctrlplane.errors.BackendError`: the exit code is
        unknown, never guessed. Nomad encodes the frame from a protobuf message whose
        fields are ``omitempty``, so ``"result": {}`` is exit code 0 (as Nomad's own
        ``api`` client reads it).
        """
        path = f"/v1/client/allocation/{quote(alloc_id)}/exec"
        params = {
            **self.params,
            "task": task,
            "command": json.dumps(argv),
            "tty": "true" if tty else "false",
        }
        limit = _seconds(self.cfg.exec_timeout)
        outcome: ExecOutput | str | None
        try:
            ws: AsyncWebSocketSession
            async with aconnect_ws(path, self.http, params=params) as ws:
                # Nothing may raise in here: httpx-ws wraps what leaves its session in
                # an exception group. Leaving the block closes the session.
                outcome = await _exec_session(ws, stdin, limit)
        except HTTPXWSException as exc:
            raise BackendError(
                f"Nomad exec in task {task!r} failed: {exc}", backend=BACKEND
            ) from None
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from None
        if outcome is None:
            raise OperationTimeout(
                f"exec of {argv[0]!r} in task {task!r}",
                limit,
                detail="the session was closed; raise NomadConfig.exec_timeout "
                "(CTRLPLANE_NOMAD_EXEC_TIMEOUT) for longer commands",
            )
        if isinstance(outcome, str):
            raise BackendError(f"Nomad exec in task {task!r} {outcome}", backend=BACKEND)
        return outcome


async def _exec_session(
    ws: AsyncWebSocketSession, stdin: bytes, limit: float
) -> ExecOutput | str | None:
    """Send ``stdin`` then its close frame; read output frames until ``exited``. Returns
    the output, why there is no exit code, or ``None`` when ``limit`` passed first."""
    out, err = bytearray(), bytearray()
    try:
        async with asyncio.timeout(limit):
            for i in range(0, len(stdin), _STDIN_CHUNK):
                chunk = base64.b64encode(stdin[i : i + _STDIN_CHUNK]).decode()
                await ws.send_json({"stdin": {"data": chunk}})
            await ws.send_json({"stdin": {"close": True}})
            while True:
                frame = await ws.receive_json()
                if not isinstance(frame, dict):
                    continue
                for key, sink in (("stdout", out), ("stderr", err)):
                    part = frame.get(key) or {}
                    if part.get("data"):
                        sink += base64.b64decode(part["data"])
                if frame.get("exited"):
                    result = frame.get("result")
                    if not isinstance(result, dict):
                        return (
                            "exited without a result: the exit code is unknown "
                            f"(frame {json.dumps(frame)[:200]})"
                        )
                    return ExecOutput(int(result.get("exit_code", 0)), bytes(out), bytes(err))
    except TimeoutError:
        return None
    except WebSocketDisconnect as exc:
        return f"ended without an exit code: {exc.code} {exc.reason}"
