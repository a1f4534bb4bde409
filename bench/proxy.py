"""A counting forwarder between a Docker client and the engine (B3).

:class:`CountingProxy` listens on a unix socket of its own and forwards every
connection to the engine (a unix socket or ``tcp://host:port``). It reads the HTTP/1.1
requests the client sends (request line, headers, a ``Content-Length`` or chunked body),
records each as ``(method, path)`` with the API version prefix removed, and passes the
answers back untouched. A connection upgraded by the engine (exec, attach) is piped
raw after its upgrade request. Point ``DockerConfig.docker_host`` or ``DOCKER_HOST`` at
:attr:`CountingProxy.url`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LIST_PATHS", "CountingProxy", "Seen", "is_list_call"]

LIST_PATHS = (
    "/containers/json",
    "/networks",
    "/volumes",
    "/images/json",
    "/services",
    "/tasks",
    "/nodes",
)
"""The engine's list endpoints (``GET``): one call lists objects of one kind."""

_VERSION = re.compile(r"^/v\d+\.\d+(?=/)")


@dataclass(frozen=True)
class Seen:
    """One request the client sent."""

    method: str
    path: str
    """Without the ``/v1.xx`` prefix and without the query."""


def is_list_call(seen: Seen) -> bool:
    """Whether ``seen`` is a list call of the engine (see :data:`LIST_PATHS`)."""
    return seen.method == "GET" and seen.path in LIST_PATHS


class CountingProxy:
    """The forwarder (see the module docstring): ``await start()``, then ``close()``.

    ``upstream`` is the engine: ``unix:///path`` or ``tcp://host:port``."""

    def __init__(self, upstream: str, socket_path: Path) -> None:
        self.upstream = upstream
        self.socket_path = socket_path
        self.seen: list[Seen] = []
        """Every request received, in order."""
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def mark(self) -> int:
        """A position in :attr:`seen`; :meth:`since` returns what came after it."""
        return len(self.seen)

    def since(self, mark: int) -> list[Seen]:
        return self.seen[mark:]

    async def start(self) -> None:
        """Listen on :attr:`socket_path` (replacing a stale socket file)."""
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path))

    async def close(self) -> None:
        """Stop listening, end open connections and remove the socket file."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream.startswith("unix://"):
            return await asyncio.open_unix_connection(self.upstream[len("unix://") :])
        hostport = self.upstream.split("://", 1)[-1].rstrip("/")
        host, _, port = hostport.rpartition(":")
        return await asyncio.open_connection(host or "127.0.0.1", int(port or 2375))

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            ureader, uwriter = await self._connect()
        except OSError:
            cwriter.close()
            self._tasks.discard(task)
            return
        back = asyncio.ensure_future(_pipe(ureader, cwriter))
        try:
            await self._forward_requests(creader, uwriter)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                if uwriter.can_write_eof():
                    uwriter.write_eof()
            with contextlib.suppress(BaseException):
                await back
            for w in (uwriter, cwriter):
                w.close()
            self._tasks.discard(task)

    async def _forward_requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    writer.write(exc.partial)
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target = [*lines[0].split(" "), "", ""][:2]
            path = _VERSION.sub("", target.split("?", 1)[0])
            self.seen.append(Seen(method, path))
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
            }
            writer.write(head)
            if headers.get("transfer-encoding", "").lower() == "chunked":
                await _forward_chunks(reader, writer)
            elif int(headers.get("content-length", "0") or 0) > 0:
                writer.write(await reader.readexactly(int(headers["content-length"])))
            await writer.drain()
            if "upgrade" in headers.get("connection", "").lower():
                await _pipe(reader, writer)
                return


async def _forward_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        writer.write(size_line)
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            writer.write(await reader.readuntil(b"\r\n"))  # (no trailers are sent)
            return
        writer.write(await reader.readexactly(size + 2))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        return
    with contextlib.suppress(OSError):
        if writer.can_write_eof():
            writer.write_eof()
