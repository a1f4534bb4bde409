"""The ECS service scheduler with the rolling-update deployment controller.

On every tick, for each service:

- a ``DRAINING`` service (deleted) has its tasks stopped and becomes ``INACTIVE`` when
  none is left;
- tasks whose essential containers turned ``UNHEALTHY`` are stopped ("Task failed
  container health checks"); tasks of a deployment that stopped for a failure count as
  its ``failedTasks``;
- the deployment circuit breaker (when enabled) fails an ``IN_PROGRESS`` deployment after
  ``max(3, min(200, ceil(desired / 2)))`` failed tasks; with ``rollback`` a new primary
  deployment of the last task definition that completed takes over, else the failed
  deployment launches nothing more;
- the primary deployment launches tasks up to its desired count, within
  ``maximumPercent`` of the desired count over all deployments, and stops its surplus;
- older deployments' tasks are stopped while the healthy ones left stay at or above
  ``minimumHealthyPercent``; a deployment without tasks is removed;
- the primary deployment is ``COMPLETED`` when it alone runs the desired count, every task
  healthy (``HEALTHY``, or running without health checks) and running for a moment
  (:data:`STEADY_SECONDS`), so a container that exits at once fails the deployment.

Service events say what happened, in ECS's words.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..account import Clock
from ..elbv2 import ElbV2
from .model import Deployment, Service, Task, deployment_id
from .state import EcsState
from .tasks import Agent

__all__ = ["Scheduler"]

JSON = dict[str, Any]


def _checked(task: Task) -> bool:
    return any(c.essential and c.definition.get("healthCheck") for c in task.containers)


STEADY_SECONDS = 2.0
"""How long a task must have run (simulated seconds) before the scheduler counts it as
serving: a container that exits at once must not complete a deployment."""


def _ran(task: Task, clock: Clock) -> float:
    """Simulated seconds since ``task`` started running (0 before)."""
    if task.started_at is None:
        return 0.0
    return (clock.now() - task.started_at).total_seconds() / max(clock.time_scale, 1e-9)


def _load_balancers(service: Service) -> list[JSON]:
    return list(service.request.get("loadBalancers") or [])


class Scheduler:
    """Reconciles services (see the module docs); ``launch`` starts one task of a
    service's deployment."""

    def __init__(
        self,
        state: EcsState,
        agent: Agent,
        clock: Clock,
        launch: Callable[[Service, Deployment], Task],
        elb: ElbV2 | None = None,
    ) -> None:
        self.state = state
        self.agent = agent
        self.clock = clock
        self.launch = launch
        self.elb = elb
        self.counted: set[str] = set()

    def _healthy(self, service: Service, task: Task) -> bool:
        """Whether ``task`` serves: running a moment, its checked essential containers
        ``HEALTHY``, its targets ``healthy`` in every target group of the service."""
        if task.last_status != "RUNNING" or task.desired_status != "RUNNING":
            return False
        if _ran(task, self.clock) < STEADY_SECONDS:
            return False
        if _checked(task) and task.health != "HEALTHY":
            return False
        for lb in _load_balancers(service):
            state = (
                self.elb.state(lb["targetGroupArn"], task.ip, lb["containerPort"])
                if self.elb
                else ""
            )
            if state != "healthy":
                return False
        return True

    def _targets(self, service: Service, now: Any) -> None:
        """Register running tasks in the service's target groups, deregister stopping
        ones, and stop tasks whose targets stay unhealthy past the grace period."""
        lbs = _load_balancers(service)
        if not lbs or self.elb is None:
            return
        grace = service.request.get("healthCheckGracePeriodSeconds") or 0
        for t in self.state.service_tasks(service, active_only=False):
            if t.desired_status == "STOPPED":
                if t.registered:
                    for lb in lbs:
                        self.elb.deregister(lb["targetGroupArn"], t.ip, lb["containerPort"])
                    t.registered = False
                continue
            if t.last_status != "RUNNING":
                continue
            if not t.registered:
                for lb in lbs:
                    self.elb.register(lb["targetGroupArn"], t.ip, lb["containerPort"])
                t.registered = True
                continue
            for lb in lbs:
                arn = lb["targetGroupArn"]
                unhealthy = self.elb.state(arn, t.ip, lb["containerPort"]) == "unhealthy"
                if unhealthy and _ran(t, self.clock) > grace:
                    self.agent.stop(
                        t,
                        "ServiceSchedulerInitiated",
                        f"Task failed ELB health checks in (target-group {arn})",
                        failed=True,
                    )
                    service.event(f"has stopped 1 running tasks: (task {t.id}).", now)
                    break

    async def tick(self) -> None:
        for task in list(self.state.tasks.values()):
            await self.agent.advance(task)
            self.agent.ship(task)
        for service in list(self.state.services.values()):
            if service.status in ("ACTIVE", "DRAINING"):
                self.reconcile(service)
        self._forget_deleted_definitions()

    def _forget_deleted_definitions(self) -> None:
        used = {t.definition.arn for t in self.state.tasks.values() if t.active}
        for arn, d in list(self.state.definitions.items()):
            if d.status == "DELETE_IN_PROGRESS" and arn not in used:
                del self.state.definitions[arn]

    def _scale_in(self, task: Task, deployment: str) -> None:
        self.agent.stop(
            task,
            "ServiceSchedulerInitiated",
            f"Scaling activity initiated by (deployment {deployment})",
        )

    def reconcile(self, service: Service) -> None:
        now = self.clock.now()
        tasks = [t for t in self.state.service_tasks(service) if t.desired_status == "RUNNING"]
        if service.status == "DRAINING":
            self._targets(service, now)
            for t in tasks:
                self._scale_in(t, service.primary.id if service.deployments else "")
            if not self.state.service_tasks(service):
                service.status = "INACTIVE"
                service.event("has been deleted.", now)
            return
        self._targets(service, now)
        for t in tasks:
            if t.last_status == "RUNNING" and t.health == "UNHEALTHY":
                self.agent.stop(
                    t,
                    "ServiceSchedulerInitiated",
                    "Task failed container health checks",
                    failed=True,
                )
                service.event(f"has stopped 1 running tasks: (task {t.id}).", now)
        self._count_failures(service)
        self._circuit_breaker(service)
        primary = service.primary
        primary.desired = service.desired
        tasks = [t for t in self.state.service_tasks(service) if t.desired_status == "RUNNING"]
        mine = [t for t in tasks if t.deployment == primary.id]
        config = service.deployment_config
        maximum = max(
            service.desired, math.floor(service.desired * config.get("maximumPercent", 200) / 100)
        )
        if len(mine) < primary.desired and not primary.paused:
            room = max(0, maximum - len(tasks))
            started = [
                self.launch(service, primary) for _ in range(min(primary.desired - len(mine), room))
            ]
            if started:
                ids = ", ".join(f"task {t.id}" for t in started)
                service.event(f"has started {len(started)} tasks: ({ids}).", now)
        elif len(mine) > primary.desired:
            surplus = sorted(mine, key=lambda t: (t.last_status == "RUNNING", t.created_at))
            for t in surplus[: len(mine) - primary.desired]:
                self._scale_in(t, primary.id)
        self._drain_old(service, [t for t in tasks if t.deployment != primary.id], mine)
        self._retire_deployments(service)
        healthy = [t for t in mine if self._healthy(service, t)]
        if (
            primary.rollout_state == "IN_PROGRESS"
            and len(service.deployments) == 1
            and len(healthy)
            == primary.desired
            == len([t for t in mine if t.desired_status == "RUNNING"])
        ):
            primary.rollout_state = "COMPLETED"
            primary.rollout_reason = f"ECS deployment {primary.id} completed."
            primary.updated_at = now
            service.last_completed = primary.task_definition
            service.event("has reached a steady state.", now)

    def _count_failures(self, service: Service) -> None:
        for t in self.state.service_tasks(service, active_only=False):
            if t.failed and t.desired_status == "STOPPED" and t.arn not in self.counted:
                self.counted.add(t.arn)
                d = next((d for d in service.deployments if d.id == t.deployment), None)
                if d is not None and d.rollout_state == "IN_PROGRESS":
                    d.failed_tasks += 1
                    d.updated_at = self.clock.now()

    def _circuit_breaker(self, service: Service) -> None:
        breaker = service.deployment_config.get("deploymentCircuitBreaker") or {}
        primary = service.primary
        if not breaker.get("enable") or primary.rollout_state != "IN_PROGRESS":
            return
        threshold = max(3, min(200, math.ceil(primary.desired / 2)))
        if primary.failed_tasks < threshold:
            return
        now = self.clock.now()
        primary.rollout_state = "FAILED"
        primary.rollout_reason = "ECS deployment circuit breaker: tasks failed to start."
        primary.updated_at = now
        service.event(f"deployment {primary.id} deployment failed: tasks failed to start.", now)
        target = service.last_completed
        if breaker.get("rollback") and target and target != primary.task_definition:
            back = Deployment(
                id=deployment_id(),
                task_definition=target,
                desired=service.desired,
                created_at=now,
                updated_at=now,
                rollout_reason=(
                    f"ECS deployment circuit breaker: rolling back to deploymentId {primary.id}."
                ),
            )
            primary.status = "ACTIVE"
            service.deployments.insert(0, back)
            service.task_definition = target
            service.event(f"rolling back to task definition {target}.", now)
        else:
            primary.paused = True

    def _drain_old(self, service: Service, old: list[Task], mine: list[Task]) -> None:
        if not old:
            return
        minimum = math.ceil(
            service.desired * service.deployment_config.get("minimumHealthyPercent", 100) / 100
        )
        healthy_new = len([t for t in mine if self._healthy(service, t)])
        serving_old = [t for t in old if self._healthy(service, t)]
        for t in sorted(old, key=lambda t: self._healthy(service, t)):
            if not self._healthy(service, t):
                self._scale_in(t, t.deployment)
            elif healthy_new + len(serving_old) - 1 >= minimum:
                serving_old.remove(t)
                self._scale_in(t, t.deployment)

    def _retire_deployments(self, service: Service) -> None:
        live = {t.deployment for t in self.state.service_tasks(service)}
        service.deployments = [
            d for i, d in enumerate(service.deployments) if i == 0 or d.id in live
        ]
