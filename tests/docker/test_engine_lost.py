"""The engine lost in the middle of an operation, on the REAL engine reached through a
TCP front (127.0.0.1) that the test cuts: ``BackendUnavailable`` (CLI exit 5), never
``ProvisionFailed``/``DeployFailed``, and the error says what may be left."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable

import pytest

from ctrlplane.errors import BackendUnavailable
from ctrlplane.provider import DeployRequest
from ctrlplane.provider.docker import DockerProvider
from ctrlplane.provider.events import ProgressEvent, StepStarted, UnitStarted

from .conftest import fast_config
from .helpers import IMAGE, TRAP, request

SOCKET = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
APP = ["sh", "-c", TRAP + 'echo "$VERSION" > /tmp/version; httpd -f -p 8080 -h /tmp & wait']


class EngineFront:
    """Forwards TCP connections on 127.0.0.1 to the engine's socket until :meth:`cut`
    (then open connections are aborted and new ones refused) or :meth:`hang` (open
    connections aborted, new ones accepted and never answered: an engine that hangs)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.hanging = False

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"tcp://{host}:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.hanging:
            self.writers.append(writer)
            with contextlib.suppress(OSError):
                while await reader.read(65536):
                    pass
            return
        up_reader, up_writer = await asyncio.open_unix_connection(SOCKET)
        self.writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        self._abort_open()

    def hang(self) -> None:
        self.hanging = True
        self._abort_open()

    def _abort_open(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers = []


@pytest.fixture
async def front() -> AsyncIterator[EngineFront]:
    engine = EngineFront()
    yield engine
    if engine.server is not None:
        engine.cut()


@pytest.mark.parametrize("stop", ["cut", "hang"])
async def test_engine_lost_mid_provision_is_backend_unavailable(
    front: EngineFront, make_id: Callable[[], str], stop: str
) -> None:
    """The front is cut (or drops its connections and then hangs) while an init runs:
    the provision raises BackendUnavailable naming the step it stopped at and what may
    be left (the cleanup could not run). When the engine hangs, the cleanup waits on it
    longer than the lease lives (1s) and the lease is lost meanwhile: the error is still
    that BackendUnavailable, noting the lost lease; not a bare CancelledError, not a
    LeaseLost that hides where it stopped."""
    lost = DockerProvider(
        fast_config(docker_host=await front.start(), request_timeout=3, lease_ttl=1)
    )
    iid = make_id()
    init = {"name": "prepare", "role": "init", "image": IMAGE, "command": ["sleep", "30"]}
    app = {"name": "app", "image": IMAGE, "command": APP, "depends_on": ["prepare"]}

    def stop_at_the_init(event: ProgressEvent) -> None:
        if isinstance(event, UnitStarted) and event.service == "prepare":
            front.hang() if stop == "hang" else front.cut()

    try:
        with pytest.raises(BackendUnavailable) as caught:
            async with asyncio.timeout(60):
                await lost.provision(request(iid, init, app), events=stop_at_the_init)
        text = str(caught.value)
        assert "init service prepare" in text, text
        assert f"deprovision {iid} removes them" in text, text
        if stop == "hang":
            notes = getattr(caught.value, "__notes__", [])
            assert any("lost its operation lease" in note for note in notes), notes
    finally:
        await DockerProvider(fast_config(lease_ttl=1)).deprovision(iid)


async def test_engine_lost_mid_deploy_is_backend_unavailable(
    front: EngineFront, make_id: Callable[[], str]
) -> None:
    """The front is cut while the new unit starts: BackendUnavailable saying where the
    deploy stopped; the next deploy through the engine repairs nothing it should not
    and rolls out."""
    direct = DockerProvider(fast_config())
    iid = make_id()
    await direct.provision(
        request(iid, {"name": "app", "image": IMAGE, "command": APP, "env": {"VERSION": "v1"}})
    )
    try:
        lost = DockerProvider(
            fast_config(docker_host=await front.start(), request_timeout=5, lease_ttl=1)
        )

        def cut_at_the_gate(event: ProgressEvent) -> None:
            if isinstance(event, StepStarted) and event.step.startswith("replace-unit"):
                front.cut()

        change = {"name": "app", "image": IMAGE, "env": {"VERSION": "v2"}}
        with pytest.raises(BackendUnavailable) as caught:
            async with asyncio.timeout(60):
                await lost.deploy(
                    DeployRequest(instance_id=iid, services=[change]), events=cut_at_the_gate
                )
        assert "deploy of" in str(caught.value)
        assert "stopped at" in str(caught.value)
    finally:
        await direct.deprovision(iid)
