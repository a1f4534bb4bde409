"""ctrlplane: one typed, async interface for container workloads on Docker, Kubernetes and Nomad.

Importing this package (or :mod:`ctrlplane.provider`) never imports a backend's client
library; backends live in ``ctrlplane.provider.docker``, ``.kubernetes`` and ``.nomad`` and
need their install extra.
"""

from ctrlplane._version import __version__

__all__ = ["__version__"]
