"""``units()`` on the fake API server: one row per container of every pod meant to run
(a rollout's too), read with one pod list; and the pure rows of hand-made pods."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ctrlplane.errors import InstanceNotFound
from ctrlplane.ids import new_id
from ctrlplane.provider import UnitLister
from ctrlplane.provider.enums import DeployStrategy, InstanceState, ServiceRole, WorkloadKind
from ctrlplane.provider.events import ProgressEvent, StepStarted
from ctrlplane.provider.kubernetes import KubernetesProvider
from ctrlplane.provider.kubernetes.observe.unit_rows import unit_rows
from ctrlplane.provider.results import UnitStatus
from ctrlplane.provider.spec import (
    DeployRequest,
    HealthCheckSpec,
    PortSpec,
    ProvisionRequest,
    ResourceSpec,
    ServiceDeploySpec,
    ServiceSpec,
)
from ctrlplane.testing.runtime import stop_container

from .conftest import fast_config
from .fake_apiserver import FakeCluster

APP = "conformance/app:1"
CHECK = HealthCheckSpec(path="/healthz", port=8080, retries=2)


def _request(
    replicas: int = 2, kind: WorkloadKind = WorkloadKind.DEPLOYMENT, **web: object
) -> ProvisionRequest:
    main = ServiceSpec(
        name="web",
        image=APP,
        ports=[PortSpec(container=8080)],
        health_check=CHECK,
        depends_on=["side"],
        resources=ResourceSpec(replicas=replicas),
    ).model_copy(update=web)
    side = ServiceSpec(name="side", image="conformance/app:2", role=ServiceRole.SIDECAR)
    return ProvisionRequest(
        instance_id=new_id("inst"), tenant_id="t1", name="demo", kind=kind, services=[main, side]
    )


def _pod_lists(fake: FakeCluster) -> list[str]:
    return [p for m, p in fake.cluster.requests if m == "GET" and "/pods" in p.split("?")[0]]


@pytest.mark.parametrize("kind", [WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFUL_SET], ids=str)
async def test_units_lists_every_container_of_every_pod_with_one_pod_list(
    fake: FakeCluster, kind: WorkloadKind
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    assert isinstance(provider, UnitLister)
    req = _request(kind=kind)
    await provider.provision(req)
    (live,) = await provider.releases(req.instance_id)
    before = len(_pod_lists(fake))
    rows = await provider.units(req.instance_id)
    lists = _pod_lists(fake)[before:]
    assert len(lists) == 1, lists
    assert "labelSelector=ctrlplane.io%2Finstance" in lists[0]
    assert [(r.service, r.replica) for r in rows] == [
        ("side", 0),
        ("side", 1),
        ("web", 0),
        ("web", 1),
    ]
    for row in rows:
        assert row.release_id == live.release_id
        assert row.state is InstanceState.RUNNING
        assert row.ready
        assert row.restarts == 0
        assert row.started_at is not None
        assert row.started_at <= datetime.now(UTC)
        assert row.message == ""
    web = [r for r in rows if r.service == "web"]
    side = [r for r in rows if r.service == "side"]
    assert {r.image for r in web} == {APP}
    assert {r.image for r in side} == {"conformance/app:2"}
    assert {r.health for r in web} == {"healthy"}
    assert {r.health for r in side} == {""}, "no health check: no health"
    assert all(not r.ports for r in side)
    for row in web:
        (port,) = row.ports
        assert (port.port, port.protocol, port.public) == (8080, "tcp", False)
        assert port.url.startswith("http://10.244.")
    assert web[0].ports[0].url != web[1].ports[0].url, "each pod has its own address"
    assert web[0].provider_ref.split("/")[0] != web[1].provider_ref.split("/")[0]
    await provider.deprovision(req.instance_id)


async def test_units_of_an_unknown_or_stopped_instance(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    with pytest.raises(InstanceNotFound):
        await provider.units("inst_nothere")
    req = _request(replicas=1)
    await provider.provision(req)
    await provider.stop(req.instance_id)
    assert await provider.units(req.instance_id) == [], "a stopped instance runs no unit"
    await provider.deprovision(req.instance_id)


async def test_units_during_a_canary_show_both_releases(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig, canary_observation=0.5))
    req = _request(replicas=2)
    await provider.provision(req)
    (first,) = await provider.releases(req.instance_id)
    seen: list[list[UnitStatus]] = []

    async def during(event: ProgressEvent) -> None:
        if isinstance(event, StepStarted) and event.step == "promote":
            seen.append(await provider.units(req.instance_id))

    new = ServiceDeploySpec(name="web", image="conformance/app:3")
    deployed = await provider.deploy(
        DeployRequest(instance_id=req.instance_id, services=[new], strategy=DeployStrategy.CANARY),
        events=during,
    )
    (rows,) = seen
    web = [r for r in rows if r.service == "web"]
    assert [(r.replica, r.release_id, r.image) for r in web] == [
        (0, first.release_id, APP),
        (0, deployed.release_id, "conformance/app:3"),
        (1, first.release_id, APP),
    ]
    canary = web[1]
    assert canary.state is InstanceState.RUNNING
    assert canary.health == "healthy"
    assert canary.message.startswith("canary")
    assert [r.message for r in web if r is not canary] == ["", ""]
    assert len([r for r in rows if r.service == "side"]) == 3
    after = await provider.units(req.instance_id)
    assert {(r.release_id, r.image) for r in after if r.service == "web"} == {
        (deployed.release_id, "conformance/app:3")
    }
    assert len(after) == 4
    await provider.deprovision(req.instance_id)


async def test_a_crashing_container_shows_its_restarts_and_the_reason(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(replicas=1)
    await provider.provision(req)
    fake.hooks.crash_containers["web"] = 3  # every restart crashes again at once
    for runner in fake.cluster.runners.values():
        slot = runner.slot("web")
        assert slot is not None
        assert slot.proc is not None
        stop_container(fake.cluster.backend, slot.proc)
        slot.proc.exit_code = 3
    for _ in range(300):
        rows = {r.service: r for r in await provider.units(req.instance_id)}
        if rows["web"].restarts >= 2 and "CrashLoopBackOff" in rows["web"].message:
            break
        await asyncio.sleep(0.02)
    web = rows["web"]
    assert web.restarts >= 2, web
    assert web.state is InstanceState.FAILED
    assert not web.ready
    assert web.health == "", "not running: no health"
    assert "CrashLoopBackOff" in web.message
    assert "exited with code 3" in web.message
    assert rows["side"].state is InstanceState.RUNNING
    assert rows["side"].restarts == 0
    await provider.deprovision(req.instance_id)


async def test_a_failing_readiness_probe_is_unhealthy_once_it_had_its_chance(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    check = HealthCheckSpec(path="/healthz", port=8080, interval=timedelta(seconds=1), retries=1)
    req = _request(replicas=1, health_check=check)
    await provider.provision(req)
    fake.hooks.failing_probes.add("web")
    for _ in range(300):
        web = next(r for r in await provider.units(req.instance_id) if r.service == "web")
        if web.health == "unhealthy":
            break
        await asyncio.sleep(0.02)
    assert web.health == "unhealthy", web
    assert (web.state, web.ready) == (InstanceState.STARTING, False)
    await provider.deprovision(req.instance_id)


def _pod(name: str, *, started: str, ready: bool, period: int = 10, threshold: int = 3) -> dict:  # type: ignore[type-arg]
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"ctrlplane.io/track": "stable"},
            "annotations": {"ctrlplane.io/release": "rel_1"},
        },
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": APP,
                    "readinessProbe": {"periodSeconds": period, "failureThreshold": threshold},
                }
            ]
        },
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.9",
            "containerStatuses": [
                {
                    "name": "web",
                    "ready": ready,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": started}},
                }
            ],
        },
    }


def test_health_is_starting_until_the_probe_had_its_chance_then_unhealthy() -> None:
    req = ProvisionRequest(
        instance_id="inst_x",
        tenant_id="t",
        name="x",
        services=[ServiceSpec(name="web", image=APP, health_check=CHECK)],
    )
    start = datetime(2024, 1, 1, tzinfo=UTC)
    pod = _pod("p", started="2024-01-01T00:00:00Z", ready=False)
    (early,) = unit_rows(req, [pod], start + timedelta(seconds=29))
    (late,) = unit_rows(req, [pod], start + timedelta(seconds=31))
    assert (early.health, late.health) == ("starting", "unhealthy")
    (good,) = unit_rows(req, [_pod("p", started="2024-01-01T00:00:00Z", ready=True)], start)
    assert (good.health, good.state, good.ready) == ("healthy", InstanceState.RUNNING, True)
    ended = {**pod, "status": {**pod["status"], "phase": "Failed"}}
    deleting = {**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "2024-01-01T00:01:00Z"}}
    assert unit_rows(req, [ended, deleting], start) == [], (
        "evicted and terminating pods run nothing"
    )
