"""CloudWatch Container Insights for clusters that enable it: performance log events.

Every ``period`` seconds (real time), each running task of a service in a cluster whose
``containerInsights`` setting is ``enabled`` (or ``enhanced``) gets one ``"Type": "Task"``
event in the log group ``/aws/ecs/containerinsights/<cluster>/performance``, in the
embedded metric format the real service writes: ``CpuUtilized``/``CpuReserved`` in CPU
units (1024 per vCPU), ``MemoryUtilized``/``MemoryReserved`` in MiB, network counters in
bytes per second, plus the task's identity (``TaskId``, ``ServiceName``,
``TaskDefinitionFamily``, ``ClusterName``...). A container's usage is its image's
(``FakeImage.memory_mb``, ``cpu_percent`` of one core).
"""

from __future__ import annotations

import json

from ..account import Account, Clock
from ..logs import Logs
from .rules import size_mib, size_units
from .state import EcsState

__all__ = ["Insights", "performance_group"]


def performance_group(cluster: str) -> str:
    return f"/aws/ecs/containerinsights/{cluster}/performance"


class Insights:
    """Writes the performance events (see the module docs)."""

    def __init__(
        self, state: EcsState, logs: Logs, account: Account, clock: Clock, period: float
    ) -> None:
        self.state = state
        self.logs = logs
        self.account = account
        self.clock = clock
        self.period = period
        self._last = 0.0

    def due(self, now: float) -> bool:
        if now - self._last >= self.period:
            self._last = now
            return True
        return False

    def write(self) -> None:
        at = self.clock.now()
        for task in self.state.tasks.values():
            cluster = task.cluster
            if cluster.insights not in ("enabled", "enhanced") or task.last_status != "RUNNING":
                continue
            running = [
                r.process for r in task.containers if r.process is not None and r.process.running
            ]
            body = task.definition.body
            cpu_reserved = (
                size_units(body["cpu"])
                if body.get("cpu")
                else sum(c.get("cpu") or 0 for c in task.definition.containers)
            )
            memory_reserved = (
                size_mib(body["memory"])
                if body.get("memory")
                else sum(
                    c.get("memory") or c.get("memoryReservation") or 0
                    for c in task.definition.containers
                )
            )
            event = {
                "Version": "0",
                "Type": "Task",
                "TaskId": task.id,
                "TaskDefinitionFamily": task.definition.family,
                "TaskDefinitionRevision": str(task.definition.revision),
                "ServiceName": task.service,
                "ClusterName": cluster.name,
                "AccountID": self.account.account_id,
                "Region": self.account.region,
                "AvailabilityZone": f"{self.account.region}a",
                "KnownStatus": task.last_status,
                "LaunchType": task.launch_type,
                "Timestamp": int(at.timestamp() * 1000),
                "CpuUtilized": round(sum(c.image.cpu_percent for c in running) / 100 * 1024, 3),
                "CpuReserved": float(cpu_reserved),
                "MemoryUtilized": sum(c.image.memory_mb for c in running),
                "MemoryReserved": memory_reserved,
                "NetworkRxBytes": 0,
                "NetworkTxBytes": 0,
                "StorageReadBytes": 0,
                "StorageWriteBytes": 0,
            }
            group = performance_group(cluster.name)
            self.logs.ensure_group(group)
            self.logs.append(group, f"FargateTelemetry-{task.id[:16]}", at, json.dumps(event))
