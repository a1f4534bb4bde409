"""Resource usage from Container Insights performance events (pure).

A cluster with Container Insights writes, for every task about once a minute, a
``"Type": "Task"`` event (embedded metric format) to
``/aws/ecs/containerinsights/<cluster>/performance``. The newest event of each of the
instance's current tasks gives its ``CpuUtilized`` (CPU units, 1024 per vCPU: reported
as percent of one core), ``MemoryUtilized`` (MiB, rounded up) and network rates
(``NetworkRxBytes``/``NetworkTxBytes``, bytes per second: reported as MB per second).
The memory limit is the task definition's: per task, the smaller of the task memory
and the sum of its long-lived containers' hard limits (the task memory for a container
without one).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ctrlplane.provider.results import ResourceUsage

__all__ = ["memory_limit", "performance_group", "task_filter", "usage"]


def performance_group(cluster: str) -> str:
    return f"/aws/ecs/containerinsights/{cluster.rsplit('/', 1)[-1]}/performance"


def task_filter(service: str) -> str:
    """The filter pattern selecting the Task events of ``service``."""
    return '{ $.Type = "Task" && $.ServiceName = "' + service.replace('"', '\\"') + '" }'


def memory_limit(definition: Mapping[str, Any]) -> int:
    """The memory limit (MiB) of one task of ``definition`` (see the module docs)."""
    task = int(str(definition.get("memory") or "0") or 0)
    long_lived = [
        c for c in definition.get("containerDefinitions") or [] if c.get("essential", True)
    ]
    total = sum(int(c.get("memory") or task) for c in long_lived)
    return min(task, total) if task else total


def usage(
    events: Iterable[Mapping[str, Any]], task_ids: set[str], limit_mb: int
) -> ResourceUsage | None:
    """Usage summed over the newest event of each task of ``task_ids``; ``None`` when no
    task has an event yet."""
    newest: dict[str, dict[str, Any]] = {}
    for event in events:
        try:
            data = json.loads(str(event.get("message", "")))
        except ValueError:
            continue
        if not isinstance(data, dict) or data.get("TaskId") not in task_ids:
            continue
        known = newest.get(data["TaskId"])
        if known is None or int(data.get("Timestamp", 0)) >= int(known.get("Timestamp", 0)):
            newest[data["TaskId"]] = data
    if not newest:
        return None
    values = list(newest.values())

    def total(key: str) -> float:
        return sum(float(v.get(key) or 0) for v in values)

    return ResourceUsage(
        cpu_percent=round(total("CpuUtilized") / 1024 * 100, 3),
        memory_used_mb=math.ceil(total("MemoryUtilized")),
        memory_limit_mb=limit_mb,
        network_in_mb=total("NetworkRxBytes") / 1_000_000,
        network_out_mb=total("NetworkTxBytes") / 1_000_000,
    )
