"""One mutating operation at a time per instance, across processes and machines.

Every mutating call (provision, deploy, rollback, scale, start, stop, restart,
deprovision) holds the instance's **operation lease** while it works. The lease is a
record in the backend, not in the process: two CLIs or two controllers on two machines
see the same one. A backend stores it through a :class:`LeaseStore` (a Kubernetes
``Lease``, an atomic engine object on Docker, a check-and-set record on Nomad, a dict in
the fake); :class:`InstanceLocks` holds the algorithm once:

- **acquire**: create the record; if another holder's lease is live, wait (polling, up to
  ``wait`` seconds, reporting the wait) and then raise
  :class:`~ctrlplane.errors.InstanceBusy` naming its operation and since when; if it
  expired (its holder died), take it over with a check-and-set, keeping it as
  :attr:`Held.previous` (an **interrupted operation** the new holder repairs first; if
  the new holder fails before it notes an intent of its own, the interrupted lease is put
  back, so the next caller repairs again).
- **renew**: every ``ttl / 3`` while the operation works; a holder that cannot renew
  before its lease expires has lost it: its operation is cancelled and raises
  :class:`LeaseLost` (never two holders working at once).
- **intent**: the lease carries what the operation is doing (``intent``: its phase, the
  release it rolls out), updated with :meth:`Held.note`, so the next holder after a crash
  knows what to finish or undo.
- **release**: delete the record when the operation ends, however it ends (bounded; a
  record that could not be deleted expires by itself).

Times in a lease are wall-clock UTC (holders on different machines compare them);
clocks are assumed to agree within a fraction of ``ttl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ctrlplane.errors import BackendError, CtrlplaneError, InstanceBusy
from ctrlplane.provider.deadlines import Deadline, cleanup, run_to_end
from ctrlplane.provider.liblog import library_logger

__all__ = [
    "Held",
    "InstanceLocks",
    "Lease",
    "LeaseLost",
    "LeaseRecord",
    "LeaseStore",
    "WaitReporter",
    "new_holder",
]

log = library_logger("ctrlplane.leases")


def new_holder() -> str:
    """A holder identity unique to one operation: ``host/pid/random``."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Lease:
    """Who holds an instance's operation lease, for what, since when, until when.

    ``ttl`` is the holder's lease duration in seconds: the lease expires ``ttl`` after
    ``renewed_at``. ``intent`` says what the operation is doing (``phase``,
    ``release_id``...: strings only, never a secret value).
    """

    holder: str
    operation: str
    acquired_at: datetime
    renewed_at: datetime
    ttl: float
    intent: Mapping[str, str] = field(default_factory=dict)

    @property
    def expires_at(self) -> datetime:
        return self.renewed_at + timedelta(seconds=self.ttl)

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the lease ran out (its holder stopped renewing it)."""
        return (now or _now()) >= self.expires_at

    def to_json(self) -> str:
        """The record's text (what a backend stores)."""
        return json.dumps(
            {
                "holder": self.holder,
                "operation": self.operation,
                "acquired_at": self.acquired_at.isoformat(),
                "renewed_at": self.renewed_at.isoformat(),
                "ttl": self.ttl,
                "intent": dict(self.intent),
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Lease | None:
        """The lease in ``text``; ``None`` when it is not a lease record."""
        try:
            data = json.loads(text)
            return cls(
                holder=str(data["holder"]),
                operation=str(data["operation"]),
                acquired_at=datetime.fromisoformat(data["acquired_at"]),
                renewed_at=datetime.fromisoformat(data["renewed_at"]),
                ttl=float(data["ttl"]),
                intent={str(k): str(v) for k, v in (data.get("intent") or {}).items()},
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


@dataclass(frozen=True)
class LeaseRecord:
    """A lease as stored, with the backend's version ``token`` for check-and-set."""

    lease: Lease
    token: str


class LeaseStore(Protocol):
    """A backend's atomic lease record, one per instance. Every method is one short,
    bounded backend call (or a few); errors are ours (``BackendError`` and subclasses)."""

    async def read(self, instance_id: str) -> LeaseRecord | None:
        """The stored lease, or ``None``."""
        ...

    async def create(self, instance_id: str, lease: Lease) -> LeaseRecord | None:
        """Store ``lease`` if there is no record; ``None`` when one exists (atomic)."""
        ...

    async def replace(
        self, instance_id: str, current: LeaseRecord, lease: Lease
    ) -> LeaseRecord | None:
        """Store ``lease`` in place of ``current`` only if the record is still ``current``
        (check-and-set on its token); ``None`` when it changed or is gone."""
        ...

    async def delete(self, instance_id: str, current: LeaseRecord) -> None:
        """Delete the record if it is still ``current``; a changed or missing record is
        left alone."""
        ...


class LeaseLost(BackendError):
    """The operation lost its lease (it could not renew it in time, or another holder took
    it over); the operation was stopped so that two never work on one instance."""


WaitReporter = Callable[[Lease | None], Awaitable[None]]
"""Told when a call starts waiting for another holder's lease (with that lease) and when
the wait ends (with ``None``)."""


class Held:
    """The lease of one running operation (see :meth:`InstanceLocks.hold`)."""

    def __init__(self, locks: InstanceLocks, instance_id: str, record: LeaseRecord) -> None:
        self._locks = locks
        self.instance_id = instance_id
        self.record = record
        self.previous: Lease | None = None
        """The expired lease this one took over: an operation that was interrupted (its
        holder died) and that this operation must repair first."""
        self.lost = False
        self.noted = False
        """Whether the operation recorded its intent (it got past repairing ``previous``)."""
        self._write = asyncio.Lock()

    @property
    def lease(self) -> Lease:
        return self.record.lease

    async def note(self, **intent: str) -> None:
        """Record more of what the operation is doing (merged into ``intent``), now; from
        then on the operation is its own (a failure no longer hands back an interrupted
        lease it took over). A note that changes nothing writes nothing: an operation that
        said everything when it took the lease pays no extra round trip."""
        self.noted = True
        merged = {**self.lease.intent, **intent}
        if merged != self.lease.intent:
            await self._renew(merged)

    async def _renew(self, intent: Mapping[str, str] | None = None) -> bool:
        async with self._write:
            lease = replace(
                self.lease,
                renewed_at=_now(),
                intent=dict(self.lease.intent if intent is None else intent),
            )
            # the write runs to its end even if the caller is cancelled, so the record's
            # new token is never lost (the release deletes by it)
            stored, interrupted = await run_to_end(
                self._locks.store.replace(self.instance_id, self.record, lease)
            )
            if stored is not None:
                self.record = stored
            if interrupted:
                raise asyncio.CancelledError
            return stored is not None


class InstanceLocks:
    """The lease algorithm over a backend's :class:`LeaseStore` (see the module docs).

    ``ttl`` is this process's lease duration, ``wait`` how long a call waits for another
    holder before :class:`InstanceBusy`, ``poll`` how often it looks again.
    """

    def __init__(
        self,
        store: LeaseStore,
        *,
        provider: str,
        ttl: float = 30.0,
        wait: float = 30.0,
        poll: float = 0.5,
    ) -> None:
        if ttl <= 0 or wait < 0 or poll <= 0:
            raise ValueError("lease ttl and poll must be > 0 and wait >= 0")
        self.store = store
        self.provider = provider
        self.ttl = ttl
        self.wait = wait
        self.poll = poll

    async def acquire(
        self,
        instance_id: str,
        operation: str,
        *,
        intent: Mapping[str, str] | None = None,
        on_wait: WaitReporter | None = None,
    ) -> Held:
        """Take the lease (waiting up to ``wait``); the caller must :meth:`release` it.
        Prefer :meth:`hold`, which also renews it."""
        deadline = Deadline(self.wait, f"wait for the lease of {instance_id}")
        waiting: Lease | None = None
        try:
            while True:
                now = _now()
                mine = Lease(new_holder(), operation, now, now, self.ttl, dict(intent or {}))
                current = await self.store.read(instance_id)
                if current is None:
                    stored = await self._write(instance_id, self.store.create(instance_id, mine))
                    if stored is not None:
                        return Held(self, instance_id, stored)
                    continue  # someone created it first: look again at once
                if current.lease.expired(now):
                    stored = await self._write(
                        instance_id, self.store.replace(instance_id, current, mine)
                    )
                    if stored is not None:
                        held = Held(self, instance_id, stored)
                        held.previous = current.lease
                        log.warning(
                            "took over the expired lease of %s (%s by %s since %s)",
                            instance_id,
                            current.lease.operation,
                            current.lease.holder,
                            current.lease.acquired_at.isoformat(timespec="seconds"),
                        )
                        return held
                    continue
                if deadline.expired():
                    raise InstanceBusy(
                        instance_id,
                        operation=current.lease.operation,
                        holder=current.lease.holder,
                        since=current.lease.acquired_at,
                        waited=self.wait,
                    )
                if waiting is None and on_wait is not None:
                    await on_wait(current.lease)
                waiting = current.lease
                until_expiry = (current.lease.expires_at - now).total_seconds()
                await asyncio.sleep(max(0.01, min(self.poll, deadline.remaining(), until_expiry)))
        finally:
            if waiting is not None and on_wait is not None:
                await on_wait(None)

    async def _write(
        self, instance_id: str, write: Awaitable[LeaseRecord | None]
    ) -> LeaseRecord | None:
        """Run a write that may take the lease to its end: if the caller is cancelled
        meanwhile and the write took it, the record is deleted again (nobody would hold
        it) before the cancellation goes on."""
        stored, interrupted = await run_to_end(write)
        if interrupted:
            if stored is not None:
                await cleanup(
                    self.store.delete(instance_id, stored),
                    self.ttl,
                    f"release the operation lease of {instance_id}",
                )
            raise asyncio.CancelledError
        return stored

    async def release(self, held: Held) -> None:
        """Delete the lease record (bounded; failures are logged: it then expires)."""
        left = await cleanup(
            self.store.delete(held.instance_id, held.record),
            self.ttl,
            f"release the operation lease of {held.instance_id}",
        )
        if left:
            log.warning("%s; it expires within %gs", left, held.lease.ttl)

    @contextlib.asynccontextmanager
    async def hold(
        self,
        instance_id: str,
        operation: str,
        *,
        intent: Mapping[str, str] | None = None,
        on_wait: WaitReporter | None = None,
    ) -> AsyncIterator[Held]:
        """Hold the instance's lease for the block: acquire (or :class:`InstanceBusy`),
        renew while the block runs, release at its end. If the lease is lost, the block is
        cancelled and :class:`LeaseLost` raised instead; if the block was cleaning up
        after a failure of its own and raised ``CancelledError from failure``, that
        failure is raised, with a note on the lost lease."""
        held = await self.acquire(instance_id, operation, intent=intent, on_wait=on_wait)
        task = asyncio.current_task()
        assert task is not None
        baseline = task.cancelling()
        renewer = asyncio.create_task(self._keep(held, task))
        failed = True
        try:
            yield held
            failed = False
        except asyncio.CancelledError as exc:
            if held.lost and task.uncancel() <= baseline:
                lost = (
                    f"{operation} of {instance_id!r} lost its operation lease (it could not "
                    "be renewed in time)"
                )
                failure = exc.__cause__  # the block was already failing: say why
                if isinstance(failure, CtrlplaneError):
                    exc.__cause__ = None
                    failure.add_note(f"{lost}, which stopped its cleanup")
                    raise failure from failure.__cause__
                stopped = f"{lost}; the operation was stopped"
                raise LeaseLost(stopped, backend=self.provider) from exc
            raise
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            if not held.lost:
                if failed and held.previous is not None and not held.noted:
                    await self._hand_back(held)
                else:
                    await self.release(held)

    async def _hand_back(self, held: Held) -> None:
        """The operation failed while repairing the interrupted one it took over (before
        it noted any intent of its own): put the interrupted lease back, expired, so the
        next caller repairs again instead of finding no trace of it."""
        assert held.previous is not None
        left = await cleanup(
            self.store.replace(held.instance_id, held.record, held.previous),
            self.ttl,
            f"hand back the interrupted operation lease of {held.instance_id}",
        )
        if left:
            log.warning("%s; it expires within %gs", left, held.lease.ttl)

    async def _keep(self, held: Held, owner: asyncio.Task[object]) -> None:
        """Renew ``held`` every ttl/3 until cancelled; cancel ``owner`` if it is lost."""
        period = self.ttl / 3
        while True:
            await asyncio.sleep(period)
            try:
                renewed = await asyncio.wait_for(held._renew(), timeout=period)
            except (CtrlplaneError, TimeoutError) as exc:
                log.warning("renewing the lease of %s failed: %s", held.instance_id, exc)
                renewed = None
            if renewed is False or held.lease.expired():
                held.lost = True
                owner.cancel()
                return
