"""The frames the facade opens around each call: a :class:`~.context.FlyContext` on a
fresh client and the operation (lease, redactor, resolver).

:class:`FlyFrames` is built once per provider object. The operation lease lives on the
instance's control Machine (:mod:`.leases`), so a mutating frame first loads the
instance (``InstanceNotFound`` before any lease is taken) and a provision's frame first
makes sure the app and the control Machine exist (:func:`.provisioning.prepare`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.deadlines import finish, seconds
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.fly import instances, provisioning
from ctrlplane.provider.fly.config import BACKEND, FlyConfig
from ctrlplane.provider.fly.context import FlyContext, open_context
from ctrlplane.provider.fly.leases import FlyLeaseStore
from ctrlplane.provider.fly.limits import preflight
from ctrlplane.provider.frames import operation_frames
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.secrets import SecretResolver

__all__ = ["FlyFrames"]


class FlyFrames:
    """The preflight and the operation frames of one provider object (``capabilities``
    narrows its preflight's table)."""

    def __init__(
        self,
        config: FlyConfig,
        secrets: SecretResolver | None,
        capabilities: Iterable[Capability] | None,
    ) -> None:
        self.config = config
        self.preflight = preflight(capabilities)
        self.ops = operation_frames(
            FlyLeaseStore(config),
            provider=BACKEND,
            config=config,
            secrets=secrets,
            poll=max(0.01, min(0.5, seconds(config.poll_interval))),
        )

    def context(self) -> AbstractAsyncContextManager[FlyContext]:
        """A context on a fresh client (closed when the block ends)."""
        return open_context(self.config, self.preflight)

    @asynccontextmanager
    async def mutating(
        self, instance_id: str, name: str, events: Subscriber | None = None
    ) -> AsyncIterator[tuple[FlyContext, Operation]]:
        """A mutating operation on an existing instance: loaded first
        (``InstanceNotFound``), then its lease held for the block."""
        async with self.context() as ctx:
            await instances.load(ctx, instance_id)
            async with self.ops.mutating(instance_id, name, events=events) as op:
                yield ctx, op

    @asynccontextmanager
    async def provisioning(
        self, req: ProvisionRequest, events: Subscriber | None
    ) -> AsyncIterator[tuple[FlyContext, Operation]]:
        """The mutating frame of a provision: the app and the control Machine (which
        carries the lease) made sure of first; what that created is abandoned again
        (:func:`.provisioning.abandon`, run to its end) when the provision fails or is
        cancelled."""
        async with self.context() as ctx:
            created = await provisioning.prepare(ctx, req, events)
            try:
                async with self.ops.mutating(req.instance_id, "provision", events=events) as op:
                    yield ctx, op
            except BaseException:
                if created:
                    await finish(provisioning.abandon(ctx, req.instance_id))
                raise
