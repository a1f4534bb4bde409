"""What the ECS fake holds: clusters, task definitions, services with their deployments,
and tasks with their containers. Plain records; the rules live in :mod:`.rules`, the
behaviour in :mod:`.tasks` and :mod:`.scheduler`."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ctrlplane.testing.records import FakeContainer

__all__ = [
    "Cluster",
    "ContainerRun",
    "Deployment",
    "Service",
    "ServiceEvent",
    "Task",
    "TaskDefinition",
    "deployment_id",
]

JSON = dict[str, Any]
_events = itertools.count(1)


def deployment_id() -> str:
    """``ecs-svc/`` and 19 digits, as ECS names deployments."""
    return "ecs-svc/" + "".join(random.choice("0123456789") for _ in range(19))


@dataclass
class Cluster:
    name: str
    arn: str
    insights: str = "disabled"
    """The ``containerInsights`` setting: ``disabled``, ``enabled`` or ``enhanced``."""
    ec2_capacity: bool = False
    """Whether container instances are registered (tasks of the EC2 launch type can run)."""
    tags: list[JSON] = field(default_factory=list)


@dataclass
class TaskDefinition:
    family: str
    revision: int
    arn: str
    body: JSON
    """The registration request's task definition fields, as registered."""
    registered_at: datetime
    status: str = "ACTIVE"
    deregistered_at: datetime | None = None
    delete_requested_at: datetime | None = None
    tags: list[JSON] = field(default_factory=list)

    @property
    def containers(self) -> list[JSON]:
        return list(self.body["containerDefinitions"])

    def container(self, name: str) -> JSON:
        return next(c for c in self.containers if c["name"] == name)

    @property
    def fargate(self) -> bool:
        return "FARGATE" in (self.body.get("requiresCompatibilities") or [])


@dataclass
class Deployment:
    id: str
    task_definition: str
    desired: int
    created_at: datetime
    updated_at: datetime
    status: str = "PRIMARY"
    rollout_state: str = "IN_PROGRESS"
    rollout_reason: str = "ECS deployment ecs-svc in progress."
    failed_tasks: int = 0
    paused: bool = False
    """A failed first deployment (nothing to roll back to): no more tasks are launched."""


@dataclass
class ServiceEvent:
    message: str
    at: datetime
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Service:
    name: str
    arn: str
    cluster: Cluster
    request: JSON
    """The ``CreateService`` request (for idempotency and the fields it echoes)."""
    task_definition: str
    desired: int
    created_at: datetime
    launch_type: str
    network: JSON
    deployment_config: JSON
    status: str = "ACTIVE"
    deployments: list[Deployment] = field(default_factory=list)
    events: list[ServiceEvent] = field(default_factory=list)
    tags: list[JSON] = field(default_factory=list)
    last_completed: str = ""
    """The task definition of the last deployment that completed (circuit-breaker target)."""

    @property
    def primary(self) -> Deployment:
        return self.deployments[0]

    def event(self, message: str, at: datetime) -> None:
        self.events.insert(0, ServiceEvent(f"(service {self.name}) {message}", at))
        del self.events[100:]


@dataclass
class ContainerRun:
    """One container of a task: its definition and, once started, its fake process."""

    definition: JSON
    arn: str
    last_status: str = "PENDING"
    exit_code: int | None = None
    reason: str = ""
    health: str = "UNKNOWN"
    process: FakeContainer | None = None
    runtime_id: str = ""
    checker: asyncio.Task[None] | None = None
    shipped: int = 0
    """How many of the process's log records the awslogs driver has sent."""

    @property
    def name(self) -> str:
        return str(self.definition["name"])

    @property
    def essential(self) -> bool:
        return bool(self.definition.get("essential", True))


@dataclass
class Task:
    arn: str
    id: str
    cluster: Cluster
    definition: TaskDefinition
    group: str
    started_by: str
    launch_type: str
    created_at: datetime
    containers: list[ContainerRun]
    service: str = ""
    deployment: str = ""
    last_status: str = "PROVISIONING"
    desired_status: str = "RUNNING"
    next_at: float = 0.0
    """The loop time before which the task makes no further lifecycle transition."""
    ip: str = ""
    eni: str = field(default_factory=lambda: "eni-" + uuid.uuid4().hex[:17])
    subnet: str = ""
    pull_started_at: datetime | None = None
    pull_stopped_at: datetime | None = None
    started_at: datetime | None = None
    stopping_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_code: str = ""
    stopped_reason: str = ""
    failed: bool = False
    """Stopped for a failure (counts for the deployment circuit breaker)."""
    tags: list[JSON] = field(default_factory=list)
    volumes: dict[str, dict[str, bytes]] = field(default_factory=dict)
    secret_values: list[str] = field(default_factory=list, repr=False)
    registered: bool = False
    """Whether the task is registered in its service's target groups."""
    version: int = 1

    @property
    def health(self) -> str:
        """ECS's task health: from the essential containers that have health checks."""
        checked = [c for c in self.containers if c.essential and c.definition.get("healthCheck")]
        if not checked:
            return "UNKNOWN"
        if any(c.health == "UNHEALTHY" for c in checked):
            return "UNHEALTHY"
        if all(c.health == "HEALTHY" for c in checked):
            return "HEALTHY"
        return "UNKNOWN"

    def run(self, name: str) -> ContainerRun:
        return next(c for c in self.containers if c.name == name)

    @property
    def active(self) -> bool:
        return self.last_status != "STOPPED"
