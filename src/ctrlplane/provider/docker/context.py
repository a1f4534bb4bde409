"""What every operation gets: one :class:`DockerContext` per provider call.

It holds an open :class:`~ctrlplane.provider.docker.client.DockerClient`, the provider's
configuration (and the :class:`~ctrlplane.provider.docker.render.Renderer` under it) and
the secret resolver, and nothing else. Operation modules are plain async functions taking it
explicitly; nothing outlives the call, so provider objects stay stateless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    config: DockerConfig
    secrets: SecretResolver | None
    render: Renderer = field(init=False)
    """The engine bodies under ``config``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "render", Renderer(self.config))

    @property
    def labels(self) -> Labels:
        """The label keys the provider writes and reads."""
        return self.render.labels

    @property
    def names(self) -> Names:
        """The names of the instance's engine objects."""
        return self.render.names
