"""What a :class:`~ctrlplane.testing.FakeBackend` stores: instances, replica units, containers.

These are the fake engine's objects (the equivalent of Docker's containers, networks and
labels). Provider objects keep none of them; they read and write them in the backend.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import datetime

from ctrlplane.provider.enums import InstanceState, ServiceRole, WorkloadKind
from ctrlplane.provider.releases import Release, new_release
from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import ServiceSpec, find_named
from ctrlplane.testing.images import FakeImage

__all__ = ["ContainerFiles", "FakeContainer", "InstanceRecord", "Unit"]

_ids = itertools.count(1)


@dataclass
class ContainerFiles:
    """A container's files: its own layer plus mounted volumes (shared dicts)."""

    own: dict[str, bytes] = field(default_factory=dict)
    mounts: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)

    def _where(self, path: str) -> tuple[dict[str, bytes], str]:
        for mount, store in self.mounts:
            if path == mount or path.startswith(mount + "/"):
                return store, path[len(mount) :]
        return self.own, path

    def read(self, path: str) -> bytes | None:
        store, key = self._where(path)
        return store.get(key)

    def write(self, path: str, data: bytes, *, append: bool = False) -> None:
        store, key = self._where(path)
        store[key] = (store.get(key, b"") + data) if append else data

    def remove(self, path: str) -> bool:
        store, key = self._where(path)
        return store.pop(key, None) is not None


@dataclass
class FakeContainer:
    """One service of one replica unit: a process with logs, files and an exit status."""

    service: str
    replica: int
    role: ServiceRole
    image: FakeImage
    env: dict[str, str] = field(repr=False)
    files: ContainerFiles = field(repr=False)
    ports: list[int]
    image_ref: str = ""
    """The image reference the service asked for (``image`` is its behaviour)."""
    container_id: str = field(default_factory=lambda: f"fake-{next(_ids):06d}")
    state: str = "created"  # created | running | exited
    exit_code: int | None = None
    restarts: int = 0
    started_at: datetime | None = None
    logs: list[LogRecord] = field(default_factory=list)
    ticks: int = 0
    process: asyncio.Task[int | None] | None = field(default=None, repr=False)
    """The running main process of a long-lived container (see ``runtime``)."""

    @property
    def running(self) -> bool:
        """Whether the process is running."""
        return self.state == "running"


@dataclass
class Unit:
    """One replica unit: every service of the workload, sharing localhost."""

    replica: int
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    release_id: str = ""
    """The release this unit runs."""


@dataclass
class InstanceRecord:
    """Everything the backend knows about one instance (its "labels" and objects)."""

    instance_id: str
    tenant_id: str
    name: str
    kind: WorkloadKind
    labels: dict[str, str]
    services: list[ServiceSpec]
    """The current spec of every service (image/env/health check of the live release)."""
    replicas: int
    state: InstanceState = InstanceState.PROVISIONING
    message: str = ""
    units: list[Unit] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    """Retained history, oldest first; the live one is marked ``live``."""
    volumes: dict[str, dict[str, bytes]] = field(default_factory=dict)
    secret_values: list[bytes] = field(default_factory=list, repr=False)
    """Resolved secret values (the engine holds them, as Docker holds container env)."""

    @property
    def provider_ref(self) -> str:
        """The workload-level handle."""
        return f"fake-{self.instance_id}"

    def spec(self, name: str) -> ServiceSpec:
        """The current spec of service ``name`` (``KeyError`` if none)."""
        return find_named(self.services, name)

    @property
    def main(self) -> ServiceSpec:
        """The main service's spec."""
        return next(s for s in self.services if s.role is ServiceRole.MAIN)

    @property
    def live_release(self) -> Release | None:
        """The release the instance runs now."""
        return next((r for r in self.releases if r.live), None)

    def add_release(
        self,
        release_id: str,
        strategy: str,
        created_at: datetime,
        depth: int,
        *,
        rollback_of: str = "",
    ) -> Release:
        """Record the current services as the live release; keep the newest ``depth``."""
        for old in self.releases:
            old.live = False
        release = new_release(
            release_id,
            self.services,
            strategy=strategy,
            rollback_of=rollback_of,
            created_at=created_at,
        )
        self.releases.append(release)
        del self.releases[:-depth]
        return release

    def containers(self, service: str | None = None) -> list[FakeContainer]:
        """Containers of every unit (of one service, if given), in replica order."""
        return [
            c
            for unit in self.units
            for name, c in unit.containers.items()
            if service is None or name == service
        ]
