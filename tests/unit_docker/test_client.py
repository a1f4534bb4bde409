"""The Docker client's timeouts and the config's descriptions: no engine needed (a
silent or slow fake engine on a unix socket in the test's directory)."""

from __future__ import annotations

import asyncio
import struct
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ctrlplane.errors import BackendUnavailable
from ctrlplane.provider.docker import DockerConfig
from ctrlplane.provider.docker.client import open_client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def fake_engine(handler: Handler) -> AsyncIterator[DockerConfig]:
    """A unix-socket server answering with ``handler``; a config pointing at it (API
    version pinned, so no negotiation) with short timeouts. The socket lives in a short
    temporary directory (a socket path has at most 107 bytes)."""
    writers: list[asyncio.StreamWriter] = []
    tasks: list[asyncio.Task[Any]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        await handler(reader, writer)

    folder = tempfile.TemporaryDirectory(prefix="cp-")
    path = Path(folder.name) / "engine.sock"
    server = await asyncio.start_unix_server(serve, path=str(path))
    try:
        yield DockerConfig(
            docker_host=f"unix://{path}",
            api_version="v1.41",
            connect_timeout=1,
            request_timeout=0.3,
        )
    finally:
        for task in tasks:
            task.cancel()
        for writer in writers:
            writer.close()
        server.close()
        folder.cleanup()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(5)  # reads the request, never answers


async def _slow_log(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n")
    writer.write(b"Connection: close\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.8)  # longer than request_timeout
    payload = b"2024-05-01T10:00:00Z late line\n"
    writer.write(struct.pack(">BxxxL", 1, len(payload)) + payload)
    await writer.drain()
    writer.close()


async def test_a_silent_engine_is_unavailable_after_request_timeout() -> None:
    async with (
        fake_engine(_silent) as config,
        open_client(config, config.api_version) as client,
    ):
        with pytest.raises(BackendUnavailable) as exc:
            await client.inspect_container("web")
        assert "did not answer within 0.3s (request_timeout)" in str(exc.value)
        assert "inspect container web" in str(exc.value)
        with pytest.raises(BackendUnavailable) as exc:
            await client.ping()  # a request of the client's own, same rule
        assert "did not answer within 0.3s" in str(exc.value)


async def test_a_followed_log_is_not_cut_by_request_timeout() -> None:
    params = {"stdout": "1", "stderr": "1", "timestamps": "1"}
    async with (
        fake_engine(_slow_log) as config,
        open_client(config, config.api_version) as client,
    ):
        async with client.logs("web", {**params, "follow": "1"}, follow=True) as chunks:
            data = b"".join([chunk async for chunk in chunks])
        assert data.endswith(b"late line\n")
        with pytest.raises(BackendUnavailable):
            async with client.logs("web", {**params, "follow": "0"}, follow=False) as chunks:
                [chunk async for chunk in chunks]


def test_every_config_field_is_described() -> None:
    schema = DockerConfig.model_json_schema()
    undescribed = [k for k, v in schema["properties"].items() if not v.get("description")]
    assert not undescribed
    assert DockerConfig().request_timeout.total_seconds() == 60
    assert DockerConfig.from_env({"CTRLPLANE_DOCKER_CONNECT_TIMEOUT": "2s"}).connect_timeout
