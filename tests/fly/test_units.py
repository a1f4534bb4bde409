"""``units()`` on the fake Machines API: one row per Machine of the instance (not the
control Machine), a rollout's too, read with one listing of the app's Machines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from ctrlplane.errors import InstanceNotFound
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider import UnitLister
from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.events import ProgressEvent, StepStarted, TrafficSwitched
from ctrlplane.provider.fly import FlyProvider
from ctrlplane.provider.fly.observe.units import NOT_SERVING
from ctrlplane.provider.results import UnitStatus
from ctrlplane.provider.spec import DeployRequest, ServiceDeploySpec
from ctrlplane.testing.runtime import stop_container

from .fake_machines import FakeMachine
from .harness import FlyHarness
from .workloads import checked_web, machines, request

pytestmark = pytest.mark.asyncio


async def test_units_lists_every_machine_but_the_control_one_with_one_listing(
    harness: FlyHarness,
) -> None:
    h = harness
    side = h.idle_service("side").model_copy(update={"role": "sidecar"})
    req = request(h, checked_web(h), side, replicas=2)
    provider = h.make_provider()
    assert isinstance(provider, UnitLister)
    await provider.provision(req)
    (live,) = await provider.releases(req.instance_id)
    h.api.requests.clear()
    rows = await provider.units(req.instance_id)
    assert [r.operation for r in h.api.requests] == ["Machines_list"]
    assert [(r.service, r.replica) for r in rows] == [
        ("web", 0),
        ("web", 1),
        ("side", 0),
        ("side", 1),
    ]
    control = {m.id for m in machines(h, req, role="control")}
    assert not control & {r.provider_ref for r in rows}
    for row in rows:
        assert row.release_id == live.release_id
        assert row.state is InstanceState.RUNNING
        assert row.ready
        assert row.restarts == 0
        assert row.started_at is not None
        assert row.message == ""
    web = [r for r in rows if r.service == "web"]
    assert {r.image for r in web} == {h.image(1)}
    assert {r.health for r in web} == {"healthy"}
    assert {r.health for r in rows if r.service == "side"} == {""}, "no check: no health"
    for row in web:
        (port,) = row.ports
        assert (port.port, port.public) == (8080, False)
    assert web[0].ports[0].url != web[1].ports[0].url, "each Machine has its own address"
    with pytest.raises(InstanceNotFound):
        await provider.units(new_id(INSTANCE_PREFIX))
    await provider.deprovision(req.instance_id)


@dataclass
class _Rollout:
    """A deploy of image 2 over a 2-replica instance, and its units at one event."""

    provider: FlyProvider
    instance_id: str
    before: str
    after: str
    rows: list[UnitStatus]


async def _units_during(
    h: FlyHarness, strategy: str, when: Callable[[ProgressEvent], bool]
) -> _Rollout:
    req = request(h, checked_web(h), replicas=2)
    provider = h.make_provider()
    await provider.provision(req)
    (first,) = await provider.releases(req.instance_id)
    seen: list[list[UnitStatus]] = []

    async def during(event: ProgressEvent) -> None:
        if when(event):
            seen.append(await provider.units(req.instance_id))

    deploy = DeployRequest(
        instance_id=req.instance_id,
        services=[ServiceDeploySpec(name="web", image=h.image(2))],
        strategy=strategy,
    )
    result = await provider.deploy(deploy, events=during)
    (rows,) = seen
    return _Rollout(provider, req.instance_id, first.release_id, result.release_id, rows)


async def test_units_during_a_canary_show_the_updated_machine(harness: FlyHarness) -> None:
    h = harness
    run = await _units_during(
        h, "canary", lambda e: isinstance(e, StepStarted) and e.step == "observe-canary"
    )
    assert [(r.replica, r.release_id, r.image) for r in run.rows] == [
        (0, run.after, h.image(2)),
        (1, run.before, h.image(1)),
    ]
    assert all(r.state is InstanceState.RUNNING for r in run.rows)
    after = await run.provider.units(run.instance_id)
    assert {(r.release_id, r.image) for r in after} == {(run.after, h.image(2))}
    await run.provider.deprovision(run.instance_id)


async def test_units_after_a_blue_green_switch_show_the_old_set_until_retired(
    harness: FlyHarness,
) -> None:
    run = await _units_during(harness, "blue-green", lambda e: isinstance(e, TrafficSwitched))
    assert [(r.replica, r.release_id, r.message) for r in run.rows] == [
        (0, run.after, ""),
        (0, run.before, NOT_SERVING),
        (1, run.after, ""),
        (1, run.before, NOT_SERVING),
    ]
    after = await run.provider.units(run.instance_id)
    assert [(r.replica, r.release_id) for r in after] == [(0, run.after), (1, run.after)]
    await run.provider.deprovision(run.instance_id)


async def _crash(h: FlyHarness, machine: FakeMachine, code: int) -> None:
    """Make ``machine``'s process exit with ``code`` once it runs."""
    for _ in range(500):
        c = machine.container
        if machine.state == "started" and c is not None and c.running:
            stop_container(h.backend, c)
            c.exit_code = code
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"machine {machine.id} never ran again")


async def test_a_crashing_machine_shows_its_restarts_then_fails(harness: FlyHarness) -> None:
    h = harness
    req = request(h, h.idle_service("web"))
    provider = h.make_provider()
    await provider.provision(req)
    (machine,) = machines(h, req, role="main")

    async def row() -> UnitStatus:
        (found,) = await provider.units(req.instance_id)
        return found

    await _crash(h, machine, 3)
    await _crash(h, machine, 3)  # restarted (on-failure), then crashed again
    for _ in range(300):
        web = await row()
        if web.restarts == 2 and web.state is InstanceState.RUNNING:
            break
        await asyncio.sleep(0.02)
    assert (web.restarts, web.state) == (2, InstanceState.RUNNING), web
    await _crash(h, machine, 3)
    await _crash(h, machine, 3)  # the restart policy gives up after 3 restarts
    for _ in range(300):
        web = await row()
        if web.state is not InstanceState.RUNNING and web.restarts == 4:
            break
        await asyncio.sleep(0.02)
    assert web.restarts == 4, web
    assert web.state is InstanceState.FAILED
    assert "exited with code 3" in web.message
    assert (web.ready, web.health, web.started_at) == (False, "", None)
    await provider.deprovision(req.instance_id)
