"""The operation lease of an instance on the engine: a container created and never started.

:class:`DockerLeaseStore` is the backend's :class:`~ctrlplane.provider.leases.LeaseStore`
(the core's :class:`~ctrlplane.provider.leases.InstanceLocks` holds the algorithm):

- the record is the container ``<n>-<instance>-lease``, created from the empty local
  image :data:`~.render.naming.LEASE_IMAGE` (imported on demand from an empty archive;
  no registry), never started, on no network;
- **create** is the engine's own check: a container name exists once, so a second
  create answers 409 (``None``: another holder has it); the lease as created is in its
  label, so it is created and holds its lease in one call;
- **the token** is the container's ID;
- **renew** (same holder): the holder rewrites :data:`~.render.naming.LEASE_FILE` inside
  its container (``put_archive`` by ID): the container is never absent, so no other
  holder can create one meanwhile; a container taken over meanwhile has another ID and
  the write fails (``None``: the lease is lost);
- **take over** (another holder, after the lease expired): remove exactly that ID (only
  one taker removes it), then create anew (only one creator wins);
- **delete**: remove exactly that ID (one taken over meanwhile is left alone).

Reads take the file when it holds a lease, else the label. The container carries the
instance label but no spec label: reading the instance, ``status`` and ``purge`` leave it
out, listings skip it, and the operation that holds it removes it when it ends
(deprovision too), so nothing of it is left behind.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from ctrlplane.errors import BackendError
from ctrlplane.provider.docker.client import DockerClient
from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.provider.docker.observe.leases import lease_record
from ctrlplane.provider.docker.render.bodies import Renderer
from ctrlplane.provider.docker.render.materials import FileEntry, build_tar, read_tar_file
from ctrlplane.provider.docker.render.naming import LEASE_FILE, LEASE_IMAGE
from ctrlplane.provider.leases import Lease, LeaseRecord

__all__ = ["Connect", "DockerLeaseStore"]

Connect = Callable[[], AbstractAsyncContextManager[DockerClient]]
"""Opens an engine client for one store call (the provider's, with its timeouts)."""

_READ_ATTEMPTS = 5
"""A file read while its holder rewrites it can be cut short: read it again."""


def _empty_archive() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w"):
        pass
    return buf.getvalue()


class DockerLeaseStore:
    """Operation leases as lease containers on one engine (see the module docs)."""

    def __init__(self, config: DockerConfig, connect: Connect) -> None:
        self._render = Renderer(config)
        self._connect = connect

    def _name(self, instance_id: str) -> str:
        return self._render.names.lease(instance_id)

    async def read(self, instance_id: str) -> LeaseRecord | None:
        """The lease container's lease, or ``None`` when there is none."""
        async with self._connect() as client:
            return await self._read(client, instance_id)

    async def _read(self, client: DockerClient, instance_id: str) -> LeaseRecord | None:
        attempt = 0
        while True:
            attempt += 1
            info = await client.inspect_container(self._name(instance_id))
            if info is None:
                return None
            try:
                text = await self._file(client, str(info["Id"]))
            except BackendError as exc:
                # the holder removed its lease container while this read it: the engine
                # answers 500 ("RWLayer ... is unexpectedly nil") mid-removal; look again
                if exc.status != 500 or attempt >= _READ_ATTEMPTS:
                    raise
                await asyncio.sleep(0.05)
                continue
            record = lease_record(self._render.labels, info, text)
            whole = text is None or (record is not None and record.lease.to_json() == text)
            if whole or attempt >= _READ_ATTEMPTS:
                return record
            await asyncio.sleep(0.05)  # a rewrite in progress: read again

    async def _file(self, client: DockerClient, ref: str) -> str | None:
        tar = await client.get_archive(ref, LEASE_FILE)
        if tar is None:
            return None
        with tar:
            found = read_tar_file(tar)
        return found[0].decode("utf-8", "replace") if found else None

    async def create(self, instance_id: str, lease: Lease) -> LeaseRecord | None:
        """Create the lease container holding ``lease``; ``None`` when one exists."""
        async with self._connect() as client:
            return await self._create(client, instance_id, lease)

    async def _create(
        self, client: DockerClient, instance_id: str, lease: Lease
    ) -> LeaseRecord | None:
        body = self._render.lease_body(instance_id, lease)
        for attempt in range(2):
            try:
                ref = await client.create_container(self._name(instance_id), body)
            except BackendError as exc:
                if exc.status == 409:
                    return None
                if exc.status != 404 or attempt:
                    raise
                repository, _, tag = LEASE_IMAGE.partition(":")
                await client.import_image(repository, tag, _empty_archive())
                continue
            return LeaseRecord(lease, ref)
        raise AssertionError("unreachable")  # pragma: no cover

    async def replace(
        self, instance_id: str, current: LeaseRecord, lease: Lease
    ) -> LeaseRecord | None:
        """Renew in place (same holder: rewrite the file of that container) or take over
        (remove exactly that container, then create anew); ``None`` when the record
        changed or is gone."""
        async with self._connect() as client:
            if lease.holder == current.lease.holder:
                archive = build_tar([FileEntry(LEASE_FILE, lease.to_json().encode(), 0o644)])
                try:
                    await client.put_archive(current.token, "/", archive)
                except BackendError as exc:
                    if exc.status == 404:
                        return None
                    raise
                return LeaseRecord(lease, current.token)
            if not await client.remove_container(current.token):
                return None
            return await self._create(client, instance_id, lease)

    async def delete(self, instance_id: str, current: LeaseRecord) -> None:
        """Remove exactly the container of ``current`` (another one is left alone)."""
        async with self._connect() as client:
            await client.remove_container(current.token)
