"""What every operation gets: one :class:`DockerContext` per provider call.

It holds an open :class:`~ctrlplane.provider.docker.client.DockerClient`, the provider's
configuration (with its :class:`~ctrlplane.provider.docker.render.Renderer`) and the
secret resolver, and nothing else. Operation modules are plain async functions taking it
explicitly; nothing outlives the call, so provider objects stay stateless.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctrlplane.provider.docker.client import DockerClient
from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.provider.docker.render.bodies import Renderer
from ctrlplane.provider.docker.render.naming import Labels, Names
from ctrlplane.secrets import SecretResolver

__all__ = ["DockerContext"]


@dataclass(frozen=True, slots=True)
class DockerContext:
    """An open engine client, the configuration and the secret resolver of one call."""

    client: DockerClient
    render: Renderer
    secrets: SecretResolver | None

    @property
    def config(self) -> DockerConfig:
        """The provider configuration."""
        return self.render.config

    @property
    def labels(self) -> Labels:
        """The label keys the provider writes and reads."""
        return self.render.labels

    @property
    def names(self) -> Names:
        """The names of the instance's engine objects."""
        return self.render.names
