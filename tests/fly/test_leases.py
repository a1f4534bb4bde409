"""``FlyLeaseStore``: the core's lease record semantics (read, atomic create,
check-and-set replace, conditional delete) on the control Machine's Machine lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ctrlplane.errors import InstanceNotFound
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.fly.leases import FlyLeaseStore, nonce_of
from ctrlplane.provider.leases import Lease

from .harness import FlyHarness
from .workloads import control_machine, request

pytestmark = pytest.mark.asyncio


def _lease(holder: str, *, age: float = 0.0, ttl: float = 30.0) -> Lease:
    at = datetime.now(UTC) - timedelta(seconds=age)
    return Lease(holder, "deploy", at, at, ttl, {"phase": "roll out"})


async def test_the_record_semantics(harness: FlyHarness) -> None:
    h = harness
    req = request(h, h.idle_service("app"))
    await h.make_provider().provision(req)
    store = FlyLeaseStore(h.config())
    iid = req.instance_id
    assert await store.read(iid) is None
    mine = await store.create(iid, _lease("a"))
    assert mine is not None
    assert await store.create(iid, _lease("b")) is None
    read = await store.read(iid)
    assert read is not None
    assert (read.lease.holder, read.token) == ("a", mine.token)
    renewed = await store.replace(iid, mine, _lease("a"))
    assert renewed is not None
    assert renewed.token != mine.token
    assert nonce_of(renewed) == nonce_of(mine)
    assert await store.replace(iid, mine, _lease("a")) is None  # stale token
    taken = await store.replace(iid, renewed, _lease("b"))
    assert taken is not None
    assert nonce_of(taken) != nonce_of(renewed)  # a takeover: the old nonce is dead
    assert await store.replace(iid, renewed, _lease("a")) is None
    await store.delete(iid, renewed)  # not a's any more: left alone
    still = await store.read(iid)
    assert still is not None
    assert still.lease.holder == "b"
    await store.delete(iid, taken)
    assert await store.read(iid) is None
    assert control_machine(h, req).lease is None


async def test_an_expired_lease_stays_readable_for_the_next_operation(harness: FlyHarness) -> None:
    h = harness
    req = request(h, h.idle_service("app"))
    await h.make_provider().provision(req)
    store = FlyLeaseStore(h.config())
    dead = await store.create(req.instance_id, _lease("dead-host", age=60, ttl=2))
    assert dead is not None
    found = await store.read(req.instance_id)
    assert found is not None
    assert found.lease.expired()
    fly_lease = control_machine(h, req).lease
    assert fly_lease is not None
    assert fly_lease.live()  # Fly keeps it for lease_retention


async def test_an_instance_without_a_control_machine_has_no_lease(harness: FlyHarness) -> None:
    store = FlyLeaseStore(harness.config())
    iid = new_id(INSTANCE_PREFIX)
    assert await store.read(iid) is None
    with pytest.raises(InstanceNotFound):
        await store.create(iid, _lease("a"))
