"""What every operation works with: :class:`FlyContext` (the configuration, the preflight
and an open client), opened per call with :func:`open_context`.

The provider holds only its configuration and preflight; operation modules are plain
async functions of a context (and of the call's :class:`~ctrlplane.provider.operations.Operation`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ctrlplane.provider.fly.client import FlyClient
from ctrlplane.provider.fly.config import FlyConfig
from ctrlplane.provider.fly.render.names import app_name
from ctrlplane.provider.preflight import Preflight

__all__ = ["FlyContext", "open_context"]


@dataclass(frozen=True)
class FlyContext:
    """One call's view: ``api`` is open for the call's duration."""

    config: FlyConfig
    api: FlyClient
    preflight: Preflight

    def app(self, instance_id: str) -> str:
        """The app of ``instance_id``."""
        return app_name(self.config, instance_id)


@asynccontextmanager
async def open_context(config: FlyConfig, preflight: Preflight) -> AsyncIterator[FlyContext]:
    """A context with a client on the API, closed when the block ends."""
    async with FlyClient(config) as api:
        yield FlyContext(config, api, preflight)
