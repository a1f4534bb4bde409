"""What every backend's facade builds the same way to open its operations.

A provider object holds one :class:`~ctrlplane.provider.operations.Operations` (its
operation frames): the instance locks over the backend's lease store, timed by the
lease settings of its configuration, and the secret resolver it was given.
:func:`operation_frames` builds it from any configuration that has those settings
(:class:`LeaseSettings`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.leases import InstanceLocks, LeaseStore
from ctrlplane.provider.operations import Operations
from ctrlplane.secrets import SecretResolver

__all__ = ["LeaseSettings", "operation_frames"]


class LeaseSettings(Protocol):
    """The lease settings of a backend's configuration."""

    @property
    def lease_ttl(self) -> timedelta:
        """How long a lease lives unless renewed."""
        ...

    @property
    def lock_wait(self) -> timedelta:
        """How long a call waits for another holder before ``InstanceBusy``."""
        ...


def operation_frames(
    store: LeaseStore,
    *,
    provider: str,
    config: LeaseSettings,
    secrets: SecretResolver | None,
    poll: float = 0.5,
) -> Operations:
    """The operation frames of a provider object of ``provider``: locks over ``store``
    with the lease ``config``'s ``lease_ttl`` and ``lock_wait`` (looking again every
    ``poll`` seconds while another holds the lease), and ``secrets``."""
    locks = InstanceLocks(
        store,
        provider=provider,
        ttl=seconds(config.lease_ttl),
        wait=seconds(config.lock_wait),
        poll=poll,
    )
    return Operations(locks, secrets)
