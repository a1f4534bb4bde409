"""An in-memory :class:`~ctrlplane.provider.leases.LeaseStore`: the fake backend's operation
leases, with the same check-and-set semantics as a real backend's record (a token that
changes on every write), shared by every provider object on one backend.

``faults`` of the backend can make it unreachable (``unavailable``), which every call
honours like a real engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from ctrlplane.provider.leases import Lease, LeaseRecord, LeaseStore

__all__ = ["MemoryLeaseStore", "take_over"]


async def take_over(store: LeaseStore, instance_id: str, lease: Lease) -> LeaseRecord:
    """Replace the instance's lease with ``lease``, as another holder that found it
    expired would (for tests of a lost lease): the new record. Its holder may renew it
    meanwhile; the newest record is replaced. ``LookupError`` when there is no lease."""
    while True:
        current = await store.read(instance_id)
        if current is None:
            raise LookupError(f"instance {instance_id!r} holds no operation lease")
        taken = await store.replace(instance_id, current, lease)
        if taken is not None:
            return taken


class MemoryLeaseStore:
    """Lease records in a dict; ``guard`` is called first by every method (it raises when
    the backend is down)."""

    def __init__(self, guard: Callable[[], None] = lambda: None) -> None:
        self.records: dict[str, LeaseRecord] = {}
        self._guard = guard
        self._tokens = itertools.count(1)

    def _store(self, instance_id: str, lease: Lease) -> LeaseRecord:
        record = LeaseRecord(lease, str(next(self._tokens)))
        self.records[instance_id] = record
        return record

    async def read(self, instance_id: str) -> LeaseRecord | None:
        self._guard()
        return self.records.get(instance_id)

    async def create(self, instance_id: str, lease: Lease) -> LeaseRecord | None:
        self._guard()
        if instance_id in self.records:
            return None
        return self._store(instance_id, lease)

    async def replace(
        self, instance_id: str, current: LeaseRecord, lease: Lease
    ) -> LeaseRecord | None:
        self._guard()
        found = self.records.get(instance_id)
        if found is None or found.token != current.token:
            return None
        return self._store(instance_id, lease)

    async def delete(self, instance_id: str, current: LeaseRecord) -> None:
        self._guard()
        found = self.records.get(instance_id)
        if found is not None and found.token == current.token:
            del self.records[instance_id]
