"""The pure progress helpers: step pairs that never nest, and unit events from pod lists."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ctrlplane.errors import ProvisionFailed
from ctrlplane.provider.events import ProgressEvent, StepFinished, StepStarted, UnitRemoved
from ctrlplane.provider.events import StepTracker as Steps
from ctrlplane.provider.kubernetes.observe.pods import started_containers
from ctrlplane.provider.kubernetes.observe.units import UnitTracker
from ctrlplane.provider.kubernetes.render.naming import ANN_RELEASE, LABEL_TRACK

JSON = dict[str, Any]


def _pod(
    name: str,
    *,
    release: str = "rel_a",
    running: tuple[str, ...] = ("web",),
    waiting: tuple[str, ...] = (),
    inits: tuple[str, ...] = (),
    ordinal: bool = False,
    track: str = "stable",
    created: str = "2026-01-01T00:00:00Z",
) -> JSON:
    labels = {LABEL_TRACK: track}
    if ordinal:
        labels["statefulset.kubernetes.io/pod-name"] = name
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": labels,
            "annotations": {ANN_RELEASE: release},
            "creationTimestamp": created,
        },
        "status": {
            "initContainerStatuses": [
                {"name": n, "state": {"terminated": {"exitCode": 0}}} for n in inits
            ],
            "containerStatuses": [{"name": n, "state": {"running": {}}} for n in running]
            + [{"name": n, "state": {"waiting": {"reason": "PodInitializing"}}} for n in waiting],
        },
    }


def _pairs(events: list[Any]) -> list[tuple[str, str, bool | None]]:
    return [
        (e.kind, e.step, e.ok if isinstance(e, StepFinished) else None)
        for e in events
        if isinstance(e, StepStarted | StepFinished)
    ]


def test_started_containers_counts_running_and_completed_ones_only() -> None:
    pod = _pod("p", running=("web",), waiting=("side",), inits=("migrate",))
    assert started_containers(pod) == {"web", "migrate"}


def test_units_of_a_deployment_are_numbered_per_release_from_zero() -> None:
    tracker = UnitTracker("inst_x")
    first = tracker.diff([_pod("a-1", running=(), waiting=("web",)), _pod("a-2")])
    assert [(e.kind, e.service, e.replica) for e in first] == [("unit_started", "web", 1)]
    second = tracker.diff([_pod("a-1"), _pod("a-2")])
    assert [(e.kind, e.replica) for e in second] == [("unit_started", 0)]
    assert tracker.diff([_pod("a-1"), _pod("a-2")]) == [], "each unit is reported once"
    rolled = tracker.diff([_pod("a-2"), _pod("b-1", release="rel_b")])
    assert [(e.kind, e.replica, e.release_id) for e in rolled] == [
        ("unit_removed", 0, "rel_a"),
        ("unit_started", 0, "rel_b"),
    ]


def test_units_of_a_stateful_set_use_the_ordinal_and_seed_reports_nothing() -> None:
    tracker = UnitTracker("inst_x")
    tracker.seed([_pod("db-0", ordinal=True)])
    events = tracker.diff([_pod("db-0", ordinal=True), _pod("db-2", ordinal=True)])
    assert [(e.kind, e.replica) for e in events] == [("unit_started", 2)]
    gone = tracker.diff([])
    assert sorted((e.kind, e.replica) for e in gone) == [("unit_removed", 0), ("unit_removed", 2)]
    assert all(isinstance(e, UnitRemoved) and e.instance_id == "inst_x" for e in gone)


def test_a_pod_being_deleted_is_removed() -> None:
    tracker = UnitTracker("inst_x")
    pod = _pod("a-1")
    tracker.seed([pod])
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:05Z"
    assert [e.kind for e in tracker.diff([pod])] == ["unit_removed"]


async def test_steps_never_nest_and_a_failure_finishes_the_open_step() -> None:
    seen: list[ProgressEvent] = []
    steps = Steps("inst_x", seen.append)

    async def work() -> None:
        async with steps.guard():
            await steps.enter("apply")
            await steps.enter("start")
            raise ProvisionFailed("inst_x", "pull", "image missing")

    with pytest.raises(ProvisionFailed):
        await work()
    assert _pairs(seen) == [
        ("step_started", "apply", None),
        ("step_finished", "apply", True),
        ("step_started", "start", None),
        ("step_finished", "start", False),
    ]
    assert isinstance(seen[-1], StepFinished)
    assert seen[-1].detail == "pull: image missing"


async def test_a_cancelled_step_says_cancelled() -> None:
    seen: list[ProgressEvent] = []
    steps = Steps("inst_x", seen.append)

    async def work() -> None:
        async with steps.guard():
            await steps.enter("start")
            await asyncio.sleep(10)

    task = asyncio.create_task(work())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert isinstance(seen[-1], StepFinished)
    assert (seen[-1].ok, seen[-1].detail) == (False, "cancelled")
