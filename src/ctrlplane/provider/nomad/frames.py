"""The frames the facade opens around each call: the operation (lease, redactor,
resolver) and a :class:`~.context.NomadContext` on a fresh client.

:class:`NomadFrames` is built once per provider object and holds what it learned of the
agent (:class:`~.context.AgentFacts`, read once) and the lease store (:mod:`.leases`).
A mutating frame holds the instance's operation lease, teaches its redactor the
instance's stored secret values and repairs an interrupted operation first
(:mod:`.repair`); a reading frame holds no lease. Both scrub errors, events and log
records of the secret values they know.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from ctrlplane.errors import BackendError, BackendUnavailable, ProvisionFailed
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.frames import operation_frames
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.nomad import jobs, provisioning, repair
from ctrlplane.provider.nomad.config import BACKEND, NomadConfig
from ctrlplane.provider.nomad.context import AgentFacts, NomadContext, open_context
from ctrlplane.provider.nomad.leases import NomadLeaseStore
from ctrlplane.provider.nomad.limits import preflight
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.secrets import SecretResolver

__all__ = ["NomadFrames"]


class NomadFrames:
    """The preflight, the agent's facts, the lease store and the operation frames of one
    provider object (``capabilities`` narrows its preflight's table)."""

    def __init__(
        self,
        config: NomadConfig,
        secrets: SecretResolver | None,
        capabilities: Iterable[Capability] | None,
    ) -> None:
        self.config = config
        self.preflight = preflight(config, capabilities)
        self.facts = AgentFacts()
        self.store = NomadLeaseStore(config, self.facts)
        self.ops = operation_frames(
            self.store,
            provider=BACKEND,
            config=config,
            secrets=secrets,
            poll=seconds(config.poll_interval),
        )

    def context(self) -> AbstractAsyncContextManager[NomadContext]:
        """A context on a fresh client (closed when the block ends)."""
        return open_context(self.config, self.preflight, facts=self.facts)

    @asynccontextmanager
    async def mutating(
        self, iid: str, name: str, events: Subscriber | None = None
    ) -> AsyncIterator[tuple[NomadContext, Operation]]:
        """A mutating operation on ``iid``: its lease held, an interrupted operation
        repaired first, its redactor taught the instance's secret values."""
        async with self.ops.mutating(iid, name, events=events) as op, self.context() as ctx:
            op.learn(await jobs.secret_values(ctx, iid))
            await repair.repair(ctx, op)
            yield ctx, op

    @asynccontextmanager
    async def provisioning(
        self, req: ProvisionRequest, events: Subscriber | None
    ) -> AsyncIterator[tuple[NomadContext, Operation]]:
        """The mutating frame of a provision, after what the agent cannot run of ``req``
        is refused (:func:`~.provisioning.refuse_unsupported`, before the lease). The
        agent's refusal of the lease or the repair is :class:`ProvisionFailed` (nothing
        of this call exists yet), but a lost agent stays :class:`BackendUnavailable`."""
        async with self.context() as ctx:
            await provisioning.refuse_unsupported(ctx, req)
        entered = False
        try:
            async with self.mutating(req.instance_id, "provision", events) as frame:
                entered = True
                yield frame
        except BackendError as exc:
            if entered or isinstance(exc, BackendUnavailable):
                raise
            raise ProvisionFailed(req.instance_id, "lease and repair", str(exc)) from exc

    @asynccontextmanager
    async def reading(self, iid: str, name: str) -> AsyncIterator[tuple[NomadContext, Operation]]:
        """A read-only operation on ``iid`` (its errors scrubbed by its redactor)."""
        async with self.ops.reading(iid, name) as op, self.context() as ctx:
            yield ctx, op

    async def lease(self, ctx: NomadContext, iid: str) -> Lease | None:
        """The instance's operation lease as stored (running or interrupted), if any."""
        record = await self.store.read_on(ctx.api, iid)
        return record.lease if record is not None else None
