"""Waiting until an HTTP endpoint answers (the end of every B1 contender's "up").

One small HTTP/1.0 ``GET`` per attempt over a fresh connection, every
:data:`POLL_INTERVAL` seconds: refused connections, connections the userland proxy
accepts and closes while the server is not listening yet, and non-2xx/3xx answers all
count as "not yet". Only 127.0.0.1 addresses are polled.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["POLL_INTERVAL", "http_status", "wait_http"]

POLL_INTERVAL = 0.01


async def http_status(host: str, port: int, path: str = "/", within: float = 1.0) -> int:
    """The status code of one ``GET path`` (each step bounded by ``within`` seconds);
    ``0`` when there is no complete answer."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), within)
    except (OSError, TimeoutError):
        return 0
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), within)
    except (OSError, TimeoutError):
        return 0
    finally:
        writer.close()
    parts = line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0


async def wait_http(host: str, port: int, *, within: float = 60.0, path: str = "/") -> float:
    """Poll until ``GET path`` answers 2xx/3xx; the seconds it took. ``TimeoutError``
    after ``within`` seconds."""
    if not host.startswith("127."):
        raise ValueError(f"only 127.0.0.0/8 is polled, not {host}")
    started = time.monotonic()
    while True:
        if 200 <= await http_status(host, port, path) < 400:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise TimeoutError(f"http://{host}:{port}{path} did not answer in {within:g} s")
        await asyncio.sleep(POLL_INTERVAL)
