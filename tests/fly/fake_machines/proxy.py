"""The fake Fly Proxy: an app's public ports, served on 127.0.0.1.

On Fly, ``<app>.fly.dev:<port>`` reaches the app's Machines through the Fly Proxy: a
connection to ``port`` goes to one of the started Machines whose ``config.services`` has
a ``ports`` entry for it (round robin), on that service's ``internal_port``; cordoned
Machines (``cordon``, or created with ``skip_service_registration`` and not uncordoned)
get no traffic. The fake listens on one 127.0.0.1 port per (app, public port) and answers
HTTP through the Machine's image handler; :meth:`FlyProxy.address` says where.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable

from ctrlplane.testing.images import HttpRequest

from .machine import FakeMachine

__all__ = ["FlyProxy", "routes"]


def routes(machines: list[FakeMachine], port: int) -> list[tuple[FakeMachine, int]]:
    """The Machines that take traffic for public ``port``, with their internal port."""
    out: list[tuple[FakeMachine, int]] = []
    for m in machines:
        if m.state != "started" or m.cordoned:
            continue
        for service in m.config.get("services") or []:
            if any(int(p.get("port", 0)) == port for p in service.get("ports") or []):
                out.append((m, int(service["internal_port"])))
    return out


class FlyProxy:
    """Listeners per (app, public port); ``machines(app)`` lists an app's Machines."""

    def __init__(self, machines: Callable[[str], list[FakeMachine]]) -> None:
        self._machines = machines
        self._servers: dict[tuple[str, int], asyncio.Server] = {}
        self._rr = itertools.count()

    async def ensure(self, app: str, port: int) -> None:
        """Listen for ``app``'s public ``port`` (once)."""
        if (app, port) in self._servers:
            return
        server = await asyncio.start_server(
            lambda r, w: self._serve(app, port, r, w), "127.0.0.1", 0
        )
        self._servers[(app, port)] = server

    def address(self, app: str, port: int) -> tuple[str, int] | None:
        """Where the fake serves ``app``'s public ``port`` (``None``: nothing listens)."""
        server = self._servers.get((app, port))
        if server is None:
            return None
        return "127.0.0.1", int(server.sockets[0].getsockname()[1])

    async def drop(self, app: str) -> None:
        """Stop listening for ``app`` (it was deleted)."""
        for key in [k for k in self._servers if k[0] == app]:
            server = self._servers.pop(key)
            server.close()

    async def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()

    async def _serve(
        self, app: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            line = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.decode("latin-1").split()
            targets = routes(self._machines(app), port)
            if not targets or len(parts) < 2:
                return  # no Machine takes the connection: it closes
            machine, internal = targets[next(self._rr) % len(targets)]
            c = machine.container
            if c is None or not c.running or c.image.http is None:
                return
            status, body = c.image.http(
                HttpRequest(parts[1], internal, c.service, c.replica, dict(c.env), c.files.read)
            )
            head = (
                f"HTTP/1.0 {status} X\r\nContent-Length: {len(body)}\r\n"
                "Content-Type: text/plain\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
