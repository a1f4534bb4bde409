"""The Docker backend: :class:`DockerProvider` on one Docker engine, via ``aiodocker``.

Install with ``pip install 'ctrlplane[docker]'``; importing this package without
``aiodocker`` raises :class:`~ctrlplane.errors.MissingExtra` naming that command.

Quick use::

    from ctrlplane.provider.docker import DockerConfig, DockerProvider

    provider = DockerProvider(DockerConfig(stop_timeout="5s"))
    result = await provider.provision(request)

Configuration is :class:`DockerConfig` (every field described and overridable as
``CTRLPLANE_DOCKER_<FIELD>``). The backend follows the floor plan of
``docs/architecture.md``: :mod:`~ctrlplane.provider.docker.provider` is the facade;
:mod:`~ctrlplane.provider.docker.client` the only user of aiodocker;
:mod:`~ctrlplane.provider.docker.render` (spec -> engine bodies) and
:mod:`~ctrlplane.provider.docker.observe` (engine answers -> results) are pure and
unit-tested without an engine; :mod:`~ctrlplane.provider.docker.limits` says what Docker
cannot do for a request; the operation modules do the I/O.
"""

from __future__ import annotations

from importlib.util import find_spec

from ctrlplane.errors import MissingExtra

if find_spec("aiodocker") is None:  # pragma: no cover - depends on the environment
    raise MissingExtra("docker", "aiodocker")

from ctrlplane.provider.docker.config import DockerConfig, PullPolicy, RestartPolicy
from ctrlplane.provider.docker.provider import DockerProvider

__all__ = ["DockerConfig", "DockerProvider", "PullPolicy", "RestartPolicy"]
