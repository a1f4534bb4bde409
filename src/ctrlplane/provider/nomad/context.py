"""What every operation works with: :class:`NomadContext` (the configuration, the
preflight, an open client, and the facts known about the agent).

The provider holds the configuration, its preflight and :class:`AgentFacts` (the only
thing it remembers between calls: the agent's version, whether its nodes run Consul,
their datacenters; read once) and opens one context per operation with
:func:`open_context`; the operation modules are plain async functions of a context (and
of the :class:`~ctrlplane.provider.operations.Operation` they run in, when they need
its events, secrets or lease).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ctrlplane.provider.nomad.client import NomadClient
from ctrlplane.provider.nomad.config import NomadConfig
from ctrlplane.provider.nomad.render.shape import JobShape, job_shape
from ctrlplane.provider.nomad.versions import VARIABLES, at_least
from ctrlplane.provider.preflight import Preflight
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "AgentFacts",
    "NomadContext",
    "agent_facts",
    "agent_version",
    "has_variables",
    "open_context",
    "shape_for",
]

_NODES_READ = 3
"""Client nodes whose attributes are read to learn whether Consul runs beside them."""


@dataclass
class AgentFacts:
    """What the provider learned about its agent: ``version`` (``""`` until read),
    whether its client nodes run Consul, and their datacenters (``None`` until read)."""

    version: str = ""
    consul: bool | None = None
    datacenters: tuple[str, ...] | None = None


@dataclass(frozen=True)
class NomadContext:
    """One operation's view: ``api`` is open for the operation's duration."""

    config: NomadConfig
    api: NomadClient
    preflight: Preflight
    facts: AgentFacts = field(default_factory=AgentFacts)


@asynccontextmanager
async def open_context(
    config: NomadConfig, preflight: Preflight, *, facts: AgentFacts | None = None
) -> AsyncIterator[NomadContext]:
    """A context with a client on the agent, closed when the block ends."""
    async with NomadClient(config) as api:
        yield NomadContext(config, api, preflight, facts or AgentFacts())


async def agent_version(ctx: NomadContext, *, refresh: bool = False) -> str:
    """The agent's version from ``/v1/agent/self``: read once (or again with
    ``refresh``) and kept in ``ctx.facts``; ``""`` if the agent does not say."""
    if refresh or not ctx.facts.version:
        agent = await ctx.api.get("/v1/agent/self")
        version = ((agent or {}).get("config") or {}).get("Version") or {}
        ctx.facts.version = str(version.get("Version", ""))
    return ctx.facts.version


async def agent_facts(ctx: NomadContext) -> AgentFacts:
    """The version, and (read once) whether the ready client nodes run Consul (a
    ``consul.version`` attribute, what Nomad's fingerprint sets) and their datacenters."""
    await agent_version(ctx)
    if ctx.facts.consul is None or ctx.facts.datacenters is None:
        nodes = [n for n in await ctx.api.get("/v1/nodes") or [] if n.get("Status") == "ready"]
        consul = False
        for stub in nodes[:_NODES_READ]:
            node = await ctx.api.get(f"/v1/node/{stub['ID']}", missing_ok=True) or {}
            consul = consul or bool((node.get("Attributes") or {}).get("consul.version"))
        ctx.facts.consul = consul
        ctx.facts.datacenters = tuple(sorted({str(n.get("Datacenter", "")) for n in nodes} - {""}))
    return ctx.facts


async def has_variables(ctx: NomadContext) -> bool:
    """Whether the agent has Nomad Variables (1.4+; an unknown version is taken as new)."""
    return at_least(await agent_version(ctx), VARIABLES)


async def shape_for(ctx: NomadContext, req: ProvisionRequest) -> JobShape:
    """How ``req``'s job is shaped for this agent (:func:`~.render.shape.job_shape`)."""
    facts = await agent_facts(ctx)
    return job_shape(
        req, ctx.config, version=facts.version, consul=facts.consul, datacenters=facts.datacenters
    )
