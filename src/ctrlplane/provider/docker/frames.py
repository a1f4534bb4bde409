"""The frames the facade opens around each call: an engine client, the operation (lease,
redactor, resolver) and the context handed to the operation modules.

:class:`DockerFrames` is built once per provider object. Clients are opened per call
(:meth:`~DockerFrames.client`: a provider object works from any event loop and holds no
connection); the API version is negotiated by the first call and reused. The lease store
(:class:`~.leases.DockerLeaseStore`) opens its clients the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from ctrlplane.provider.docker.client import DockerClient, open_client
from ctrlplane.provider.docker.config import BACKEND, DockerConfig
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.leases import DockerLeaseStore
from ctrlplane.provider.docker.repair import repair
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.frames import operation_frames
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.operations import Operation
from ctrlplane.secrets import SecretResolver

__all__ = ["DockerFrames"]


class DockerFrames:
    """Clients, operations and contexts of one provider object on one engine."""

    def __init__(self, config: DockerConfig, secrets: SecretResolver | None) -> None:
        self.config = config
        self.engine_version = ""
        """The engine's version, once a call read it."""
        self.api_version = config.api_version
        store = DockerLeaseStore(config, self.client)
        self._ops = operation_frames(store, provider=BACKEND, config=config, secrets=secrets)

    @asynccontextmanager
    async def client(self) -> AsyncIterator[DockerClient]:
        """A fresh engine client for one call (closed at the end)."""
        async with open_client(self.config, self.api_version) as client:
            if client.engine_version:
                self.api_version = client.api_version
                self.engine_version = client.engine_version
            yield client

    @asynccontextmanager
    async def context(self, op: Operation | None = None) -> AsyncIterator[DockerContext]:
        """A context on a fresh client; secrets resolved through ``op`` (none without a
        resolver or an operation)."""
        async with self.client() as client:
            resolver = op.secrets if op is not None and self._ops.secrets is not None else None
            yield DockerContext(client, self.config, resolver)

    @asynccontextmanager
    async def mutating(
        self,
        instance_id: str,
        name: str,
        events: Subscriber | None = None,
        intent: Mapping[str, str] | None = None,
    ) -> AsyncIterator[tuple[DockerContext, Operation]]:
        """A mutating operation: the instance's lease (taken with ``intent``) held for the
        block, and an operation interrupted before it repaired first (:mod:`.repair`)."""
        mutating = self._ops.mutating(instance_id, name, events=events, intent=intent)
        async with mutating as op, self.context(op) as ctx:
            await repair(ctx, op)
            yield ctx, op

    @asynccontextmanager
    async def reading(
        self, instance_id: str, name: str
    ) -> AsyncIterator[tuple[DockerContext, Operation]]:
        """A read-only operation (no lease; its errors scrubbed like the others')."""
        async with self._ops.reading(instance_id, name) as op, self.context(op) as ctx:
            yield ctx, op

    async def lease(self, instance_id: str) -> Lease | None:
        """The instance's operation lease as stored (running or interrupted), if any."""
        return await self._ops.current_lease(instance_id)
