"""``status`` in a few list requests whatever the replica count (issue 17, benchmark
B8), and ``units`` (the core's ``UnitLister``, what ``ctrlplane ps`` shows): one row per
task of every allocation meant to run, a rollout's too."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ctrlplane.errors import BackendUnavailable, InstanceNotFound
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.protocol import UnitLister
from ctrlplane.provider.spec import (
    DeployRequest,
    HealthCheckSpec,
    ResourceSpec,
    ServiceDeploySpec,
    ServiceSpec,
)

from .harness import NAMESPACE, TOKEN, NomadHarness, black_hole, request_of

_ID = re.compile(r"inst_[0-9a-z]{26}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _web(h: NomadHarness, replicas: int, *, checked: bool) -> ServiceSpec:
    svc = h.http_service("web", port=8080)
    update: dict[str, object] = {"resources": ResourceSpec(replicas=replicas)}
    if checked:
        update["health_check"] = HealthCheckSpec(path="/healthz", port=8080, interval=1)
    return svc.model_copy(update=update)


def _requests(h: NomadHarness, since: int) -> list[str]:
    """The requests the agent received since ``since``, IDs replaced by ``<id>``."""
    return [_ID.sub("<id>", f"{s.method} {s.path}") for s in h.agent.requests[since:]]


STATUS = [
    "GET /v1/job/<id>",
    "GET /v1/allocations",
    "GET /v1/var/ctrlplane/leases/<id>",
]
"""What ``status`` asks a 1.4+ agent: the job, its allocations listed with their
resources in one filtered call, and the operation lease."""


@pytest.mark.parametrize("replicas", [1, 3])
async def test_status_is_three_requests_whatever_the_replica_count(
    harness: NomadHarness, replicas: int
) -> None:
    provider = harness.make_provider()
    side = harness.idle_service("side").model_copy(update={"role": ServiceRole.SIDECAR})
    req = request_of(_web(harness, replicas, checked=False), side)
    await provider.provision(req)
    before = len(harness.agent.requests)
    status = await provider.status(req.instance_id)
    assert _requests(harness, before) == STATUS
    assert status.ready
    assert len([e for e in status.endpoints if e.public]) == replicas  # the ports, listed


@pytest.mark.parametrize("replicas", [1, 3])
async def test_native_checks_add_one_request_per_running_allocation(
    harness: NomadHarness, replicas: int
) -> None:
    """Nomad keeps native check results on the allocation's client and lists them
    nowhere else (hashicorp/nomad#14054, #15603): 3 + one per allocation is the least."""
    provider = harness.make_provider()
    req = request_of(_web(harness, replicas, checked=True))
    await provider.provision(req)
    before = len(harness.agent.requests)
    status = await provider.status(req.instance_id)
    seen = _requests(harness, before)
    checks = ["GET /v1/client/allocation/<id>/checks"] * replicas
    assert seen == [*STATUS[:2], *checks, STATUS[2]]
    assert status.services["web"].ready


async def test_a_fresh_provider_reads_the_agent_version_once(harness: NomadHarness) -> None:
    req = request_of(_web(harness, 2, checked=False))
    await harness.make_provider().provision(req)
    fresh = harness.make_provider()
    before = len(harness.agent.requests)
    await fresh.status(req.instance_id)
    assert _requests(harness, before) == [STATUS[0], "GET /v1/agent/self", *STATUS[1:]]
    before = len(harness.agent.requests)
    await fresh.status(req.instance_id)
    assert _requests(harness, before) == STATUS


async def test_status_on_the_oldest_agent_reads_each_allocation(old: NomadHarness) -> None:
    """Before 1.3 the allocation list cannot be filtered: the job's allocation stubs
    (without ports) are listed, and each running allocation read for its ports."""
    provider = old.make_provider()
    req = request_of(_web(old, 2, checked=False))
    await provider.provision(req)
    before = len(old.agent.requests)
    status = await provider.status(req.instance_id)
    assert _requests(old, before) == [
        "GET /v1/job/<id>",
        "GET /v1/job/<id>/allocations",
        "GET /v1/allocation/<id>",
        "GET /v1/allocation/<id>",
        "GET /v1/job/ctrlplane-lease-<id>",
    ]
    assert len([e for e in status.endpoints if e.public]) == 2


async def test_the_allocation_list_is_filtered_by_the_agent_from_1_3(
    harness: NomadHarness,
) -> None:
    """The fake lists the namespace's allocations, filtered on ``JobID`` and with
    ``AllocatedResources`` on request (``resources=true``)."""
    provider = harness.make_provider()
    one = request_of(_web(harness, 1, checked=False))
    two = request_of(_web(harness, 2, checked=False))
    await provider.provision(one)
    await provider.provision(two)
    async with httpx.AsyncClient(
        base_url=harness.agent.address,
        headers={"X-Nomad-Token": TOKEN},
        params={"namespace": NAMESPACE},
    ) as api:
        everything = (await api.get("/v1/allocations")).json()
        wanted = {"filter": f'JobID == "{two.instance_id}"', "resources": "true"}
        mine = (await api.get("/v1/allocations", params=wanted)).json()
    assert {a["JobID"] for a in everything} == {one.instance_id, two.instance_id}
    assert all(a["AllocatedResources"] is None for a in everything)
    assert {a["JobID"] for a in mine} == {two.instance_id}
    assert all(a["AllocatedResources"]["Shared"]["Ports"] for a in mine)


async def test_units_lists_each_task_of_each_allocation(harness: NomadHarness) -> None:
    provider = harness.make_provider()
    assert isinstance(provider, UnitLister)
    web = _web(harness, 2, checked=True)
    init = harness.exit_service("setup", code=0).model_copy(update={"role": ServiceRole.INIT})
    side = harness.idle_service("side").model_copy(update={"role": ServiceRole.SIDECAR})
    req = request_of(web, init, side)
    result = await provider.provision(req)
    began = datetime.now(UTC)
    units = await provider.units(req.instance_id)
    assert [(u.service, u.replica) for u in units] == [
        ("setup", 0),
        ("setup", 1),
        ("web", 0),
        ("web", 1),
        ("side", 0),
        ("side", 1),
    ]
    status = await provider.status(req.instance_id)
    release = status.metadata["release_id"]
    allocs = {a.index: a for a in harness.agent.allocs_of(NAMESPACE, req.instance_id)}
    for unit in units:
        assert unit.release_id == release
        assert unit.image == harness.image(1)
        assert unit.provider_ref == f"{allocs[unit.replica].id}/{unit.service}"
        assert unit.started_at is not None
        assert unit.started_at <= began + timedelta(seconds=1)
        assert unit.restarts == 0
    by = {(u.service, u.replica): u for u in units}
    assert by["setup", 0].state is InstanceState.STOPPED  # an init that finished
    assert by["setup", 0].health == ""
    assert by["side", 1].state is InstanceState.RUNNING
    assert by["side", 1].health == ""  # no health check
    for replica in (0, 1):
        web_unit = by["web", replica]
        assert (web_unit.state, web_unit.health, web_unit.ready) == (
            InstanceState.RUNNING,
            "healthy",
            True,
        )
        (port,) = web_unit.ports
        host_port = next(p["Value"] for p in allocs[replica].ports if p["Label"] == "web_8080")
        assert (port.public, port.port, port.url) == (
            True,
            host_port,
            f"http://127.0.0.1:{host_port}",
        )
        assert port.url in {e.url for e in result.endpoints}
    assert by["side", 0].ports == []


async def test_units_show_restarts_and_a_failing_check(harness: NomadHarness) -> None:
    provider = harness.make_provider()
    req = request_of(_web(harness, 1, checked=True))
    await provider.provision(req)
    await provider.restart(req.instance_id)
    (unit,) = await provider.units(req.instance_id)
    assert (unit.restarts, unit.state) == (1, InstanceState.RUNNING)
    harness.backend.faults.fail_health("web")
    for _ in range(100):
        (unit,) = await provider.units(req.instance_id)
        if unit.health == "unhealthy":
            break
        await asyncio.sleep(0.05)
    assert (unit.health, unit.ready, unit.state) == ("unhealthy", False, InstanceState.RUNNING)


async def test_units_of_a_rollout_show_both_releases() -> None:
    """While canaries are observed, the old replicas and the canary are listed, each
    with the release and image it runs."""
    h = NomadHarness(canary_observation="3s")
    await h.setup()
    try:
        provider = h.make_provider()
        req = request_of(_web(h, 2, checked=True))
        await provider.provision(req)
        old = (await provider.status(req.instance_id)).metadata["release_id"]
        deploy = DeployRequest(
            instance_id=req.instance_id,
            strategy="canary",
            services=[ServiceDeploySpec(name="web", image=h.image(2))],
        )
        rollout = asyncio.ensure_future(provider.deploy(deploy))
        for _ in range(100):
            units = await provider.units(req.instance_id)
            if len(units) == 3 and all(u.ready for u in units):
                break
            await asyncio.sleep(0.05)
        olds = [(u.replica, u.image) for u in units if u.release_id == old]
        (canary,) = [u for u in units if u.release_id != old]
        assert olds == [(0, h.image(1)), (1, h.image(1))]
        assert (canary.image, canary.health) == (h.image(2), "healthy")
        result = await rollout
        assert {(u.release_id, u.image) for u in await provider.units(req.instance_id)} == {
            (result.release_id, h.image(2))
        }
    finally:
        await h.teardown()


async def test_units_of_an_unknown_instance(harness: NomadHarness) -> None:
    with pytest.raises(InstanceNotFound):
        await harness.make_provider().units(new_id(INSTANCE_PREFIX))


async def test_units_of_a_stopped_instance_are_none(harness: NomadHarness) -> None:
    provider = harness.make_provider()
    req = request_of(harness.idle_service("app"))
    await provider.provision(req)
    await provider.stop(req.instance_id)
    assert await provider.units(req.instance_id) == []


async def test_units_from_an_agent_that_never_answers_end(harness: NomadHarness) -> None:
    async with black_hole() as address:
        provider = harness.black_hole_provider(address)
        began = time.monotonic()
        with pytest.raises(BackendUnavailable):
            await provider.units(new_id(INSTANCE_PREFIX))
        assert time.monotonic() - began < harness.black_hole_limit
