"""What every operation works with: the settings of the provider object, the operation's
frame and an open connection to the API server.

:class:`Settings` is what a :class:`~.provider.KubernetesProvider` holds (no connection:
provider objects stay stateless). :meth:`Settings.mutating` and :meth:`Settings.reading`
open an operation (:mod:`ctrlplane.provider.operations`: the instance's lease for a
mutating one, the redactor for every one) and a :class:`Context` on the provider's pooled
connections (:class:`~.client.Connections`), which
the operation modules' plain functions take as their first argument. A mutating operation
that took over the lease of an interrupted one repairs what it left first (the ``repair``
function the facade gives, see :mod:`.repair`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from ctrlplane.provider.events import StepTracker, Subscriber
from ctrlplane.provider.kubernetes.client import Cluster, Connections, ServerVersion
from ctrlplane.provider.kubernetes.config import KubernetesConfig, SidecarMode
from ctrlplane.provider.kubernetes.limits import env_refusals, features, sidecar_refusals
from ctrlplane.provider.kubernetes.render import Features
from ctrlplane.provider.operations import LearningResolver, Operation, Operations
from ctrlplane.provider.preflight import Preflight
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["Context", "Repair", "ServerFacts", "Settings"]


@dataclass
class ServerFacts:
    """What the provider object has learnt about the server (for ``info()`` only: every
    operation reads what it depends on again)."""

    git_version: str = ""
    """The server's ``gitVersion`` (``v1.33.0``) once any call has read it."""


Repair = Callable[["Context"], Awaitable[None]]
"""Finish or undo what an interrupted operation left (called when ``op.interrupted``)."""


@dataclass(frozen=True)
class Settings:
    """The configuration, the operation frames (lease and redactor), the preflight (whose
    refusals operations raise once they read a fact), the repair of interrupted
    operations and the facts learnt so far."""

    connections: Connections
    ops: Operations
    preflight: Preflight
    repair: Repair
    facts: ServerFacts = field(default_factory=ServerFacts)

    @property
    def config(self) -> KubernetesConfig:
        """The backend's configuration."""
        return self.connections.config

    @contextlib.asynccontextmanager
    async def connect(self, op: Operation) -> AsyncIterator[Context]:
        """A :class:`Context` of ``op`` on the provider's connections."""
        yield Context(self, self.connections.cluster(), op)

    @contextlib.asynccontextmanager
    async def mutating(
        self, instance_id: str, name: str, events: Subscriber | None = None
    ) -> AsyncIterator[Context]:
        """A mutating operation on ``instance_id``: its lease held throughout (or
        ``InstanceBusy``), an interrupted operation repaired first."""
        async with (
            self.ops.mutating(instance_id, name, events=events) as op,
            self.connect(op) as ctx,
        ):
            if op.interrupted is not None:
                await self.repair(ctx)
            yield ctx

    @contextlib.asynccontextmanager
    async def reading(self, instance_id: str, name: str) -> AsyncIterator[Context]:
        """A read-only operation (no lease; its errors scrubbed like the others')."""
        async with self.ops.reading(instance_id, name) as op, self.connect(op) as ctx:
            yield ctx


@dataclass
class Context:
    """One operation's :class:`Settings`, open :class:`~.client.Cluster` and frame."""

    settings: Settings
    cluster: Cluster
    op: Operation
    _version: ServerVersion | None = field(default=None, init=False, repr=False)

    @property
    def config(self) -> KubernetesConfig:
        """The backend's configuration."""
        return self.settings.config

    @property
    def secrets(self) -> LearningResolver:
        """The resolver of the spec's secret references: the operation's, which teaches
        its redactor every value it resolves."""
        return self.op.secrets

    @property
    def steps(self) -> StepTracker:
        """The operation's step events (pairs that never nest)."""
        return self.op.steps

    @property
    def events(self) -> Subscriber | None:
        """The operation's (redacted) progress subscriber."""
        return self.op.events

    @property
    def preflight(self) -> Preflight:
        """The provider's preflight (for refusals that depend on what was read)."""
        return self.settings.preflight

    def reconnect(self) -> contextlib.AbstractAsyncContextManager[Context]:
        """Another context of the same operation (for work that must run to its end after
        a failure or cancellation of this one's: a cancelled request leaves nothing behind
        in the pool, so it may use the same connections)."""
        return self.settings.connect(self.op)

    async def server_version(self) -> tuple[int, int]:
        """The server's ``(major, minor)``, read once per operation."""
        if self._version is None:
            self._version = await self.cluster.version()
            self.settings.facts.git_version = self._version.git_version
        return self._version.pair

    async def features(self, req: ProvisionRequest) -> Features:
        """What ``req``'s manifests may use on this server: native sidecars (see
        :class:`~.config.SidecarMode`), the claim retention policy. What this server would
        refuse of ``req`` is refused first, before anything is applied: ``native``
        sidecars on a server without them (``NotSupported``), env var names it does not
        take (``InvalidSpec``)."""
        mode = self.config.sidecars
        version = await self.server_version()
        if mode is not SidecarMode.CONTAINERS:
            self.preflight.refuse(sidecar_refusals(req, mode, version))
        self.preflight.refuse(
            env_refusals(req.services, version), subject=f"request for {req.instance_id}"
        )
        return features(mode, version)
