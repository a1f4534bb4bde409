"""The frame every provider operation runs in: the lease, the redactor, the progress.

A provider's facade runs the preflight (:mod:`ctrlplane.provider.preflight`), then opens
an :class:`Operation` and hands it to the backend's operation function:

- ``mutating`` operations hold the instance's operation lease
  (:mod:`ctrlplane.provider.leases`) for their whole run: one at a time per instance,
  across processes; a wait for another holder is reported as a ``wait-for-lease`` step;
  :attr:`Operation.interrupted` is the lease of an operation whose holder died, which
  this one repairs first.
- every operation has one :class:`~ctrlplane.provider.redaction.Redactor`: the secret
  resolver it gets (:attr:`Operation.secrets`) teaches it every value it resolves; the
  events it reports (:attr:`Operation.events`, :attr:`Operation.steps`), the errors that
  leave it and the library's log records meanwhile are scrubbed with it. Texts the
  backend returns (a status message) go through :meth:`Operation.redact`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ctrlplane.errors import SecretNotFound
from ctrlplane.provider.events import StepTracker, Subscriber
from ctrlplane.provider.leases import Held, InstanceLocks, Lease
from ctrlplane.provider.redaction import Redactor
from ctrlplane.provider.spec import SecretRef
from ctrlplane.secrets import SecretResolver

__all__ = [
    "LearningResolver",
    "Operation",
    "Operations",
    "interrupted_message",
    "lease_metadata",
]


class LearningResolver:
    """A :class:`~ctrlplane.secrets.SecretResolver` that teaches every value it resolves
    to a redactor (so whatever the backend later quotes is scrubbed of it)."""

    def __init__(self, inner: SecretResolver | None, redactor: Redactor) -> None:
        self.inner = inner
        self.redactor = redactor

    async def resolve(self, ref: SecretRef, *, tenant_id: str, instance_id: str) -> bytes:
        if self.inner is None:
            raise SecretNotFound(ref.key, looked_in="nothing: the provider has no secret resolver")
        value = await self.inner.resolve(ref, tenant_id=tenant_id, instance_id=instance_id)
        self.redactor.add([value])
        return value


@dataclass
class Operation:
    """One running operation on one instance (see the module docs)."""

    instance_id: str
    name: str
    redactor: Redactor
    secrets: LearningResolver
    events: Subscriber | None
    held: Held | None = None
    steps: StepTracker = field(init=False)

    def __post_init__(self) -> None:
        self.steps = StepTracker(self.instance_id, self.events)

    @property
    def interrupted(self) -> Lease | None:
        """The lease of an earlier operation whose holder died mid-way (to repair first)."""
        return self.held.previous if self.held is not None else None

    def learn(self, values: Iterable[bytes | str]) -> None:
        """Teach the redactor secret values the backend read back itself (values already
        stored for the instance), so what the operation returns is scrubbed of them."""
        self.redactor.add(values)

    def redact(self, text: str) -> str:
        """``text`` scrubbed of every secret value this operation knows."""
        return self.redactor.text(text)

    async def note(self, **intent: str) -> None:
        """Record in the lease what the operation is doing now (a no-op for reads)."""
        if self.held is not None:
            await self.held.note(**intent)


def lease_metadata(lease: Lease | None, now: datetime | None = None) -> dict[str, str]:
    """What ``status`` reports of an instance's operation lease, as metadata entries:
    ``operation`` (``deploy by host/pid/x since 2026-12-07T10:00:00+00:00``), its name
    alone in ``operation_name`` (``deploy``, for programs), and ``operation_state``:
    ``running``, or ``interrupted`` when its holder died (the lease expired): the next
    mutating call repairs it first. Empty when no operation runs."""
    if lease is None:
        return {}
    since = lease.acquired_at.isoformat(timespec="seconds")
    out = {
        "operation": f"{lease.operation} by {lease.holder} since {since}",
        "operation_name": lease.operation,
        "operation_state": "interrupted" if lease.expired(now) else "running",
    }
    phase = lease.intent.get("phase")
    if phase:
        out["operation_phase"] = phase
    if lease.intent.get("release_id"):
        out["operation_release"] = lease.intent["release_id"]
    return out


def interrupted_message(lease: Lease, next_step: str = "") -> str:
    """The status message of an instance whose last operation was interrupted;
    ``next_step`` says what the repair will do (``"it removes the new set"``)."""
    repair = f": {next_step}" if next_step else ""
    return (
        f"{lease.operation} interrupted (its holder {lease.holder} stopped renewing its lease "
        f"at {lease.renewed_at.isoformat(timespec='seconds')}); the next mutating call "
        f"repairs it first{repair}"
    )


class Operations:
    """The operation frames of one provider object: its locks and secret resolver."""

    def __init__(self, locks: InstanceLocks | None, secrets: SecretResolver | None) -> None:
        self.locks = locks
        self.secrets = secrets

    async def current_lease(self, instance_id: str) -> Lease | None:
        """The instance's operation lease as stored (running or interrupted), if any."""
        if self.locks is None:
            return None
        record = await self.locks.store.read(instance_id)
        return record.lease if record is not None else None

    @contextlib.asynccontextmanager
    async def mutating(
        self,
        instance_id: str,
        name: str,
        *,
        events: Subscriber | None = None,
        intent: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Operation]:
        """A mutating operation: holds the instance's lease (see the module docs)."""
        async with self._frame(instance_id, name, events) as op:
            if self.locks is None:
                yield op
                return

            async def waiting(lease: Lease | None) -> None:
                if lease is not None:
                    since = lease.acquired_at.isoformat(timespec="seconds")
                    await op.steps.enter(
                        "wait-for-lease", f"{lease.operation} by {lease.holder} since {since}"
                    )
                else:
                    await op.steps.finish()

            async with self.locks.hold(instance_id, name, intent=intent, on_wait=waiting) as held:
                op.held = held
                yield op

    @contextlib.asynccontextmanager
    async def reading(self, instance_id: str, name: str) -> AsyncIterator[Operation]:
        """A read-only operation: no lease; its errors are scrubbed like the others'."""
        async with self._frame(instance_id, name, None) as op:
            yield op

    @contextlib.asynccontextmanager
    async def _frame(
        self, instance_id: str, name: str, events: Subscriber | None
    ) -> AsyncIterator[Operation]:
        redactor = Redactor()
        op = Operation(
            instance_id=instance_id,
            name=name,
            redactor=redactor,
            secrets=LearningResolver(self.secrets, redactor),
            events=redactor.subscriber(events),
        )
        with redactor.active():
            try:
                yield op
            except BaseException as exc:
                redactor.error(exc)
                raise
