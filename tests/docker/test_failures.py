"""Failures leave nothing behind: init failure, init timeout, bad image, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiodocker
import pytest

from ctrlplane.errors import BackendError, InstanceNotFound, ProvisionFailed
from ctrlplane.provider.docker import DockerProvider

from .conftest import fast_config
from .helpers import IMAGE, request, web


async def _objects(iid: str) -> int:
    flt = {"label": [f"io.ctrlplane.instance={iid}"]}
    async with aiodocker.Docker() as client:
        containers = await client.containers.list(all=True, filters=flt)
        networks = await client.networks.list(filters=flt)
        # aiodocker's DockerVolumes.list has no annotations.
        volumes = (await client.volumes.list(filters=flt))["Volumes"] or []  # type: ignore[no-untyped-call]
    return len(containers) + len(networks) + len(volumes)


async def test_init_failure_cleans_up_and_reports_logs(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    req = request(
        iid,
        {
            "name": "migrate",
            "image": IMAGE,
            "role": "init",
            "volumes": [{"name": "data", "mount_path": "/data"}],
            "command": ["sh", "-c", "echo step one; echo 'schema broken' >&2; exit 4"],
        },
        web(depends_on=["migrate"]),
    )
    with pytest.raises(ProvisionFailed) as exc:
        await provider.provision(req)
    err = exc.value
    assert err.step == "init service migrate (replica 0)"
    assert "exited with code 4" in err.reason
    assert "schema broken" in err.reason
    assert "step one" in err.reason
    assert await _objects(iid) == 0
    with pytest.raises(InstanceNotFound):
        await provider.status(iid)


async def test_init_timeout(make_id: Callable[[], str]) -> None:
    provider = DockerProvider(fast_config(init_timeout=0.5))
    iid = make_id()
    req = request(
        iid,
        {"name": "slow", "image": IMAGE, "role": "init", "command": ["sleep", "30"]},
        web(),
    )
    with pytest.raises(ProvisionFailed) as exc:
        await provider.provision(req)
    assert exc.value.step == "init service slow (replica 0)"
    assert "did not finish within 0.5s" in exc.value.reason
    assert await _objects(iid) == 0


async def test_missing_image_is_named(make_id: Callable[[], str]) -> None:
    iid = make_id()
    missing = "ctrlplane-example/does-not-exist:1"
    provider = DockerProvider(fast_config(pull_policy="never"))
    with pytest.raises(ProvisionFailed) as exc:
        await provider.provision(request(iid, web(image=missing)))
    assert missing in str(exc.value)
    assert "pull policy is never" in str(exc.value)
    # if-not-present tries to pull; the registry (on 127.0.0.1:9, nothing listens) fails
    provider = DockerProvider(fast_config(pull_policy="if-not-present"))
    unreachable = "127.0.0.1:9/nothing/here:1"
    with pytest.raises(ProvisionFailed) as exc:
        await provider.provision(request(iid, web(image=unreachable)))
    assert exc.value.step == f"pull image {unreachable}"
    assert await _objects(iid) == 0


async def test_main_crashing_at_start_fails_provision(
    make_id: Callable[[], str],
) -> None:
    provider = DockerProvider(fast_config(restart_policy="no"))
    iid = make_id()
    with pytest.raises(ProvisionFailed) as exc:
        await provider.provision(
            request(
                iid,
                {
                    "name": "app",
                    "image": IMAGE,
                    "command": ["sh", "-c", "echo cannot start >&2; exit 2"],
                },
            )
        )
    assert "app" in exc.value.step
    assert "cannot start" in exc.value.reason
    assert await _objects(iid) == 0


async def test_cancellation_cleans_up(provider: DockerProvider, make_id: Callable[[], str]) -> None:
    iid = make_id()
    req = request(
        iid,
        {
            "name": "slow",
            "image": IMAGE,
            "role": "init",
            "command": ["sleep", "30"],
            "volumes": [{"name": "data", "mount_path": "/data"}],
        },
        web(resources={"replicas": 2}),
    )
    task = asyncio.create_task(provider.provision(req))
    for _ in range(100):  # until the init containers exist
        await asyncio.sleep(0.05)
        if await _objects(iid) >= 4:
            break
    assert await _objects(iid) >= 4
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _objects(iid) == 0


async def test_repeated_cancellation_still_cleans_up(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    req = request(
        iid,
        {"name": "slow", "image": IMAGE, "role": "init", "command": ["sleep", "30"]},
        web(resources={"replicas": 3}),
    )
    task = asyncio.create_task(provider.provision(req))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if await _objects(iid) >= 4:
            break
    for _ in range(3):  # impatient caller: cancels again while cleanup runs
        task.cancel()
        await asyncio.sleep(0.01)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _objects(iid) == 0


async def test_a_foreign_container_on_the_network_is_named_and_cleanup_resumes(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    """A container outside the instance attached to its network keeps the network: the
    deprovision says which network and how to free it (the engine answers 403 "has active
    endpoints"), and once it is disconnected the next deprovision removes the rest."""
    iid = make_id()
    await provider.provision(request(iid, web()))
    network = f"cp-{iid}"
    async with aiodocker.Docker() as client:
        foreign = await client.containers.run(
            {"Image": IMAGE, "Cmd": ["sleep", "60"], "HostConfig": {"NetworkMode": network}}
        )
        try:
            with pytest.raises(BackendError) as exc:
                await provider.deprovision(iid)
            text = str(exc.value)
            assert f"cannot remove network {network}" in text
            assert f"docker network disconnect {network}" in text
            assert str((await foreign.show())["Name"]).lstrip("/") in text
        finally:
            await foreign.delete(force=True)
    await provider.deprovision(iid)
    assert await _objects(iid) == 0
