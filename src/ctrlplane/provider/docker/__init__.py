"""The Docker backend: :class:`DockerProvider` on one Docker engine, via ``aiodocker``.

Install with ``pip install 'ctrlplane[docker]'``; importing this package without
``aiodocker`` raises :class:`~ctrlplane.errors.MissingExtra` naming that command.

Quick use::

    from ctrlplane.provider.docker import DockerConfig, DockerProvider

    provider = DockerProvider(DockerConfig(stop_timeout="5s"))
    result = await provider.provision(request)

Configuration is :class:`DockerConfig` (every field overridable as
``CTRLPLANE_DOCKER_<FIELD>``). The pure translation from specs to engine objects lives
in :mod:`~ctrlplane.provider.docker.translate` (unit-tested without an engine); the
engine I/O in :mod:`~ctrlplane.provider.docker.engine`.
"""

from __future__ import annotations

from ctrlplane.errors import MissingExtra

try:
    import aiodocker as _aiodocker  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingExtra("docker", "aiodocker") from None

from ctrlplane.provider.docker.config import DockerConfig, PullPolicy, RestartPolicy
from ctrlplane.provider.docker.provider import DockerProvider

__all__ = ["DockerConfig", "DockerProvider", "PullPolicy", "RestartPolicy"]
