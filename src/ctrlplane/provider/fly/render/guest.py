"""Service resources -> a Machine's ``guest`` (pure).

Fly sizes Machines in whole CPUs (1, 2, 4, 8 or 16) and memory in multiples of 256 MB
(at least 256; a shared CPU holds at most 2048 MB, a performance CPU 2048 to 8192 MB).
``cpu_millis`` rounds up to the next size (250 -> 1 CPU, 1500 -> 2); ``memory_mb`` rounds
up to the next 256 MB (64 -> 256, 300 -> 512), the config's ``default_memory_mb`` when 0;
the CPUs grow when the memory needs more (3000 MB on shared CPUs -> 2 CPUs).
"""

from __future__ import annotations

import math
from typing import Any

from ctrlplane.provider.fly.config import FlyConfig
from ctrlplane.provider.spec import ResourceSpec

__all__ = ["MAX_CPUS", "MAX_MEMORY_MB", "guest", "memory_mb"]

_CPUS = (1, 2, 4, 8, 16)
MAX_CPUS = 16
MAX_MEMORY_MB = 16 * 8192


def memory_mb(wanted: int, default: int) -> int:
    """The Machine memory for a limit of ``wanted`` MB (0: ``default``)."""
    value = wanted or default
    return max(256, math.ceil(value / 256) * 256)


def _cpus(needed: float) -> int:
    for n in _CPUS:
        if n >= needed:
            return n
    return MAX_CPUS


def guest(resources: ResourceSpec, config: FlyConfig) -> dict[str, Any]:
    """The ``guest`` of a Machine for ``resources`` (see the module docs)."""
    memory = memory_mb(resources.memory_mb, config.default_memory_mb)
    per_cpu = 2048 if config.cpu_kind == "shared" else 8192
    cpus = _cpus(max(resources.cpu_millis / 1000, memory / per_cpu, 1))
    if config.cpu_kind == "performance":
        memory = max(memory, cpus * 2048)
    return {"cpu_kind": config.cpu_kind, "cpus": cpus, "memory_mb": memory}
