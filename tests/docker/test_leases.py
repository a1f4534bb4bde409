"""The operation lease on the REAL engine: a container created and never started.

The store must have the reference semantics of
:class:`ctrlplane.testing.leases.MemoryLeaseStore` (atomic create, check-and-set replace,
conditional delete), and two providers (or processes) must be serialised through it.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiodocker
import pytest

from ctrlplane.errors import InstanceBusy
from ctrlplane.provider import DeployRequest
from ctrlplane.provider.docker import DockerProvider
from ctrlplane.provider.docker.client import DockerClient, open_client
from ctrlplane.provider.docker.leases import DockerLeaseStore
from ctrlplane.provider.events import ProgressEvent, StepStarted
from ctrlplane.provider.leases import InstanceLocks, Lease

from .conftest import fast_config
from .helpers import IMAGE, TRAP, request

APP = ["sh", "-c", TRAP + 'echo "$VERSION" > /tmp/version; httpd -f -p 8080 -h /tmp & wait']


def _store() -> DockerLeaseStore:
    config = fast_config()

    @asynccontextmanager
    async def connect() -> AsyncIterator[DockerClient]:
        async with open_client(config, "auto") as client:
            yield client

    return DockerLeaseStore(config, connect)


def _lease(holder: str, *, age: float = 0.0, ttl: float = 30.0) -> Lease:
    at = datetime.now(UTC) - timedelta(seconds=age)
    return Lease(holder, "deploy", at, at, ttl, {"phase": "roll out"})


async def _lease_containers(iid: str) -> list[dict[str, Any]]:
    """The inspects of the instance's lease containers (one removed between the list
    and its inspect, as a lease is released, is not one)."""
    flt = {"label": [f"io.ctrlplane.instance={iid}", "io.ctrlplane.lease"]}
    async with aiodocker.Docker() as client:
        found = await client.containers.list(all=True, filters=flt)
        shown = []
        for c in found:
            try:
                shown.append(await c.show())
            except aiodocker.DockerError as exc:
                if exc.status != 404:
                    raise
        return shown


async def test_the_store_has_the_reference_semantics(make_id: Callable[[], str]) -> None:
    store = _store()
    iid = make_id()
    assert await store.read(iid) is None
    mine = _lease("host/1/a")
    created = await store.create(iid, mine)
    assert created is not None
    assert created.lease == mine
    assert await store.create(iid, _lease("host/2/b")) is None  # exists: atomic create
    assert await store.read(iid) == created

    (info,) = await _lease_containers(iid)
    assert info["Name"] == f"/cp-{iid}-lease"
    assert info["State"]["Status"] == "created"  # never started
    assert info["Id"] == created.token

    renewed = replace(mine, renewed_at=datetime.now(UTC), intent={"phase": "switch"})
    stored = await store.replace(iid, created, renewed)
    assert stored is not None
    assert stored.token == created.token  # in place: no gap
    assert await store.read(iid) == stored  # the renewal is what is read back

    other = _lease("host/2/b")
    taken = await store.replace(iid, stored, other)
    assert taken is not None
    assert taken.token != stored.token
    assert await store.replace(iid, stored, renewed) is None  # the old holder lost it
    assert await store.replace(iid, stored, _lease("host/3/c")) is None  # stale token
    await store.delete(iid, stored)  # stale: left alone
    assert await store.read(iid) == taken
    await store.delete(iid, taken)
    assert await store.read(iid) is None
    assert await _lease_containers(iid) == []


async def test_locks_over_the_store_serialise_and_take_over(make_id: Callable[[], str]) -> None:
    store = _store()
    iid = make_id()
    locks = InstanceLocks(store, provider="docker", ttl=1.0, wait=0.5, poll=0.05)
    async with locks.hold(iid, "deploy") as held:
        await asyncio.sleep(1.5)  # longer than the ttl: renewals keep it
        assert not held.lease.expired()
        with pytest.raises(InstanceBusy) as caught:
            async with locks.hold(iid, "scale"):
                pass
        assert caught.value.operation == "deploy"
    assert await store.read(iid) is None

    dead = _lease("gone/9/z", age=5.0, ttl=1.0)
    await store.create(iid, dead)
    async with locks.hold(iid, "status") as held:
        assert held.previous == dead  # taken over: the interrupted operation
    assert await _lease_containers(iid) == []


async def test_a_deploy_waits_for_another_and_reports_the_wait(
    make_id: Callable[[], str],
) -> None:
    """Two provider objects deploy at once: the second waits (a ``wait-for-lease`` step)
    and both finish; nothing of the lease is left; the image is shared, never pulled."""
    provider = DockerProvider(fast_config())
    iid = make_id()
    await provider.provision(
        request(iid, {"name": "app", "image": IMAGE, "command": APP, "env": {"VERSION": "v1"}})
    )
    try:
        seen: list[ProgressEvent] = []

        def deploy(version: str) -> DeployRequest:
            return DeployRequest(
                instance_id=iid,
                services=[{"name": "app", "image": IMAGE, "env": {"VERSION": version}}],
            )

        first = asyncio.create_task(provider.deploy(deploy("v2")))
        for _ in range(500):  # until the first deploy holds the lease
            if await _lease_containers(iid):
                break
            await asyncio.sleep(0.02)
        await DockerProvider(fast_config()).deploy(deploy("v3"), events=seen.append)
        await first
        waits = [e for e in seen if isinstance(e, StepStarted) and e.step == "wait-for-lease"]
        assert waits
        assert "deploy by" in waits[0].detail
        live = (await provider.releases(iid))[0]
        assert live.service("app").env == {"VERSION": "v3"}
        assert await _lease_containers(iid) == []
        images = await asyncio.to_thread(
            subprocess.run,
            ["docker", "image", "inspect", "ctrlplane-lease:1", "--format", "{{.Size}}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert images.stdout.strip() == "0"  # the empty local image
    finally:
        await provider.deprovision(iid)
