"""A unit's shared network namespace, held by its holder container
(``cp-<instance>-<replica>.pod``): a service the engine restarts after a crash rejoins
the same namespace, and the holder goes with its unit through every deploy."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from ctrlplane.errors import ProvisionFailed
from ctrlplane.provider import DeployRequest, DeployStrategy
from ctrlplane.provider.docker import DockerProvider

from .conftest import fast_config
from .helpers import IMAGE, TRAP, http_get, loop_cmd, request, sh, web

FETCH = "timeout 2 wget -q -O - http://127.0.0.1:8080/index.html"


def _holders(iid: str) -> dict[str, str]:
    """``{name: container ID}`` of the instance's namespace holders (any state)."""
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=io.ctrlplane.instance={iid}",
            "--filter",
            "label=io.ctrlplane.pod",
            "--format",
            "{{.Names}} {{.ID}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    return dict(line.split() for line in out if line.strip())


def _inspect(name: str, fmt: str) -> str:
    return subprocess.run(
        ["docker", "inspect", "-f", fmt, name], capture_output=True, text=True, check=True
    ).stdout.strip()


async def test_a_killed_main_restarted_by_the_engine_keeps_its_sidecar_and_endpoint(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    result = await provider.provision(
        request(
            iid,
            web(),
            {"name": "agent", "image": IMAGE, "role": "sidecar", "command": loop_cmd()},
        )
    )
    main = f"cp-{iid}-0-web"
    try:
        url = next(e.url for e in result.endpoints if e.public).replace("tcp://", "http://")
        assert _holders(iid).keys() == {f"cp-{iid}-0.pod"}
        holder = _inspect(f"cp-{iid}-0.pod", "{{.Id}}")
        assert _inspect(main, "{{.HostConfig.NetworkMode}}") == f"container:{holder}"
        # the main process dies (SIGKILL from the host: `docker kill` would count as a
        # manual stop, which the restart policy leaves alone); the engine restarts it
        kill = await asyncio.create_subprocess_exec(
            "kill", "-KILL", _inspect(main, "{{.State.Pid}}")
        )
        assert await kill.wait() == 0
        for _ in range(100):
            status = await provider.status(iid)
            if status.services["web"].restarts >= 1 and status.services["web"].ready:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the engine did not restart the killed main")
        # the sidecar still shares the unit's localhost with the restarted main
        for _ in range(50):
            code, out, _ = await sh(provider, iid, FETCH, service="agent")
            if code == 0:
                break
            await asyncio.sleep(0.1)
        assert (code, out) == (0, "hello from ctrlplane-example\n")
        # the published endpoint answers, and nothing is reported cut off
        _, body = await asyncio.to_thread(http_get, f"{url}/index.html")
        assert body == "hello from ctrlplane-example\n"
        status = await provider.status(iid)
        assert status.ready, status.message
        assert status.services["agent"].ready
        assert (await provider.status(iid)).ready
    finally:
        await provider.deprovision(iid)
    assert _holders(iid) == {}


@pytest.mark.parametrize(
    ("strategy", "extra"),
    [
        (DeployStrategy.ROLLING, {}),
        (DeployStrategy.ROLLING, {"max_surge": 0}),
        (DeployStrategy.CANARY, {}),
        (DeployStrategy.BLUE_GREEN, {}),
    ],
    ids=["rolling-surge", "rolling-in-place", "canary", "blue-green"],
)
async def test_holders_are_replaced_with_their_units_and_removed_with_the_instance(
    make_id: Callable[[], str], strategy: DeployStrategy, extra: dict[str, Any]
) -> None:
    provider = DockerProvider(fast_config(**extra))
    iid = make_id()
    agent = {"name": "agent", "image": IMAGE, "role": "sidecar", "command": loop_cmd()}
    await provider.provision(request(iid, web(resources={"replicas": 2}), agent))
    try:
        live = (await provider.status(iid)).metadata["release_id"]
        first = _holders(iid)
        assert first.keys() == {f"cp-{iid}-0.pod", f"cp-{iid}-1.pod"}
        await provider.deploy(
            DeployRequest(
                instance_id=iid,
                services=[{"name": "web", "image": IMAGE, "env": {"V": "2"}}],
                strategy=strategy,
            )
        )
        second = _holders(iid)
        assert second.keys() == first.keys()  # one per unit, no -retiring one left
        assert not set(second.values()) & set(first.values())  # replaced with the unit
        for r in (0, 1):
            code, out, _ = await sh(provider, iid, FETCH, service="agent", replica=r)
            assert (code, out) == (0, "hello from ctrlplane-example\n")
        await provider.rollback(iid, live)
        third = _holders(iid)
        assert third.keys() == first.keys()
        assert not set(third.values()) & set(second.values())
        assert (await provider.status(iid)).ready
    finally:
        await provider.deprovision(iid)
    assert _holders(iid) == {}


async def test_no_holder_left_after_a_failed_provision(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    dies = {"name": "web", "image": IMAGE, "command": ["sh", "-c", TRAP + "exit 3"]}
    with pytest.raises(ProvisionFailed):
        await provider.provision(request(iid, dies))
    assert _holders(iid) == {}
