"""The operation lease on Fly: the control Machine's Machine lease
(a :class:`~ctrlplane.provider.leases.LeaseStore`).

Fly Machines have leases (``/lease``): one holder at a time, proven by the lease's
``nonce`` (the ``fly-machine-lease-nonce`` header), with a ``ttl`` and a free
``description``. The instance's operation lease is the lease of its control Machine:

- the record: the ``description`` holds the core's :class:`~ctrlplane.provider.leases.Lease`
  as JSON; the check-and-set token is ``<nonce>:<digest of the description>``, so it
  changes on every write;
- ``create``: take the Machine lease (409 when another holder has it: ``None``);
- ``replace``: the record must still be the one read (token); by its holder (a renewal,
  a note) it is refreshed in place with the nonce; by another (taking over an expired
  lease) it is released with the old nonce and taken anew (a fresh nonce: the dead
  holder can no longer write);
- ``delete``: release it with the nonce if the record is still the one read, or was
  rewritten by the same holder under the same nonce (a renewal cut off by the end of the
  operation: the holder never learnt its token);
- the Machine lease lives ``lease_retention`` longer than the operation lease, so after a
  holder died its expired record is still there for the next operation to see and repair
  (the core reports it as interrupted);
- a lease on the control Machine that is not ours (someone ran ``flyctl`` on it) reads as
  a live lease held by its owner until it expires: operations wait for it.

``create`` on an instance without a control Machine raises
:class:`~ctrlplane.errors.InstanceNotFound` (provision creates the control Machine before
it takes the lease). Every call opens its own short client: the store is used from the
core's lease loop, outside any one operation's context.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ctrlplane.errors import InstanceNotFound
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.fly.client import FlyClient
from ctrlplane.provider.fly.config import BACKEND, FlyConfig
from ctrlplane.provider.fly.instances import control_of
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.fly.render.names import app_name
from ctrlplane.provider.leases import Lease, LeaseRecord

__all__ = ["FlyLeaseStore", "nonce_of"]


def nonce_of(record: LeaseRecord) -> str:
    """The Machine lease nonce of a record (what proves we hold the control Machine)."""
    return record.token.partition(":")[0]


def _token(lease: Mapping[str, Any]) -> str:
    description = str(lease.get("description", ""))
    digest = hashlib.sha256(description.encode()).hexdigest()[:12]
    return f"{lease.get('nonce', '')}:{digest}"


def _record(lease: Mapping[str, Any]) -> LeaseRecord:
    parsed = Lease.from_json(str(lease.get("description", "")))
    if parsed is None:  # a lease someone else took (flyctl): live until it expires
        now = datetime.now(UTC)
        expires = datetime.fromtimestamp(int(lease.get("expires_at") or 0), UTC)
        parsed = Lease(
            holder=str(lease.get("owner") or "another client"),
            operation="a Machine lease (not ctrlplane's)",
            acquired_at=now,
            renewed_at=now,
            ttl=max((expires - now) / timedelta(seconds=1), 0.0),
        )
    return LeaseRecord(parsed, _token(lease))


def _ours(found: Mapping[str, Any], current: LeaseRecord) -> bool:
    """Whether the stored lease is still ``current``'s: the same token, or the same nonce
    and holder (a takeover always takes a new nonce; a renewal cut off by the end of the
    operation may have rewritten the description without the holder learning the new
    token, and its record must still be released)."""
    if _token(found) == current.token:
        return True
    stored = Lease.from_json(str(found.get("description", "")))
    return (
        str(found.get("nonce", "")) == nonce_of(current)
        and stored is not None
        and stored.holder == current.lease.holder
    )


class FlyLeaseStore:
    """Operation leases on the control Machines of ``config``'s instances."""

    def __init__(self, config: FlyConfig) -> None:
        self.config = config

    def _ttl(self, lease: Lease) -> int:
        return math.ceil(lease.ttl + seconds(self.config.lease_retention))

    async def _control(self, api: FlyClient, instance_id: str) -> tuple[str, MachineView | None]:
        app = app_name(self.config, instance_id)
        machines = [MachineView.of(m) for m in await api.list_machines(app)]
        return app, control_of(machines, instance_id)

    async def read(self, instance_id: str) -> LeaseRecord | None:
        async with FlyClient(self.config) as api:
            app, control = await self._control(api, instance_id)
            if control is None:
                return None
            lease = await api.get_lease(app, control.id)
        return _record(lease) if lease is not None else None

    async def create(self, instance_id: str, lease: Lease) -> LeaseRecord | None:
        async with FlyClient(self.config) as api:
            app, control = await self._control(api, instance_id)
            if control is None:
                raise InstanceNotFound(instance_id, provider=BACKEND)
            taken = await api.create_lease(app, control.id, self._ttl(lease), lease.to_json())
        return LeaseRecord(lease, _token(taken)) if taken is not None else None

    async def replace(
        self, instance_id: str, current: LeaseRecord, lease: Lease
    ) -> LeaseRecord | None:
        async with FlyClient(self.config) as api:
            app, control = await self._control(api, instance_id)
            if control is None:
                return None
            found = await api.get_lease(app, control.id)
            if found is None or _token(found) != current.token:
                return None
            nonce = nonce_of(current)
            if lease.holder == current.lease.holder:
                taken = await api.create_lease(
                    app, control.id, self._ttl(lease), lease.to_json(), nonce=nonce
                )
            else:
                await api.release_lease(app, control.id, nonce)
                taken = await api.create_lease(app, control.id, self._ttl(lease), lease.to_json())
        return LeaseRecord(lease, _token(taken)) if taken is not None else None

    async def delete(self, instance_id: str, current: LeaseRecord) -> None:
        async with FlyClient(self.config) as api:
            app, control = await self._control(api, instance_id)
            if control is None:
                return
            found = await api.get_lease(app, control.id)
            if found is not None and _ours(found, current):
                await api.release_lease(app, control.id, nonce_of(current))
