"""The client of Nomad's HTTP API: the only module that imports ``httpx`` and
``httpx-ws`` (exec), and the only place their errors are translated.

Every request carries the configured namespace and region (query parameters), the ACL
token (``X-Nomad-Token``) and its timeouts: ``connect_timeout`` bounds opening the
connection, ``request_timeout`` sending the request and each read of the answer (also of
a stream: a followed log's agent sends a heartbeat every second); an exec session is
bounded by ``exec_timeout``. So no call waits forever on an agent that accepts
connections and never answers. Errors are translated here, so nothing from httpx
escapes: connection, TLS and timeout failures ->
:class:`~ctrlplane.errors.BackendUnavailable`; 403 ->
:class:`~ctrlplane.errors.PermissionDenied`; any other non-2xx ->
:class:`~ctrlplane.errors.BackendError` carrying the status and the agent's message,
except a 404 asked for with ``missing_ok`` (the object is absent: ``None``) and the
statuses :meth:`NomadClient.answer` hands back (a check-and-set conflict).

Importing this module without ``httpx`` or ``httpx-ws`` raises
:class:`~ctrlplane.errors.MissingExtra` naming ``pip install 'ctrlplane[nomad]'``.
"""

from __future__ import annotations

import base64
import functools
import json
import ssl
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import quote

from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    MissingExtra,
    PermissionDenied,
)
from ctrlplane.provider.deadlines import Deadline, seconds
from ctrlplane.provider.nomad.config import BACKEND, NomadConfig
from ctrlplane.provider.nomad.observe.execframes import ExecOutput, ExecTranscript

try:
    import httpx
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingExtra(BACKEND, "httpx") from None
try:
    from httpx_ws import (
        AsyncWebSocketSession,
        HTTPXWSException,
        WebSocketDisconnect,
        aconnect_ws,
    )
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingExtra(BACKEND, "httpx-ws") from None

__all__ = ["NomadClient"]

_STDIN_CHUNK = 32 * 1024
_MISSING = 404


@functools.lru_cache(maxsize=16)
def _tls(ca_cert: str | None, client_cert: str | None, client_key: str | None) -> ssl.SSLContext:
    """The TLS context of one set of settings, built once (loading the CA bundle takes
    tens of milliseconds, and every operation opens a client)."""
    ctx = ssl.create_default_context(cafile=ca_cert)
    if client_cert:
        ctx.load_cert_chain(client_cert, client_key)
    return ctx


def _verify(cfg: NomadConfig) -> ssl.SSLContext:
    return _tls(cfg.ca_cert, cfg.client_cert, cfg.client_key)


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
            base_url=cfg.address.rstrip("/"), headers=headers, verify=_verify(cfg)
        )

    def _timeout(self) -> httpx.Timeout:
        """``connect_timeout`` to connect; ``request_timeout`` to write, to wait for a
        pooled connection and for each read."""
        limit = seconds(self.cfg.request_timeout)
        return httpx.Timeout(limit, connect=seconds(self.cfg.connect_timeout))

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
        if status == 403:
            raise PermissionDenied(message, backend=BACKEND, status=status)
        raise BackendError(message, backend=BACKEND, status=status)

    async def _send(
        self, method: str, path: str, body: object, params: dict[str, str] | None
    ) -> httpx.Response:
        try:
            return await self.http.request(
                method,
                path,
                params={**self.params, **(params or {})},
                content=None if body is None else json.dumps(body).encode(),
                headers={"Content-Type": "application/json"} if body is not None else None,
                timeout=self._timeout(),
            )
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from None

    @staticmethod
    def _decode(method: str, path: str, resp: httpx.Response) -> Any:
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise BackendError(
                f"Nomad {method} {path}: answer is not JSON: {exc}", backend=BACKEND
            ) from None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: dict[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """One API call; the decoded JSON answer (``None`` for an empty body, and with
        ``missing_ok`` for a 404)."""
        resp = await self._send(method, path, body, params)
        if missing_ok and resp.status_code == _MISSING:
            return None
        self._raise_for(method, path, resp.status_code, resp.text)
        return self._decode(method, path, resp)

    async def answer(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: dict[str, str] | None = None,
        expected: frozenset[int] = frozenset(),
    ) -> tuple[int, Any]:
        """One API call whose ``expected`` error statuses are answers, not errors (a 409
        check-and-set conflict): ``(status, decoded JSON or None)``."""
        resp = await self._send(method, path, body, params)
        if resp.status_code in expected:
            try:
                return resp.status_code, resp.json() if resp.content else None
            except ValueError:
                return resp.status_code, None
        self._raise_for(method, path, resp.status_code, resp.text)
        return resp.status_code, self._decode(method, path, resp)

    async def get(self, path: str, *, missing_ok: bool = False, **params: str) -> Any:
        """``GET``; with ``missing_ok`` an absent object (404) is ``None``."""
        return await self.request("GET", path, params=params, missing_ok=missing_ok)

    async def put(self, path: str, body: object, **params: str) -> Any:
        """``PUT`` of a JSON body."""
        return await self.request("PUT", path, body=body, params=params)

    async def post(self, path: str, body: object, **params: str) -> Any:
        """``POST`` of a JSON body."""
        return await self.request("POST", path, body=body, params=params)

    async def delete(self, path: str, *, missing_ok: bool = False, **params: str) -> Any:
        """``DELETE``; with ``missing_ok`` an absent object (404) is fine (``None``)."""
        return await self.request("DELETE", path, params=params, missing_ok=missing_ok)

    async def stream(self, path: str, **params: str) -> AsyncGenerator[bytes, None]:
        """The body of a streaming GET, chunk by chunk (each read bounded by
        ``request_timeout``), status checked first. Close it (``contextlib.aclosing``) when
        stopping early."""
        try:
            async with self.http.stream(
                "GET", path, params={**self.params, **params}, timeout=self._timeout()
            ) as resp:
                if resp.status_code >= 300:
                    text = (await resp.aread()).decode(errors="replace")
                    self._raise_for("GET", path, resp.status_code, text)
                async for chunk in resp.aiter_bytes():
                    yield chunk
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from None

    async def exec(
        self, alloc_id: str, task: str, argv: list[str], stdin: bytes, tty: bool
    ) -> ExecOutput:
        """Run ``argv`` in ``task`` over the exec websocket: send stdin (then close it),
        collect stdout and stderr until the ``exited`` frame with the exit code
        (:mod:`~ctrlplane.provider.nomad.observe.execframes`).

        Bounded by ``exec_timeout`` from connecting: past it the session is closed and
        :class:`~ctrlplane.errors.OperationTimeout` raised (the command may still run in
        the task). An ``exited`` frame without a ``result`` object, or a session that
        ends before one, is a :class:`~ctrlplane.errors.BackendError`: the exit code is
        unknown, never guessed.
        """
        path = f"/v1/client/allocation/{quote(alloc_id)}/exec"
        params = {
            **self.params,
            "task": task,
            "command": json.dumps(argv),
            "tty": "true" if tty else "false",
        }
        deadline = Deadline(self.cfg.exec_timeout, f"exec of {argv[0]!r} in task {task!r}")
        outcome: ExecOutput | str | None
        try:
            ws: AsyncWebSocketSession
            async with aconnect_ws(path, self.http, params=params, timeout=self._timeout()) as ws:
                # Nothing may raise in here: httpx-ws wraps what leaves its session in
                # an exception group. Leaving the block closes the session.
                outcome = await _exec_session(ws, stdin, deadline)
        except HTTPXWSException as exc:
            raise BackendError(
                f"Nomad exec in task {task!r} failed: {exc}", backend=BACKEND
            ) from None
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from None
        if outcome is None:
            raise deadline.exceeded(
                "the session was closed; raise NomadConfig.exec_timeout "
                "(CTRLPLANE_NOMAD_EXEC_TIMEOUT) for longer commands"
            )
        if isinstance(outcome, str):
            raise BackendError(f"Nomad exec in task {task!r} {outcome}", backend=BACKEND)
        return outcome


async def _exec_session(
    ws: AsyncWebSocketSession, stdin: bytes, deadline: Deadline
) -> ExecOutput | str | None:
    """Send ``stdin`` then its close frame; read frames until ``exited``. Returns the
    output, why there is no exit code, or ``None`` when the deadline passed first."""
    transcript = ExecTranscript()
    try:
        async with deadline.timeout():
            for i in range(0, len(stdin), _STDIN_CHUNK):
                chunk = base64.b64encode(stdin[i : i + _STDIN_CHUNK]).decode()
                await ws.send_json({"stdin": {"data": chunk}})
            await ws.send_json({"stdin": {"close": True}})
            while True:
                outcome = transcript.feed(await ws.receive_json())
                if outcome is not None:
                    return outcome
    except TimeoutError:
        return None
    except WebSocketDisconnect as exc:
        return f"ended without an exit code: {exc.code} {exc.reason}"
