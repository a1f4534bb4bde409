"""Reading a Docker lease while its holder removes it.

The engine answers a copy out of a container that is being removed with HTTP 500
("RWLayer of container ... is unexpectedly nil", seen on Docker 20.10 when one operator
released its lease while another read it): the lease is being released, so the reader
looks again and finds it gone, instead of failing the operation that was waiting."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import cast

import pytest

from ctrlplane.errors import BackendError
from ctrlplane.provider.docker.client import DockerClient
from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.provider.docker.leases import DockerLeaseStore
from ctrlplane.provider.native import JSON

IID = "inst_01m98jt079e8rtbg253bk5jdfd"


class RemovingEngine:
    """A lease container that disappears after ``reads`` inspects; every copy out of it
    fails as the engine fails one of a container being removed."""

    def __init__(self, reads: int, status: int = 500) -> None:
        self.reads = reads
        self.status = status
        self.copies = 0

    async def inspect_container(self, ref: str) -> JSON | None:
        if self.reads == 0:
            return None
        self.reads -= 1
        return {"Id": "7e3d93434cca", "Config": {"Labels": {}}}

    async def get_archive(self, ref: str, path: str) -> object:
        self.copies += 1
        raise BackendError(
            f"Docker engine failed to copy files out of container {ref}: RWLayer of "
            f"container {ref} is unexpectedly nil",
            backend="docker",
            status=self.status,
        )


def _store(engine: RemovingEngine) -> DockerLeaseStore:
    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[DockerClient]:
        yield cast(DockerClient, engine)

    return DockerLeaseStore(DockerConfig(), connect)


async def test_a_lease_removed_while_it_is_read_is_found_gone() -> None:
    engine = RemovingEngine(reads=1)
    assert await _store(engine).read(IID) is None
    assert engine.copies == 1


async def test_a_lease_that_keeps_failing_or_another_error_is_not_taken_for_gone() -> None:
    with pytest.raises(BackendError):
        await _store(RemovingEngine(reads=100)).read(IID)  # the container stays: an error
    refused = RemovingEngine(reads=1, status=403)
    with pytest.raises(BackendError):
        await _store(refused).read(IID)
    assert refused.copies == 1
