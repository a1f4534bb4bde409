"""What every operation works with: :class:`EcsContext` (the configuration, the
preflight, an open :class:`~.client.AwsApi`, and what the provider learned).

The provider holds the configuration, its preflight, its :class:`~.client.AwsSession`
and :class:`EcsFacts` (what it remembers between calls: immutable task definitions it
read, the cluster's account) and opens one context per operation with
:func:`open_context`; the operation modules are plain async functions of a context.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from ctrlplane.errors import BackendError
from ctrlplane.provider.ecs.client import AwsApi, AwsSession
from ctrlplane.provider.ecs.config import BACKEND, EcsConfig
from ctrlplane.provider.native import JSON
from ctrlplane.provider.preflight import Preflight
from ctrlplane.provider.results import Endpoint

__all__ = [
    "ACTIVE_API",
    "EcsContext",
    "EcsFacts",
    "cluster_facts",
    "open_context",
    "task_definition",
]

ACTIVE_API: ContextVar[AwsApi | None] = ContextVar("ctrlplane_ecs_active_api", default=None)
"""The AWS clients of the operation running in this context (the lease store uses them
instead of opening clients of its own for every call)."""


@dataclass
class EcsFacts:
    """What a provider object learned: task definitions by ARN (they never change), the
    cluster's ARN and Container Insights setting, the load balancer's endpoints (read
    once)."""

    definitions: dict[str, JSON] = field(default_factory=dict)
    cluster_arn: str = ""
    insights: str = ""
    load_balanced: list[Endpoint] | None = None
    """The endpoints of the configured target group's load balancer listeners."""


@dataclass(frozen=True)
class EcsContext:
    """One operation's view: ``api`` is open for the operation's duration."""

    config: EcsConfig
    api: AwsApi
    preflight: Preflight
    session: AwsSession
    facts: EcsFacts

    @property
    def region(self) -> str:
        return self.session.region()


@asynccontextmanager
async def open_context(
    config: EcsConfig,
    preflight: Preflight,
    session: AwsSession,
    facts: EcsFacts,
    *,
    active: bool = True,
) -> AsyncIterator[EcsContext]:
    """A context for one operation; with ``active`` its AWS calls are the ones the lease
    store uses while the block runs (:data:`ACTIVE_API`). A log stream, which outlives
    its operation, opens one that is not active."""
    async with AwsApi(config, session) as api:
        if not active:
            yield EcsContext(config, api, preflight, session, facts)
            return
        token = ACTIVE_API.set(api)
        try:
            yield EcsContext(config, api, preflight, session, facts)
        finally:
            ACTIVE_API.reset(token)


async def cluster_facts(ctx: EcsContext, *, refresh: bool = False) -> EcsFacts:
    """The cluster's ARN and insights setting (read once); ``BackendError`` when the
    configured cluster does not exist."""
    facts = ctx.facts
    if refresh or not facts.cluster_arn:
        cluster = await ctx.api.describe_cluster()
        if cluster is None:
            raise BackendError(
                f"ECS cluster {ctx.config.cluster!r} does not exist in {ctx.region} (set "
                "CTRLPLANE_ECS_CLUSTER)",
                backend=BACKEND,
            )
        facts.cluster_arn = str(cluster.get("clusterArn", ""))
        settings = {s.get("name"): s.get("value") for s in cluster.get("settings") or []}
        facts.insights = str(settings.get("containerInsights") or "disabled")
    return facts


async def task_definition(ctx: EcsContext, arn: str) -> JSON | None:
    """The task definition ``arn`` (cached: a revision never changes)."""
    found = ctx.facts.definitions.get(arn)
    if found is None:
        found = await ctx.api.describe_task_definition(arn)
        if found is not None:
            ctx.facts.definitions[arn] = found
    return found
