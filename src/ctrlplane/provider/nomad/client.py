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

import asyncio
import contextlib
import functools
import json
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote

from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    CtrlplaneError,
    MissingExtra,
    PermissionDenied,
)
from ctrlplane.provider.deadlines import Deadline, first_error, seconds
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.config import BACKEND, NomadConfig
from ctrlplane.provider.nomad.observe.execframes import (
    STDIN_CLOSE,
    ExecOutput,
    ExecTranscript,
    stdin_frame,
)

try:
    import httpx
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingExtra(BACKEND, "httpx") from None
try:
    from httpx_ws import (
        AsyncWebSocketSession,
        HTTPXWSException,
        WebSocketDisconnect,
        WebSocketUpgradeError,
        aconnect_ws,
    )
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingExtra(BACKEND, "httpx-ws") from None

__all__ = ["ExecChannel", "FrameSink", "NomadClient"]

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

    def exec_channel(
        self, alloc_id: str, task: str, argv: list[str], tty: bool, sink: FrameSink
    ) -> AbstractAsyncContextManager[ExecChannel]:
        """An exec websocket running ``argv`` in ``task`` (with a terminal if ``tty``):
        the agent's frames go to ``sink`` as they arrive (see :class:`ExecChannel`).

        Connecting is bounded by ``connect_timeout`` and ``request_timeout``; an agent
        refusing the session is a :class:`~ctrlplane.errors.BackendError` (403:
        :class:`~ctrlplane.errors.PermissionDenied`), one that cannot be reached
        :class:`~ctrlplane.errors.BackendUnavailable`. Once open, the session is
        pinged every ``request_timeout``: an agent that stops answering ends it after
        one more. Leaving the block closes the websocket (the agent then ends the
        command).
        """
        path = f"/v1/client/allocation/{quote(alloc_id)}/exec"
        params = {
            **self.params,
            "task": task,
            "command": json.dumps(argv),
            "tty": "true" if tty else "false",
        }
        limit = seconds(self.cfg.request_timeout)
        connect: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
            path,
            self.http,
            params=params,
            timeout=self._timeout(),
            keepalive_ping_interval_seconds=limit,
            keepalive_ping_timeout_seconds=limit,
        )
        return _open_channel(ExecChannel(sink, f"exec in task {task!r}", self), connect, limit)

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
        deadline = Deadline(self.cfg.exec_timeout, f"exec of {argv[0]!r} in task {task!r}")
        transcript = ExecTranscript()
        outcome: asyncio.Future[ExecOutput | str] = asyncio.get_running_loop().create_future()

        def sink(frame: JSON | str) -> None:
            if isinstance(frame, str):
                found: ExecOutput | str | None = f"ended without an exit code: {frame}"
            else:
                found = transcript.feed(frame)
            if found is not None and not outcome.done():
                outcome.set_result(found)

        try:
            async with (
                deadline.timeout(),
                self.exec_channel(alloc_id, task, argv, tty, sink) as channel,
            ):
                with contextlib.suppress(BackendError):  # ended: the outcome says why
                    for i in range(0, len(stdin), _STDIN_CHUNK):
                        await channel.send(stdin_frame(stdin[i : i + _STDIN_CHUNK]))
                    await channel.send(STDIN_CLOSE)
                result = await outcome
        except TimeoutError:
            raise deadline.exceeded(
                "the session was closed; raise NomadConfig.exec_timeout "
                "(CTRLPLANE_NOMAD_EXEC_TIMEOUT) for longer commands"
            ) from None
        if isinstance(result, str):
            raise BackendError(f"Nomad exec in task {task!r} {result}", backend=BACKEND)
        return result


FrameSink = Callable[[JSON | str], None]
"""Receives each frame of an exec session (a dict), then once why it ended (a str)."""


class ExecChannel:
    """An open exec websocket (:meth:`NomadClient.exec_channel`).

    The agent's frames go to ``sink`` in order, as they arrive, then once why the
    session ended (the agent closed it, ctrlplane did, the connection was lost; also
    :attr:`ended`). :meth:`send` sends one frame.
    """

    def __init__(self, sink: FrameSink, what: str, api: NomadClient) -> None:
        self.sink = sink
        self.what = what
        self.api = api
        self.ended = ""
        self._ws: AsyncWebSocketSession | None = None
        self._stop = asyncio.Event()

    async def send(self, frame: JSON) -> None:
        """Send ``frame``; a session that ended is a
        :class:`~ctrlplane.errors.BackendError` naming why."""
        ws = self._ws
        if ws is None or self._stop.is_set():
            raise BackendError(
                f"Nomad {self.what}: the session has ended ({self.ended or 'closed'})",
                backend=BACKEND,
            )
        try:
            await ws.send_json(frame)
        except Exception as exc:  # the library's and wsproto's errors alike
            raise BackendError(
                f"Nomad {self.what}: sending to the session failed: {type(exc).__name__}: {exc}",
                backend=BACKEND,
            ) from None

    def stop(self) -> None:
        """Ask the session to close (what :func:`_open_channel` does on leaving)."""
        self._stop.set()

    def refused(self, exc: BaseException) -> CtrlplaneError:
        """Why the session could not be opened, as one of our errors."""
        if isinstance(exc, WebSocketUpgradeError):
            status = exc.response.status_code
            message = f"Nomad {self.what}: the agent refused the session ({status})"
            if status == 403:
                return PermissionDenied(message, backend=BACKEND, status=status)
            return BackendError(message, backend=BACKEND, status=status)
        if isinstance(exc, httpx.HTTPError):
            return self.api._unavailable(exc)
        return BackendError(f"Nomad {self.what} failed: {exc}", backend=BACKEND)

    async def pump(
        self,
        connect: AbstractAsyncContextManager[AsyncWebSocketSession],
        opened: asyncio.Future[None],
    ) -> None:
        """The session's own task: connect, then hand every frame to the sink until
        the session ends. Nothing escapes it (the library wraps what leaves its
        session in an exception group): failures become :attr:`ended`, or ``opened``'s
        exception when connecting failed."""
        try:
            async with connect as ws:
                self._ws = ws
                opened.set_result(None)
                self.ended = await self._receive(ws)
        except Exception as exc:
            cause = first_error(exc)
            if not opened.done():
                opened.set_exception(self.refused(cause))
            elif not self.ended:
                self.ended = f"lost: {type(cause).__name__}: {cause}"
        finally:
            self._ws = None
            self._stop.set()
            if not opened.done():
                opened.cancel()  # the pump itself was cancelled while connecting
            elif opened.exception() is None:
                self.sink(self.ended or "closed")

    async def _receive(self, ws: AsyncWebSocketSession) -> str:
        """Frames to the sink until the session ends; why it ended."""
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            while True:
                frame = asyncio.ensure_future(ws.receive_json())
                await asyncio.wait({frame, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not frame.done():
                    frame.cancel()
                    await asyncio.wait({frame})
                    return "closed by ctrlplane"
                try:
                    data = frame.result()
                except WebSocketDisconnect as exc:
                    return f"closed by the agent: {exc.code} {exc.reason or ''}".strip()
                except HTTPXWSException as exc:
                    return f"lost: {type(exc).__name__} {exc}".strip()
                except ValueError as exc:
                    return f"the agent sent a frame that is not JSON: {exc}"
                self.sink(data if isinstance(data, dict) else {})
        finally:
            stop.cancel()


@contextlib.asynccontextmanager
async def _open_channel(
    channel: ExecChannel,
    connect: AbstractAsyncContextManager[AsyncWebSocketSession],
    limit: float,
) -> AsyncIterator[ExecChannel]:
    """Run ``channel``'s pump while the block runs; leaving it closes the session
    (within ``limit``; a pump still busy then is cancelled)."""
    opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(channel.pump(connect, opened))
    try:
        await asyncio.shield(opened)
        yield channel
    finally:
        channel.stop()
        if not opened.done():  # the caller gave up while connecting
            task.cancel()
        done, _ = await asyncio.wait({task}, timeout=limit)
        if not done:
            task.cancel()
            await asyncio.wait({task})
