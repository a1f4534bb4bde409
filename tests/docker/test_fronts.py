"""Published endpoints that survive every operation: the instance's fronts on the real engine.

Each published port is held by a front container for the instance's whole life; deploys
(each strategy), rollback, restart, stop/start and scale never move an endpoint, and a
host client looping over the published endpoint on 127.0.0.1 sees no failed request while
a 2-replica service is rolled out.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiodocker
import pytest

from ctrlplane.errors import InstanceNotFound, ProvisionFailed
from ctrlplane.provider import DeployRequest, ResourceSpec
from ctrlplane.provider.docker import DockerProvider, fronts

from .helpers import IMAGE, TRAP, request

APP = [
    "sh",
    "-c",
    TRAP + 'mkdir -p /tmp/www; echo "$VERSION" > /tmp/www/version; echo ok > /tmp/www/healthz; '
    "httpd -f -p 8080 -h /tmp/www & wait",
]
GATED = {"path": "/healthz", "port": 8080, "interval": "250ms", "timeout": "250ms", "retries": 12}


def app(version: str = "v1", replicas: int = 2, host: int = 0) -> dict[str, object]:
    port: dict[str, int] = {"container": 8080}
    if host:
        port["host"] = host
    return {
        "name": "app",
        "image": IMAGE,
        "command": APP,
        "env": {"VERSION": version},
        "ports": [port],
        "health_check": GATED,
        "resources": {"replicas": replicas},
    }


def change(version: str, strategy: str, iid: str) -> DeployRequest:
    return DeployRequest(
        instance_id=iid,
        strategy=strategy,
        services=[{"name": "app", "image": IMAGE, "env": {"VERSION": version}}],
    )


async def public(provider: DockerProvider, iid: str) -> list[str]:
    status = await provider.status(iid)
    return [e.url for e in status.endpoints if e.public]


def get(url: str, path: str = "/version", timeout: float = 3.0) -> str:
    """One request on a new connection (``url`` is ``tcp://host:port``)."""
    host, port = url.removeprefix("tcp://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read().decode()
        if resp.status != 200:
            raise OSError(f"HTTP {resp.status}")
        return body.strip()
    finally:
        conn.close()


async def served(url: str, within: float = 2.0) -> str:
    """The ``/version`` ``url`` serves once it answers, within ``within`` seconds: a front
    just (re)started forwards as soon as its socat listens, a few milliseconds after the
    engine reports it running (the engine's proxy resets connections until then)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await asyncio.to_thread(get, url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


async def docker_cli(*args: str) -> str:
    """Run the docker CLI (as a user would act behind the provider's back)."""
    proc = await asyncio.to_thread(
        subprocess.run, ["docker", *args], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Client:
    """A host client looping over one published endpoint, each request on a new
    connection, every request counted (no retries)."""

    url: str
    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.seen.add(get(self.url))
                self.ok += 1
            except (OSError, http.client.HTTPException) as exc:
                self.failed += 1
                self.errors.append(repr(exc))

    def __enter__(self) -> Client:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)


async def test_the_endpoint_never_moves(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    result = await provider.provision(request(iid, app()))
    try:
        urls = [e.url for e in result.endpoints if e.public]
        assert len(urls) == 1  # one published endpoint per port, not one per replica
        url = urls[0]
        assert url.startswith("tcp://127.0.0.1:")
        assert get(url) == "v1"

        async def unchanged(after: str, serving: str | None) -> None:
            assert await public(provider, iid) == [url], after
            if serving is not None:
                assert await asyncio.to_thread(get, url) == serving, after

        for version, strategy in (("v2", "rolling"), ("v3", "blue-green"), ("v4", "canary")):
            await provider.deploy(change(version, strategy, iid))
            await unchanged(f"a {strategy} deploy", version)
        first = (await provider.releases(iid))[-1].release_id
        await provider.rollback(iid, first)
        await unchanged("a rollback", "v1")
        await provider.restart(iid)
        await unchanged("a restart", "v1")
        await provider.stop(iid)
        await unchanged("a stop", None)
        with pytest.raises((OSError, http.client.HTTPException)):
            await asyncio.to_thread(get, url)  # the port is held; nothing serves it
        await provider.start(iid)
        await unchanged("a start", "v1")
        await provider.scale(iid, ResourceSpec(replicas=3))
        await unchanged("scaling up", "v1")
        await provider.scale(iid, ResourceSpec(replicas=1))
        await unchanged("scaling down", "v1")
        assert (await provider.status(iid)).ready
    finally:
        await provider.deprovision(iid)


@pytest.mark.parametrize("strategy", ["rolling", "blue-green", "canary", "rollback"])
async def test_a_host_client_sees_no_failed_request(
    provider: DockerProvider, make_id: Callable[[], str], strategy: str
) -> None:
    """2 replicas; a client on 127.0.0.1 loops over the published endpoint during the
    deploy (or the rollback); every request counts."""
    iid = make_id()
    result = await provider.provision(request(iid, app()))
    try:
        url = next(e.url for e in result.endpoints if e.public)
        first = result.metadata["release_id"]
        if strategy == "rollback":
            await provider.deploy(change("v2", "rolling", iid))
        with Client(url) as client:
            await asyncio.sleep(0.5)
            if strategy == "rollback":
                await provider.rollback(iid, first)
                final = "v1"
            else:
                await provider.deploy(change("v2", strategy, iid))
                final = "v2"
            await asyncio.sleep(0.5)
        print(f"{strategy}: {client.ok} ok, {client.failed} failed requests via {url}")
        assert client.failed == 0, f"{client.failed} failed ({client.ok} ok): {client.errors[:5]}"
        assert client.ok > 20
        assert final in client.seen
        assert get(url) == final
        assert await public(provider, iid) == [url]
    finally:
        await provider.deprovision(iid)


async def test_blue_green_with_a_fixed_host_port(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    port = free_port()
    result = await provider.provision(request(iid, app(host=port)))
    try:
        url = f"tcp://127.0.0.1:{port}"
        assert [e.url for e in result.endpoints if e.public] == [url]
        with Client(url) as client:
            await provider.deploy(change("v2", "blue-green", iid))
        print(f"blue-green on fixed port {port}: {client.ok} ok, {client.failed} failed")
        assert client.failed == 0, client.errors[:5]
        assert get(url) == "v2"
        assert await public(provider, iid) == [url]
        assert (await provider.releases(iid))[0].strategy == "blue-green"
    finally:
        await provider.deprovision(iid)


async def test_the_front_is_part_of_the_instance(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    result = await provider.provision(request(iid, app(replicas=1)))
    name = f"cp-{iid}-front-app-8080"
    try:
        url = next(e.url for e in result.endpoints if e.public)
        port = int(url.rsplit(":", 1)[1])
        async with aiodocker.Docker() as docker:
            front = await docker.containers.get(name)
            binding = front["HostConfig"]["PortBindings"]["8080/tcp"]
            assert binding == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]  # pinned
            unit = await docker.containers.get(f"cp-{iid}-0-app")
            assert not unit["HostConfig"].get("PortBindings")  # units publish nothing
            # the engine restarting the front keeps the port (it is pinned)
            await front.restart(timeout=1)
        assert await served(url) == "v1"
        status = await provider.status(iid)
        assert status.metadata["fronts"] == f"app:8080/tcp={url} running"
        assert status.ready
        assert [s.instance_id for s in await provider.list_instances()].count(iid) == 1
        assert {u.service for u in await provider.units(iid)} == {"app"}  # no front row

        # a stopped front: status says so, start brings it back on the same port
        await docker_cli("stop", "-t", "1", name)
        status = await provider.status(iid)
        assert not status.ready
        assert f"front app:8080/tcp is exited: {url} is not served" in status.message
        assert [e.url for e in status.endpoints if e.public] == [url]
        await provider.start(iid)
        assert await served(url) == "v1"

        # a front removed by hand: status says so, start creates it again
        await docker_cli("rm", "-f", name)
        status = await provider.status(iid)
        assert "front app:8080/tcp is missing" in status.message
        assert not status.ready
        await provider.start(iid)
        again = await public(provider, iid)
        assert len(again) == 1
        assert await served(again[0]) == "v1"
        assert (await provider.status(iid)).ready
    finally:
        await provider.deprovision(iid)
    # make_id checks that nothing of the instance (the front included) is left


async def test_a_front_that_cannot_resolve_its_service_is_reported_and_start_repairs_it(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    """The engine can lose a network's service names while every container keeps running
    (``docker swarm leave`` erases them on Docker 20.10; a test cannot leave a Swarm on
    an engine other tests share, so the unit's holder rejoins its network without its
    aliases here, which leaves the name unresolved the same way). The front then closes
    every connection: status must not say ready, and start gives the names back."""
    iid = make_id()
    result = await provider.provision(request(iid, app(replicas=1)))
    try:
        url = next(e.url for e in result.endpoints if e.public)
        assert await served(url) == "v1"
        assert (await provider.status(iid)).ready
        network, holder = f"cp-{iid}", f"cp-{iid}-0.pod"
        await docker_cli("network", "disconnect", network, holder)
        await docker_cli("network", "connect", network, holder)
        with pytest.raises(ConnectionError):
            await asyncio.to_thread(get, url)  # the front closes the connection
        status = await provider.status(iid)
        assert not status.ready
        assert (
            f"front app:8080/tcp cannot resolve the name 'app' on the instance network: "
            f"{url} closes every connection" in status.message
        ), status.message
        await provider.start(iid)  # the units run: start gives the holder its names back
        assert await served(url) == "v1"
        assert (await provider.status(iid)).ready
    finally:
        await provider.deprovision(iid)


async def test_a_unit_whose_pinned_address_was_taken_while_stopped_starts_under_another(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    """A rollout rejoins a unit's holder to its network under the same address, which pins
    that address in the holder's endpoint config (done here with the docker CLI, as the
    library does it). While the unit is stopped, the engine gives that address to the next
    container that starts on the network (after an engine restart: the fronts, which the
    engine restarts first). Start must still bring the unit up, under a free address and
    with its names, and the endpoint serve again."""
    iid = make_id()
    result = await provider.provision(request(iid, app(replicas=1)))
    network, holder, squatter = f"cp-{iid}", f"cp-{iid}-0.pod", f"squatter-{iid}"
    where = '{{(index .NetworkSettings.Networks "' + network + '").IPAddress}}'
    try:
        url = next(e.url for e in result.endpoints if e.public)
        address = await docker_cli("inspect", "--format", where, holder)
        await docker_cli("network", "disconnect", network, holder)
        pinned = ["--ip", address, "--alias", "app", "--alias", "app-0"]
        await docker_cli("network", "connect", *pinned, network, holder)
        assert await served(url) == "v1"
        await provider.stop(iid)
        taken = ["--network", network, "--ip", address, "--name", squatter]
        await docker_cli("run", "-d", *taken, IMAGE, "sleep", "300")
        await provider.start(iid)
        assert await docker_cli("inspect", "--format", where, holder) not in ("", address)
        assert await served(url) == "v1"
        assert (await provider.status(iid)).ready
    finally:
        await docker_cli("rm", "-f", squatter)
        await provider.deprovision(iid)


async def test_no_front_left_after_a_failed_provision(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    # the main exits at once: the fronts, made while the units start, go with them
    iid = make_id()
    crashing = app(replicas=2)
    crashing["command"] = ["sh", "-c", "exit 3"]
    with pytest.raises(ProvisionFailed):
        await provider.provision(request(iid, crashing))

    # a requested host port another process holds: the step says which port
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = int(taken.getsockname()[1])
    iid = make_id()
    started = time.monotonic()
    try:
        with pytest.raises(ProvisionFailed) as exc:
            await provider.provision(request(iid, app(host=port)))
    finally:
        taken.close()
    assert exc.value.step == "publish port app:8080/tcp"
    assert str(port) in exc.value.reason
    assert time.monotonic() - started < 30
    with pytest.raises(InstanceNotFound):
        await provider.status(iid)
    assert await docker_cli("ps", "-aq", "--filter", f"label=io.ctrlplane.instance={iid}") == ""


async def front_starts(name: str, since: float) -> int:
    """How many times the engine started a container called ``name`` since ``since``."""
    out = await docker_cli(
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        f"{time.time():.3f}",
        "--filter",
        f"container={name}",
        "--filter",
        "event=start",
        "--format",
        "{{.Action}}",
    )
    return len(out.split())


async def test_an_engine_chosen_port_is_bound_with_one_start(
    provider: DockerProvider, make_id: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # on a local engine the front starts once, on a port free on this machine
    iid = make_id()
    since = time.time() - 1
    result = await provider.provision(request(iid, app(replicas=1)))
    try:
        url = next(e.url for e in result.endpoints if e.public)
        assert await served(url) == "v1"
        assert await front_starts(f"cp-{iid}-front-app-8080", since) == 1
    finally:
        await provider.deprovision(iid)

    # a chosen port the engine cannot bind (taken meanwhile): the engine chooses one
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = int(taken.getsockname()[1])
    monkeypatch.setattr(fronts, "_free_port", lambda host, protocol: port)
    iid = make_id()
    try:
        result = await provider.provision(request(iid, app(replicas=1)))
        url = next(e.url for e in result.endpoints if e.public)
        assert not url.endswith(f":{port}")
        assert await served(url) == "v1"
    finally:
        taken.close()
        await provider.deprovision(iid)
