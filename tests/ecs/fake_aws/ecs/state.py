"""Everything the ECS fake holds, in one place the API, the scheduler and the tests share."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Cluster, Service, Task, TaskDefinition

__all__ = ["EcsState"]


@dataclass
class EcsState:
    clusters: dict[str, Cluster] = field(default_factory=dict)
    definitions: dict[str, TaskDefinition] = field(default_factory=dict)
    """By ARN (``...:task-definition/<family>:<revision>``)."""
    revisions: dict[str, int] = field(default_factory=dict)
    """The last revision number given per family (never reused)."""
    services: dict[tuple[str, str], Service] = field(default_factory=dict)
    """By (cluster name, service name)."""
    tasks: dict[str, Task] = field(default_factory=dict)
    """By ARN, stopped ones included."""

    def service_tasks(self, service: Service, *, active_only: bool = True) -> list[Task]:
        return [
            t
            for t in self.tasks.values()
            if t.cluster is service.cluster
            and t.service == service.name
            and (t.active or not active_only)
        ]

    def family(self, family: str) -> list[TaskDefinition]:
        return sorted(
            (d for d in self.definitions.values() if d.family == family), key=lambda d: d.revision
        )
