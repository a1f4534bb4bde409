"""What every operation works with: the settings of the provider object and an open
connection to the API server.

:class:`Settings` is what a :class:`~.provider.KubernetesProvider` holds (no connection:
provider objects stay stateless); :meth:`Settings.connect` opens a :class:`Context` for one
operation, which the operation modules' plain functions take as their first argument.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ctrlplane.provider.kubernetes.client import Cluster, ServerVersion, connect
from ctrlplane.provider.kubernetes.config import KubernetesConfig, SidecarMode
from ctrlplane.provider.kubernetes.limits import features, sidecar_refusals
from ctrlplane.provider.kubernetes.render import Features
from ctrlplane.provider.preflight import Preflight
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.secrets import SecretResolver

__all__ = ["Context", "ServerFacts", "Settings"]


@dataclass
class ServerFacts:
    """What the provider object has learnt about the server (for ``info()`` only: every
    operation reads what it depends on again)."""

    git_version: str = ""
    """The server's ``gitVersion`` (``v1.33.0``) once any call has read ``/version``."""


@dataclass(frozen=True)
class Settings:
    """The configuration, the secret resolver, the preflight (whose refusals operations
    raise once they read a fact) and the facts learnt so far."""

    config: KubernetesConfig
    secrets: SecretResolver | None
    preflight: Preflight
    facts: ServerFacts = field(default_factory=ServerFacts)

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Context]:
        """A :class:`Context` with a new connection, closed at the end of the block."""
        async with connect(self.config) as cluster:
            yield Context(self, cluster)


@dataclass
class Context:
    """One operation's :class:`Settings` and open :class:`~.client.Cluster`."""

    settings: Settings
    cluster: Cluster
    _version: ServerVersion | None = field(default=None, init=False, repr=False)

    @property
    def config(self) -> KubernetesConfig:
        """The backend's configuration."""
        return self.settings.config

    @property
    def secrets(self) -> SecretResolver | None:
        """The resolver of the spec's secret references (``None``: none configured)."""
        return self.settings.secrets

    @property
    def preflight(self) -> Preflight:
        """The provider's preflight (for refusals that depend on what was read)."""
        return self.settings.preflight

    def reconnect(self) -> contextlib.AbstractAsyncContextManager[Context]:
        """Another context on a new connection (for work that must run to its end after
        a failure or cancellation of this one's)."""
        return self.settings.connect()

    async def server_version(self) -> tuple[int, int]:
        """The server's ``(major, minor)``, read once per operation."""
        if self._version is None:
            self._version = await self.cluster.version()
            self.settings.facts.git_version = self._version.git_version
        return self._version.pair

    async def features(self, req: ProvisionRequest) -> Features:
        """What ``req``'s manifests may use on this server: native sidecars (see
        :class:`~.config.SidecarMode`; ``native`` on a server without them is refused with
        ``NotSupported`` before anything is applied), the claim retention policy."""
        mode = self.config.sidecars
        version = await self.server_version()
        if mode is not SidecarMode.CONTAINERS:
            self.preflight.refuse(sidecar_refusals(req, mode, version))
        return features(mode, version)
