"""Nomad versions as numbers, and the first version of each feature the backend uses
(pure). ``docs/nomad.md`` ("Nomad versions") is the table of what works from where."""

from __future__ import annotations

import re

__all__ = [
    "ALLOC_LIST_FILTER",
    "DATACENTER_GLOB",
    "NATIVE_CHECKS",
    "NATIVE_SERVICES",
    "OLDEST",
    "PER_ALLOC_CSI",
    "PER_ALLOC_HOST",
    "VARIABLES",
    "Version",
    "at_least",
    "parse_version",
]

Version = tuple[int, int, int]

OLDEST: Version = (1, 1, 0)
"""The oldest agent the backend supports (and is tested against)."""
NATIVE_SERVICES: Version = (1, 3, 0)
"""Nomad's own service discovery (``provider = "nomad"``)."""
ALLOC_LIST_FILTER: Version = (1, 3, 0)
"""``filter`` on the allocation list (``/v1/allocations``; with ``resources=true``)."""
VARIABLES: Version = (1, 4, 0)
"""Nomad Variables (secrets, operation leases), native service checks, the checks
endpoint, ``meta``/``filter`` on the job list."""
NATIVE_CHECKS: Version = VARIABLES
DATACENTER_GLOB: Version = (1, 5, 0)
"""``*`` in a job's datacenters."""
PER_ALLOC_HOST: Version = (1, 5, 0)
"""Per-allocation host volumes (hashicorp/nomad#15780)."""
PER_ALLOC_CSI: Version = (1, 1, 0)
"""Per-allocation CSI volumes."""


def parse_version(text: str) -> Version | None:
    """``"1.7.7"`` (or ``"1.7.7+ent"``, ``"v1.4.0-beta.1"``) as a tuple; ``None`` if unknown."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def at_least(version: str, feature: Version) -> bool:
    """Whether an agent of ``version`` has ``feature`` (an unknown version is taken as
    new: the agent did not say, so nothing is refused for it)."""
    parsed = parse_version(version)
    return parsed is None or parsed >= feature
