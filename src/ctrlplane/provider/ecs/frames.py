"""The frames the facade opens around each call: the AWS session, the preflight, the
operation frames (lease, redactor, resolver) and an :class:`~.context.EcsContext`.

:class:`EcsFrames` is built once per provider object: it holds the AWS session (its
clients are reused by every call on one event loop), the facts learned of the cluster
and the operation frames over the DynamoDB lease store (:mod:`.leases`).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager

from ctrlplane.errors import BackendError
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.ecs.client import AwsApi, AwsSession
from ctrlplane.provider.ecs.config import BACKEND, EcsConfig
from ctrlplane.provider.ecs.context import EcsContext, EcsFacts, open_context
from ctrlplane.provider.ecs.leases import DynamoLeaseStore
from ctrlplane.provider.ecs.limits import preflight
from ctrlplane.provider.frames import operation_frames
from ctrlplane.provider.reporting import with_lease
from ctrlplane.provider.results import InstanceStatus
from ctrlplane.secrets import SecretResolver

__all__ = ["EcsFrames"]


class EcsFrames:
    """The AWS session, preflights, cluster facts and operation frames of one provider
    object (``capabilities`` narrows its preflights' table)."""

    def __init__(
        self,
        config: EcsConfig,
        secrets: SecretResolver | None,
        capabilities: Iterable[Capability] | None,
    ) -> None:
        self.config = config
        self.preflight = preflight(config, capabilities)
        self.render_checks = preflight(config, capabilities, settings=False)
        """The preflight of ``render()``: it works before the setup is done."""
        self.session = AwsSession(config)
        self.facts = EcsFacts()
        self.ops = operation_frames(
            DynamoLeaseStore(config.lease_table, self.api),
            provider=BACKEND,
            config=config,
            secrets=secrets,
            poll=max(min(seconds(config.poll_interval), 1.0), 0.01),
        )

    def api(self) -> AbstractAsyncContextManager[AwsApi]:
        """The AWS clients of the session, for one call."""
        return AwsApi(self.config, self.session)

    def context(self) -> AbstractAsyncContextManager[EcsContext]:
        """A context for one operation (its AWS calls the lease store's meanwhile)."""
        return open_context(self.config, self.preflight, self.session, self.facts)

    def stream_context(self) -> AbstractAsyncContextManager[EcsContext]:
        """A context for a log stream, which outlives its operation."""
        return open_context(self.config, self.preflight, self.session, self.facts, active=False)

    async def with_operation(self, instance_id: str, found: InstanceStatus) -> InstanceStatus:
        """``found`` reporting the instance's operation lease (see
        :func:`~ctrlplane.provider.reporting.with_lease`; an interrupted operation's
        message does not hide the status's own); ``operation: unknown: <why>`` when the
        lease table cannot be read (status works without it)."""
        try:
            lease = await self.ops.current_lease(instance_id)
        except BackendError as exc:
            return found.model_copy(
                update={"metadata": {**found.metadata, "operation": f"unknown: {exc}"}}
            )
        return with_lease(found, lease, message=found.message or None)
