"""What a cleanup says when the engine keeps a network it shows no container on.

Docker can keep counting an endpoint on a network after a container was removed while it
joined or left it (moby/moby#42119): the network's inspect lists no container, yet every
removal is refused with 403 "has active endpoints" until dockerd restarts. The real
engine cannot be brought into that state on purpose, so an engine stub answers as the
real one did (a killed-operation test left such a network on Docker 20.10)."""

from __future__ import annotations

import asyncio
import types
from typing import cast

import pytest

from ctrlplane.errors import BackendError
from ctrlplane.provider.docker import objects
from ctrlplane.provider.docker.client import DockerClient
from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.native import JSON

IID = "inst_01m98jt079e8rtbg253bk5jdfd"
NETWORK = f"cp-{IID}"


class GhostEndpointEngine:
    """An engine whose instance network has no container yet cannot be removed."""

    def __init__(self, attached: dict[str, JSON]) -> None:
        self.attached = attached
        self.removals = 0

    async def list_containers(self, filters: object) -> list[JSON]:
        return []

    async def list_volumes(self, filters: object) -> list[JSON]:
        return []

    async def list_networks(self, filters: object) -> list[JSON]:
        return [{"Id": "4bdb44d76ae6", "Name": NETWORK}]

    async def remove_network(self, ref: str) -> None:
        self.removals += 1
        raise BackendError(
            f"error while removing network: network {NETWORK} id {ref} has active endpoints",
            backend="docker",
            status=403,
        )

    async def inspect_network(self, ref: str) -> JSON:
        return {"Name": NETWORK, "Containers": self.attached}

    async def inspect_container(self, ref: str) -> JSON | None:
        labels = {"io.ctrlplane.instance": IID}
        return {"Id": ref, "Config": {"Labels": labels}}


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    async def sleep(seconds: float) -> None:
        return None

    fast = types.SimpleNamespace(sleep=sleep, gather=asyncio.gather)
    monkeypatch.setattr(objects, "asyncio", fast)


def context(engine: GhostEndpointEngine) -> DockerContext:
    return DockerContext(cast(DockerClient, engine), DockerConfig(), None)


async def test_a_network_no_container_holds_is_named_with_the_way_out() -> None:
    engine = GhostEndpointEngine(attached={})
    with pytest.raises(BackendError) as caught:
        await objects.purge(context(engine), IID, set())
    text = str(caught.value)
    assert f"network {NETWORK} (the engine counts an endpoint on it" in text
    assert "moby/moby#42119" in text
    assert "restarting dockerd" in text
    assert engine.removals > 1  # it was tried again before giving up


async def test_a_network_with_an_instance_container_attached_is_waited_for() -> None:
    engine = GhostEndpointEngine(attached={"c1": {"Name": f"cp-{IID}-0.pod"}})
    with pytest.raises(BackendError) as caught:
        await objects.purge(context(engine), IID, set())
    text = str(caught.value)
    assert f"network {NETWORK} (a container is still attached)" in text
    assert "dockerd" not in text
