"""A strict fake Kubernetes API server for the backend's tests (real HTTP on 127.0.0.1).

Use :func:`running_fake` (an async context manager) to get a started :class:`FakeCluster`:
its ``kubeconfig`` path points lightkube at the server, unmodified. See ``server.py`` for
the paths served, ``schemas.py`` for what is rejected, ``cluster.py``/``pods.py`` for the
simulated controllers and kubelet, and ``Hooks`` for the faults tests can inject.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.images import FakeImage

from .cluster import Cluster, Hooks
from .server import FakeApiServer

__all__ = ["Cluster", "FakeApiServer", "FakeCluster", "Hooks", "running_fake", "write_kubeconfig"]


def write_kubeconfig(path: Path, url: str, namespace: str = "default") -> Path:
    """A kubeconfig with one cluster, context and user (lightkube 1.0.1 needs the user)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "tester", "user": {"token": "fake-token"}}],
        "contexts": [
            {
                "name": "fake",
                "context": {"cluster": "fake", "user": "tester", "namespace": namespace},
            }
        ],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class FakeCluster:
    """A started fake: the server, its simulated cluster and a kubeconfig pointing at it."""

    server: FakeApiServer
    kubeconfig: Path

    @property
    def cluster(self) -> Cluster:
        return self.server.cluster

    @property
    def hooks(self) -> Hooks:
        return self.server.cluster.hooks


@contextlib.asynccontextmanager
async def running_fake(
    tmp: Path,
    images: Iterable[FakeImage] = (),
    *,
    version: tuple[int, int] = (1, 30),
    time_scale: float = 0.05,
) -> AsyncIterator[FakeCluster]:
    """Start a fake API server on 127.0.0.1 with ``images`` known to its "registry"."""
    backend = FakeBackend(images, any_image=False)
    server = FakeApiServer(Cluster(backend=backend, version=version, time_scale=time_scale))
    url = await server.start()
    try:
        yield FakeCluster(server, write_kubeconfig(tmp / "kubeconfig", url))
    finally:
        await server.stop()
