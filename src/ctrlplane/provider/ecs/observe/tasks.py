"""Reading tasks (pure): replica numbers, addresses, and why a task stopped.

A task's replica number is its place among the service's current tasks in creation
order (ECS tasks have no index of their own; a replaced task takes the last place).
A task stopped for a failure when ECS says it failed to start (``TaskFailedToStart``), an
essential container exited (``EssentialContainerExited``) or it failed its container
health checks; tasks the scheduler stopped to scale in or replace, or a user stopped,
did not fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ctrlplane.provider.native import JSON

__all__ = [
    "Failure",
    "container",
    "failed",
    "failure",
    "ordered",
    "task_id",
    "task_ip",
    "units_started",
]

_FAILED = {"TaskFailedToStart", "EssentialContainerExited"}


def task_id(task: Mapping[str, Any]) -> str:
    return str(task.get("taskArn", "")).rsplit("/", 1)[-1]


def _created(task: Mapping[str, Any]) -> datetime | str:
    return task.get("createdAt") or ""


def ordered(tasks: Iterable[JSON]) -> list[JSON]:
    """``tasks`` in replica order (creation time, then ARN)."""
    return sorted(tasks, key=lambda t: (str(_created(t)), str(t.get("taskArn", ""))))


def task_ip(task: Mapping[str, Any]) -> str:
    """The task's private IPv4 address (``""`` before its interface is attached)."""
    for c in task.get("containers") or []:
        for ni in c.get("networkInterfaces") or []:
            if ni.get("privateIpv4Address"):
                return str(ni["privateIpv4Address"])
    for attachment in task.get("attachments") or []:
        for detail in attachment.get("details") or []:
            if detail.get("name") == "privateIPv4Address" and detail.get("value"):
                return str(detail["value"])
    return ""


def container(task: Mapping[str, Any], name: str) -> JSON | None:
    return next((dict(c) for c in task.get("containers") or [] if c.get("name") == name), None)


def failed(task: Mapping[str, Any]) -> bool:
    """Whether ``task`` stopped (or is stopping) because of a failure."""
    if task.get("desiredStatus") != "STOPPED":
        return False
    reason = str(task.get("stoppedReason") or "")
    return task.get("stopCode") in _FAILED or "health check" in reason


@dataclass(frozen=True)
class Failure:
    """Why a task failed: the ``container`` at fault (``""`` when none is), ``exit_code``,
    and ``reason`` (a sentence naming the container)."""

    container: str
    reason: str
    exit_code: int | None = None


def failure(task: Mapping[str, Any], inits: Sequence[str]) -> Failure:
    """The failure of a ``failed`` task: the first container (inits first) that exited
    non-zero or that ECS gives a reason for, else the task's stopped reason."""
    containers = list(task.get("containers") or [])
    containers.sort(key=lambda c: 0 if c.get("name") in inits else 1)
    stopped = str(task.get("stoppedReason") or "stopped")
    for c in containers:
        name = str(c.get("name"))
        code = c.get("exitCode")
        role = "init " if name in inits else ""
        if c.get("reason"):
            return Failure(name, f"{role}{name}: {c['reason']}", code)
        if code not in (None, 0):
            return Failure(name, f"{role}{name} exited with code {code} ({stopped})", int(code))
    if "health check" in stopped:
        unhealthy = [str(c.get("name")) for c in containers if c.get("healthStatus") == "UNHEALTHY"]
        if unhealthy:
            return Failure(unhealthy[0], f"{unhealthy[0]} failed its health check ({stopped})")
    return Failure("", stopped)


def units_started(task: Mapping[str, Any]) -> list[str]:
    """The containers of a task that have started (running, or exited)."""
    return [
        str(c.get("name"))
        for c in task.get("containers") or []
        if c.get("lastStatus") == "RUNNING" or c.get("exitCode") is not None
    ]
