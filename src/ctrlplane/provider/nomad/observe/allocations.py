"""Reading allocations (pure): which ones count, their replica, their tasks' events.

Only the allocations of the job's current version that are meant to run count
(:func:`current_allocs`); the replica of an allocation is its index in
``<job>.<group>[<index>]``. Times from the API are RFC 3339 with nanoseconds
(:func:`parse_time`) or, in task events, integer nanoseconds.

Why a task failed is in its events, but not last: after the cause (``Driver Failure``,
``Terminated``, ``Task hook failed``...) a real agent appends ``Not Restarting``,
``Killing`` and ``Alloc Unhealthy``. :func:`task_failure` reports the cause first.
A crash is a long-lived task that restarted, or stopped running, since a baseline
(:func:`restart_counts`, :func:`crashes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ctrlplane.provider.native import JSON

__all__ = [
    "AFTERMATH",
    "alloc_replica",
    "cause",
    "crashes",
    "current_allocs",
    "first_start",
    "newest_per_replica",
    "parse_time",
    "restart_counts",
    "running",
    "started_units",
    "task_failure",
]


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 time from the API (nanosecond fractions truncated), or ``None``."""
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    text = value.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def alloc_replica(alloc: Mapping[str, Any]) -> int:
    """The replica number of an allocation: the index in ``job.group[index]``."""
    name = str(alloc.get("Name", ""))
    try:
        return int(name.rsplit("[", 1)[1].rstrip("]"))
    except (IndexError, ValueError):
        return 0


def current_allocs(job: Mapping[str, Any], allocs: Sequence[Mapping[str, Any]]) -> list[JSON]:
    """Allocations of the job's current version that are meant to run, by replica."""
    version = job.get("Version")
    found = [
        dict(a)
        for a in allocs
        if a.get("JobVersion") == version and a.get("DesiredStatus") == "run"
    ]
    return sorted(found, key=alloc_replica)


def running(allocs: Iterable[JSON]) -> list[JSON]:
    """The allocations whose client runs them now."""
    return [a for a in allocs if a.get("ClientStatus") == "running"]


def newest_per_replica(allocs: Iterable[Mapping[str, Any]]) -> list[JSON]:
    """The newest allocation of each replica, by replica (a stopped job's allocations
    keep their logs)."""
    newest: dict[int, JSON] = {}
    for alloc in sorted(allocs, key=lambda a: int(a.get("CreateTime", 0))):
        newest[alloc_replica(alloc)] = dict(alloc)
    return [newest[k] for k in sorted(newest)]


def first_start(alloc: Mapping[str, Any], task: str) -> datetime:
    """When ``task`` first started in ``alloc`` (its log file begins then); now if it
    has not started."""
    state = (alloc.get("TaskStates") or {}).get(task) or {}
    started = [e for e in state.get("Events") or [] if e.get("Type") == "Started"]
    if started:
        return datetime.fromtimestamp(int(started[0]["Time"]) / 1e9, UTC)
    return parse_time(state.get("StartedAt")) or datetime.now(UTC)


AFTERMATH = frozenset(
    {
        "Received",
        "Task Setup",
        "Driver",
        "Started",
        "Restarting",
        "Restart Signaled",
        "Not Restarting",
        "Killing",
        "Killed",
        "Alloc Unhealthy",
        "Sibling Task Failed",
    }
)
"""Task events that say what happened around a failure, not why."""


def cause(task: Mapping[str, Any]) -> str:
    """The events that say why a task failed (the newest two, oldest first), then the
    agent's verdict (``Not Restarting``)."""
    events = [e for e in task.get("Events") or [] if e.get("DisplayMessage")]
    causes = [e for e in events if e.get("Type") not in AFTERMATH][-2:]
    verdict = [e for e in events if e.get("Type") == "Not Restarting"][-1:]
    shown = causes + verdict or events[-3:]
    return "; ".join(f"{e.get('Type')}: {e.get('DisplayMessage')}" for e in shown)


def task_failure(allocs: Sequence[Mapping[str, Any]]) -> str:
    """The first failed task of ``allocs`` with the cause from its events, e.g.
    ``task 'migrate' failed: Terminated: Exit Code: 3; Not Restarting: Error was
    unrecoverable``; empty when none failed."""
    for alloc in allocs:
        for name, task in sorted((alloc.get("TaskStates") or {}).items()):
            if task.get("Failed"):
                return f"task {name!r} failed: {cause(task)}"
    return ""


def restart_counts(allocs: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """``(alloc ID, task) -> Restarts`` of every task of ``allocs`` (a crash baseline)."""
    return {
        (str(alloc.get("ID", "")), name): int((task or {}).get("Restarts") or 0)
        for alloc in allocs
        for name, task in (alloc.get("TaskStates") or {}).items()
    }


def crashes(
    allocs: Iterable[Mapping[str, Any]],
    long_lived: Iterable[str],
    baseline: Mapping[tuple[str, str], int],
) -> str:
    """How a long-lived task of ``allocs`` crashed since ``baseline`` (its restart count
    grew, or it no longer runs, or its allocation failed), with the cause; empty when
    every one kept running. Allocations not in the baseline start from 0 restarts."""
    wanted = set(long_lived)
    for alloc in allocs:
        alloc_id = str(alloc.get("ID", ""))
        for name, task in sorted((alloc.get("TaskStates") or {}).items()):
            if name not in wanted or not task:
                continue
            before = baseline.get((alloc_id, name), 0)
            restarts = int(task.get("Restarts") or 0)
            failed = alloc.get("ClientStatus") == "failed"
            if restarts > before or task.get("State") != "running" or failed:
                return (
                    f"task {name!r} of replica {alloc_replica(alloc)} crashed "
                    f"(restarts {before} -> {restarts}, state {task.get('State')}): "
                    f"{cause(task)}"
                )
    return ""


def started_units(
    allocs: Iterable[Mapping[str, Any]], skip: set[str], seen: set[tuple[str, str]]
) -> list[tuple[str, str, int]]:
    """``(alloc ID, task, replica)`` of every task that has started (a ``Started`` task
    event) in ``allocs``, except allocations in ``skip`` and pairs already in ``seen``
    (which this adds to)."""
    out: list[tuple[str, str, int]] = []
    for alloc in allocs:
        alloc_id = str(alloc.get("ID", ""))
        if alloc_id in skip:
            continue
        for task, state in sorted((alloc.get("TaskStates") or {}).items()):
            events = (state or {}).get("Events") or []
            if not any(e.get("Type") == "Started" for e in events):
                continue
            if (alloc_id, task) in seen:
                continue
            seen.add((alloc_id, task))
            out.append((alloc_id, task, alloc_replica(alloc)))
    return out
