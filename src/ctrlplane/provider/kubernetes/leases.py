"""The operation lease of an instance on the cluster: a ``coordination.k8s.io/v1`` Lease
(see :mod:`.render.lease`), the :class:`~ctrlplane.provider.leases.LeaseStore` of the
shared lease algorithm (:class:`~ctrlplane.provider.leases.InstanceLocks`).

- ``create`` is a ``POST``: 409 ``AlreadyExists`` when another holder made it first;
- ``replace`` is a ``PUT`` naming the ``resourceVersion`` read: 409 ``Conflict`` when it
  changed since (check-and-set);
- ``delete`` has a ``resourceVersion`` precondition: a changed Lease is left alone.

Each call is one request (bounded by the config's ``request_timeout``) on the provider's
pooled connections (:class:`~.client.Connections`), beside the operation's own requests.

A write is never left half-known: a ``create`` or ``replace`` whose caller is cancelled
runs to its answer first (a Lease the server made for a cancelled ``create`` is deleted
again, so a cancelled acquire leaves no Lease behind), and the store remembers which
version replaced which, so a ``delete`` naming a version a cancelled renewal replaced
deletes its successor (the Lease of an operation that ended is always removed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from ctrlplane.provider.deadlines import run_to_end
from ctrlplane.provider.kubernetes.client import Connections
from ctrlplane.provider.kubernetes.observe.lease import read_lease
from ctrlplane.provider.kubernetes.render.lease import lease_manifest, lease_name
from ctrlplane.provider.leases import Lease, LeaseRecord

__all__ = ["KubernetesLeases"]

_T = TypeVar("_T")


async def _answered(work: Awaitable[_T]) -> tuple[_T | None, bool]:
    """``(result, cancelled)`` of ``work`` run to its answer even if the caller is
    cancelled; a failure of a cancelled caller is its cancellation (so a cancelled
    renewal always ends)."""
    try:
        return await run_to_end(work)
    except Exception:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            return None, True
        raise


class KubernetesLeases:
    """Instances' operation leases as Lease objects in the configured namespace."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections
        self.config = connections.config
        self._successors: dict[str, str] = {}
        """Lease version -> the version this store replaced it with."""

    async def read(self, instance_id: str) -> LeaseRecord | None:
        found = await self.connections.cluster().find("Lease", lease_name(instance_id))
        return read_lease(found) if found is not None else None

    async def create(self, instance_id: str, lease: Lease) -> LeaseRecord | None:
        manifest = lease_manifest(instance_id, lease, self.config)
        what = f"take the operation lease of {instance_id}"
        made, cancelled = await _answered(self.connections.cluster().create(manifest, what))
        record = read_lease(made) if made is not None else None
        if cancelled:
            if record is not None:
                await run_to_end(self.delete(instance_id, record))
            raise asyncio.CancelledError
        return record

    async def replace(
        self, instance_id: str, current: LeaseRecord, lease: Lease
    ) -> LeaseRecord | None:
        manifest = lease_manifest(instance_id, lease, self.config, current.token)
        what = f"renew the operation lease of {instance_id}"
        made, cancelled = await _answered(self.connections.cluster().replace(manifest, what))
        record = read_lease(made) if made is not None else None
        if cancelled:
            if record is not None:  # its caller will not learn the new version
                self._successors[current.token] = record.token
            raise asyncio.CancelledError
        return record

    async def delete(self, instance_id: str, current: LeaseRecord) -> None:
        token = current.token
        while token in self._successors:
            token = self._successors.pop(token)
        cluster = self.connections.cluster()
        await cluster.delete_version("Lease", lease_name(instance_id), token)
