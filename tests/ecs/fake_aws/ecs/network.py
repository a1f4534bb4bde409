"""The tasks' network: each task's elastic network interface gets its own loopback
address, and each container port it maps is served there over real TCP.

``awsvpc`` tasks have a private IP of their own, on which every container of the task
listens at its container port (the containers share one network namespace). The fake
gives each task an address in a ``127.x.y.z`` block of its own (a random ``x`` per fake,
so two fakes on one machine do not meet), and while a container whose image answers
HTTP runs, listens on ``<task IP>:<containerPort>`` and answers GET requests through the
image's handler (:class:`~ctrlplane.testing.images.FakeImage`). A port whose container is
not running refuses connections, as a real one does. Only loopback addresses are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable

from ctrlplane.testing.images import HttpRequest

__all__ = ["Addresses", "HttpAnswer", "Listener"]

HttpAnswer = Callable[[HttpRequest], tuple[int, bytes]]
_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Addresses:
    """Hands out task addresses ``127.<block>.<n>`` (never ``127.0.0.1``).

    The block is claimed for the machine, not only for the process: a listening socket on
    ``127.<block>.255.1`` (:data:`CLAIM_PORT`) holds it until :meth:`close`, and a block
    another fake holds (a test on the other worker) is passed over. Two fakes that drew the
    same block served each other's tasks: a client reached the other fake's container."""

    def __init__(self) -> None:
        self._claim = _claim_block()
        self.block = int(self._claim.getsockname()[0].split(".")[1])
        self._next = 1
        self._free: list[str] = []

    def close(self) -> None:
        """Release the block."""
        self._claim.close()

    def take(self) -> str:
        if self._free:
            return self._free.pop(0)
        n = self._next
        self._next += 1
        return f"127.{self.block}.{n // 250}.{n % 250 + 2}"

    def give_back(self, address: str) -> None:
        self._free.append(address)


CLAIM_PORT = 65531


def _claim_block() -> socket.socket:
    """A listening socket on ``127.<block>.255.1`` for a block no other fake holds."""
    blocks = list(range(100, 251))
    random.shuffle(blocks)
    for block in blocks:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((f"127.{block}.255.1", CLAIM_PORT))
            sock.listen(1)
        except OSError:
            sock.close()
            continue
        return sock
    raise RuntimeError("every 127.<100-250> block is held by another fake")


class Listener:
    """One ``address:port`` answering HTTP with ``answer`` (the owning container's image)."""

    def __init__(self, address: str, port: int, answer: Callable[[str], tuple[int, bytes]]) -> None:
        self.address = address
        self.port = port
        self.answer = answer
        self.server: asyncio.Server | None = None

    async def open(self) -> bool:
        """Start listening; false when the address and port cannot be bound."""
        try:
            self.server = await asyncio.start_server(self._serve, self.address, self.port)
        except OSError:
            return False
        return True

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                line = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
            parts = line.decode("latin-1").split()
            if len(parts) < 2 or parts[0] != "GET":
                status, body = 405, b"method not allowed\n"
            else:
                status, body = self.answer(parts[1])
            reason = _REASONS.get(status, "Unknown")
            writer.write(
                f"HTTP/1.0 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
