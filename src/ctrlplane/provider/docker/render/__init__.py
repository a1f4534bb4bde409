"""Spec -> Docker engine objects (pure: no I/O, no clock).

- :mod:`.workload`: the Docker model of an instance (:class:`Workload`, start-up waves,
  the namespace owner, which containers a change replaces, the spec label);
- :mod:`.naming`: object names and label keys, the only state the backend keeps;
- :mod:`.bodies`: the create bodies of the network, volumes, containers and release
  records (:class:`Renderer`), and the whole instance as ``render()`` shows it;
- :mod:`.materials`: secrets, files and pull credentials in the form the engine takes.

Reading the engine's answers back is :mod:`ctrlplane.provider.docker.observe`.
"""

from __future__ import annotations

from ctrlplane.provider.docker.render.bodies import Renderer
from ctrlplane.provider.docker.render.naming import Labels, Names
from ctrlplane.provider.docker.render.workload import Workload, netns_owner

__all__ = ["Labels", "Names", "Renderer", "Workload", "netns_owner"]
