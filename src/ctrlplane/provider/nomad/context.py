"""What every operation works with: :class:`NomadContext` (the configuration, the
preflight, the secret resolver, an open client, and the facts known about the agent).

The provider holds the configuration, its preflight and :class:`AgentFacts` (the only
thing it remembers between calls: the agent's version, read once) and opens one context
per operation with :func:`open_context`; the operation modules are plain async functions
of a context.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ctrlplane.provider.nomad.client import NomadClient
from ctrlplane.provider.nomad.config import NomadConfig
from ctrlplane.provider.preflight import Preflight
from ctrlplane.secrets import SecretResolver

__all__ = ["AgentFacts", "NomadContext", "agent_version", "open_context"]


@dataclass
class AgentFacts:
    """What the provider learned about its agent: ``version`` (``""`` until read)."""

    version: str = ""


@dataclass(frozen=True)
class NomadContext:
    """One operation's view: ``api`` is open for the operation's duration."""

    config: NomadConfig
    api: NomadClient
    preflight: Preflight
    secrets: SecretResolver | None = None
    facts: AgentFacts = field(default_factory=AgentFacts)


@asynccontextmanager
async def open_context(
    config: NomadConfig,
    preflight: Preflight,
    *,
    secrets: SecretResolver | None = None,
    facts: AgentFacts | None = None,
) -> AsyncIterator[NomadContext]:
    """A context with a client on the agent, closed when the block ends."""
    async with NomadClient(config) as api:
        yield NomadContext(config, api, preflight, secrets, facts or AgentFacts())


async def agent_version(ctx: NomadContext, *, refresh: bool = False) -> str:
    """The agent's version from ``/v1/agent/self``: read once (or again with
    ``refresh``) and kept in ``ctx.facts``; ``""`` if the agent does not say."""
    if refresh or not ctx.facts.version:
        agent = await ctx.api.get("/v1/agent/self")
        version = ((agent or {}).get("config") or {}).get("Version") or {}
        ctx.facts.version = str(version.get("Version", ""))
    return ctx.facts.version
