"""The operation lease of an ECS instance: one item per instance in a DynamoDB table.

DynamoDB's conditional writes are atomic, which is what a lease needs (a tag on the ECS
service could be read and rewritten by two callers at once: a race, not a lock). The
table (``lease_table``, partition key ``instance_id`` of type string; see docs/ecs.md)
holds one item per instance with a running operation:
``{instance_id, lease: <the lease as JSON>, token: <random per write>}``.

- :meth:`DynamoLeaseStore.create`: ``PutItem`` if ``attribute_not_exists(instance_id)``;
- :meth:`~DynamoLeaseStore.replace`: ``PutItem`` (new token) if ``token`` still equals
  the one read (check-and-set);
- :meth:`~DynamoLeaseStore.delete`: ``DeleteItem`` if ``token`` still equals it;
- :meth:`~DynamoLeaseStore.read`: a strongly consistent ``GetItem``.

IAM: ``dynamodb:GetItem``, ``dynamodb:PutItem``, ``dynamodb:DeleteItem`` on the table.
Each call is one bounded AWS call of the operation's own :class:`~.client.AwsApi`.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from ctrlplane.errors import BackendError
from ctrlplane.provider.ecs.client import AwsApi
from ctrlplane.provider.ecs.config import BACKEND
from ctrlplane.provider.ecs.context import ACTIVE_API
from ctrlplane.provider.leases import Lease, LeaseRecord

__all__ = ["DynamoLeaseStore"]

T = TypeVar("T")
_KEY = "instance_id"


class DynamoLeaseStore:
    """A :class:`~ctrlplane.provider.leases.LeaseStore` in DynamoDB table ``table``;
    each call uses the clients of the operation running (:data:`~.context.ACTIVE_API`),
    else opens its own with ``connect``."""

    def __init__(
        self, table: str, connect: Callable[[], AbstractAsyncContextManager[AwsApi]]
    ) -> None:
        self.table = table
        self._connect = connect

    async def _with(self, work: Callable[[AwsApi], Awaitable[T]]) -> T:
        active = ACTIVE_API.get()
        if active is not None:
            return await work(active)
        async with self._connect() as api:
            return await work(api)

    def _key(self, instance_id: str) -> dict[str, Any]:
        return {_KEY: {"S": instance_id}}

    def _item(self, instance_id: str, lease: Lease) -> tuple[dict[str, Any], str]:
        token = secrets.token_hex(16)
        item = {**self._key(instance_id), "lease": {"S": lease.to_json()}, "token": {"S": token}}
        return item, token

    async def read(self, instance_id: str) -> LeaseRecord | None:
        item = await self._with(lambda api: api.get_item(self.table, self._key(instance_id)))
        if item is None:
            return None
        lease = Lease.from_json(str((item.get("lease") or {}).get("S", "")))
        token = str((item.get("token") or {}).get("S", ""))
        if lease is None or not token:
            raise BackendError(
                f"the lease item of {instance_id!r} in DynamoDB table {self.table!r} is not a "
                "ctrlplane lease; delete it if no operation runs",
                backend=BACKEND,
            )
        return LeaseRecord(lease, token)

    async def create(self, instance_id: str, lease: Lease) -> LeaseRecord | None:
        item, token = self._item(instance_id, lease)
        stored = await self._with(
            lambda api: api.put_item_if(
                self.table, item, "attribute_not_exists(#k)", {"#k": _KEY}, {}
            )
        )
        return LeaseRecord(lease, token) if stored else None

    async def replace(
        self, instance_id: str, current: LeaseRecord, lease: Lease
    ) -> LeaseRecord | None:
        item, token = self._item(instance_id, lease)
        stored = await self._with(
            lambda api: api.put_item_if(
                self.table, item, "#t = :t", {"#t": "token"}, {":t": {"S": current.token}}
            )
        )
        return LeaseRecord(lease, token) if stored else None

    async def delete(self, instance_id: str, current: LeaseRecord) -> None:
        await self._with(
            lambda api: api.delete_item_if(
                self.table,
                self._key(instance_id),
                "#t = :t",
                {"#t": "token"},
                {":t": {"S": current.token}},
            )
        )
