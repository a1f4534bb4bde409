"""Strategies beyond the conformance suite, on the fake API server: the partitioned canary
of StatefulSets (per-replica volumes kept), StatefulSet roll-backs that need the forced
rollback, blue-green refused for StatefulSets with the reason, the blue-green retire delay,
and the step and unit events of deploys and provisions."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from ctrlplane.errors import (
    BackendError,
    DeployFailed,
    NotSupported,
    ProvisionFailed,
)
from ctrlplane.ids import new_id
from ctrlplane.provider.enums import DeployStrategy, ServiceRole, VolumeType, WorkloadKind
from ctrlplane.provider.events import (
    ProgressEvent,
    StepStarted,
    TrafficSwitched,
    UnitRemoved,
    UnitStarted,
)
from ctrlplane.provider.kubernetes import KubernetesProvider
from ctrlplane.provider.kubernetes.render.naming import LABEL_INSTANCE, base_name
from ctrlplane.provider.kubernetes.strategies import canary_split
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    HealthCheckSpec,
    PortSpec,
    ProvisionRequest,
    ResourceSpec,
    SecretRef,
    ServiceDeploySpec,
    ServiceSpec,
    VolumeSpec,
)
from ctrlplane.secrets import MappingResolver
from ctrlplane.testing.conformance import check_step_pairs

from .conftest import fast_config
from .fake_apiserver import FakeCluster

APP = "conformance/app:1"
HC = HealthCheckSpec(path="/healthz", port=8080, retries=2)

JSON = dict[str, Any]


def _request(
    replicas: int, kind: WorkloadKind = WorkloadKind.STATEFUL_SET, **changes: Any
) -> ProvisionRequest:
    web = ServiceSpec(
        name="web",
        image=APP,
        ports=[PortSpec(container=8080)],
        health_check=HC,
        env={"MESSAGE": "old"},
        resources=ResourceSpec(replicas=replicas),
        volumes=[VolumeSpec(name="data", mount_path="/data", type=VolumeType.PERSISTENT)]
        if kind is WorkloadKind.STATEFUL_SET
        else [],
    ).model_copy(update=changes)
    return ProvisionRequest(instance_id=new_id("inst"), tenant_id="t1", kind=kind, services=[web])


def _pods(fake: FakeCluster, iid: str) -> dict[str, JSON]:
    """Live pods of the instance by name."""
    return {
        o["metadata"]["name"]: o
        for (k, _, _), o in fake.cluster.store.objects.items()
        if k == "Pod"
        and (o["metadata"].get("labels") or {}).get(LABEL_INSTANCE) == iid
        and not o["metadata"].get("deletionTimestamp")
    }


def _images(fake: FakeCluster, iid: str) -> dict[str, str]:
    return {n: p["spec"]["containers"][0]["image"] for n, p in sorted(_pods(fake, iid).items())}


def _uids(fake: FakeCluster, iid: str) -> dict[str, str]:
    return {n: p["metadata"]["uid"] for n, p in _pods(fake, iid).items()}


def _units(events: list[ProgressEvent], kind: type[Any], release: str) -> set[tuple[str, int]]:
    return {
        (e.service, e.replica) for e in events if isinstance(e, kind) and e.release_id == release
    }


async def _write_per_replica(provider: KubernetesProvider, iid: str, replicas: int) -> None:
    for r in range(replicas):
        cmd = ["sh", "-c", f"echo replica-{r} > /data/f"]
        assert (await provider.exec(iid, ExecRequest(command=cmd, replica=r))).exit_code == 0


async def _read_per_replica(provider: KubernetesProvider, iid: str, replicas: int) -> list[bytes]:
    return [
        (await provider.exec(iid, ExecRequest(command=["cat", "/data/f"], replica=r))).stdout
        for r in range(replicas)
    ]


def test_canary_split_keeps_an_old_pod_while_there_are_two() -> None:
    assert canary_split(0, 1) == (0, 0)
    assert canary_split(1, 3) == (1, 0)
    assert canary_split(3, 1) == (1, 2)
    assert canary_split(3, 5) == (2, 1)


async def test_stateful_set_canary_updates_the_highest_ordinal_first_and_keeps_volumes(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(3)
    await provider.provision(req)
    iid, base = req.instance_id, base_name(req.instance_id)
    before = await provider.releases(iid)
    await _write_per_replica(provider, iid, 3)
    seen: list[ProgressEvent] = []
    at_observe: dict[str, str] = {}

    def subscriber(event: ProgressEvent) -> None:
        seen.append(event)
        if isinstance(event, StepStarted) and event.step == "observe":
            at_observe.update(_images(fake, iid))

    new = ServiceDeploySpec(name="web", image="conformance/app:2", env={"MESSAGE": "new"})
    result = await provider.deploy(
        DeployRequest(instance_id=iid, services=[new], strategy=DeployStrategy.CANARY),
        events=subscriber,
    )
    assert at_observe == {
        f"{base}-0": APP,
        f"{base}-1": APP,
        f"{base}-2": "conformance/app:2",
    }, "only the highest ordinal runs the canary while it is observed"
    assert set(_images(fake, iid).values()) == {"conformance/app:2"}
    assert await _read_per_replica(provider, iid, 3) == [
        b"replica-0\n",
        b"replica-1\n",
        b"replica-2\n",
    ]
    finished = check_step_pairs(seen)
    assert [f.step for f in finished] == ["start-canary", "observe", "promote"]
    assert all(f.ok for f in finished)
    first_new = next(e for e in seen if isinstance(e, UnitStarted))
    assert (first_new.service, first_new.replica, first_new.release_id) == (
        "web",
        2,
        result.release_id,
    )
    assert _units(seen, UnitStarted, result.release_id) == {("web", 0), ("web", 1), ("web", 2)}
    assert _units(seen, UnitRemoved, before[0].release_id) == {("web", 0), ("web", 1), ("web", 2)}
    history = await provider.releases(iid)
    assert (history[0].release_id, history[0].strategy) == (result.release_id, "canary")
    (sts,) = [
        o
        for (k, _, _), o in fake.cluster.store.objects.items()
        if k == "StatefulSet" and o["metadata"]["name"] == base
    ]
    assert "rollingUpdate" not in sts["spec"]["updateStrategy"], "promotion removed the partition"
    await provider.deprovision(iid)


@pytest.mark.parametrize("strategy", [DeployStrategy.CANARY, DeployStrategy.ROLLING], ids=str)
async def test_failed_stateful_set_deploy_replaces_only_the_failed_pod_and_restores_it(
    fake: FakeCluster, strategy: DeployStrategy
) -> None:
    """The pod of the failed version is not ready, so an OrderedReady StatefulSet would
    never replace it after the template is reverted; the provider deletes it."""
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(3)
    await provider.provision(req)
    iid, base = req.instance_id, base_name(req.instance_id)
    await _write_per_replica(provider, iid, 3)
    before = await provider.releases(iid)
    uids = _uids(fake, iid)
    seen: list[ProgressEvent] = []
    bad = ServiceDeploySpec(name="web", image="conformance/app:3", env={"HEALTHY": "0"})
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(
            DeployRequest(instance_id=iid, services=[bad], strategy=strategy), events=seen.append
        )
    assert (caught.value.strategy, caught.value.step) == (strategy.value, "gate")
    assert caught.value.rolled_back
    assert caught.value.evidence
    assert all(r.replica == 2 and not r.healthy for r in caught.value.evidence)
    after = _uids(fake, iid)
    assert [after[f"{base}-{n}"] for n in (0, 1)] == [uids[f"{base}-{n}"] for n in (0, 1)]
    assert after[f"{base}-2"] != uids[f"{base}-2"]
    assert set(_images(fake, iid).values()) == {APP}
    status = await provider.status(iid)
    assert status.ready, status
    assert await provider.releases(iid) == before
    assert await _read_per_replica(provider, iid, 3) == [
        b"replica-0\n",
        b"replica-1\n",
        b"replica-2\n",
    ]
    finished = check_step_pairs(seen)
    assert [(f.step, f.ok) for f in finished][-2:] == [
        (finished[-2].step, False),
        ("restore", True),
    ]
    assert finished[-2].detail.startswith("gate: ")
    assert seen[-1].kind == "rolled_back"
    await provider.deprovision(iid)


async def test_cancelled_stateful_set_canary_restores_the_old_pods(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(2)
    await provider.provision(req)
    iid = req.instance_id
    never = ServiceDeploySpec(
        name="web",
        image="conformance/app:4",
        env={"HEALTHY": "0"},
        health_check=HC.model_copy(update={"retries": 100_000}),
    )
    task = asyncio.create_task(
        provider.deploy(
            DeployRequest(instance_id=iid, services=[never], strategy=DeployStrategy.CANARY)
        )
    )
    for _ in range(500):
        if "conformance/app:4" in _images(fake, iid).values():
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the canary pod never started")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert set(_images(fake, iid).values()) == {APP}
    assert (await provider.status(iid)).ready
    await provider.deprovision(iid)


async def test_blue_green_of_a_stateful_set_is_refused_with_the_reason(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(1)
    await provider.provision(req)
    iid = req.instance_id
    uids = _uids(fake, iid)
    before = await provider.releases(iid)
    spec = ServiceDeploySpec(name="web", image="conformance/app:2")
    with pytest.raises(NotSupported) as caught:
        await provider.deploy(
            DeployRequest(instance_id=iid, services=[spec], strategy=DeployStrategy.BLUE_GREEN)
        )
    assert caught.value.capability == "strategy:blue-green"
    message = str(caught.value)
    assert "volume" in message
    assert "'canary'" in message
    assert _uids(fake, iid) == uids
    assert await provider.releases(iid) == before
    await provider.deprovision(iid)


async def test_blue_green_keeps_the_old_pods_for_the_retire_delay(fake: FakeCluster) -> None:
    delay = 1.0
    provider = KubernetesProvider(fast_config(fake.kubeconfig, blue_green_retire_delay=delay))
    req = _request(2, kind=WorkloadKind.DEPLOYMENT)
    await provider.provision(req)
    iid = req.instance_id
    old_release = (await provider.releases(iid))[0].release_id
    old_pods = set(_pods(fake, iid))
    seen: list[ProgressEvent] = []
    during_delay: list[set[str]] = []

    def subscriber(event: ProgressEvent) -> None:
        seen.append(event)
        if isinstance(event, StepStarted) and event.step == "retire-delay":
            during_delay.append(set(_pods(fake, iid)))

    new = ServiceDeploySpec(name="web", image="conformance/app:2", env={"MESSAGE": "new"})
    result = await provider.deploy(
        DeployRequest(instance_id=iid, services=[new], strategy=DeployStrategy.BLUE_GREEN),
        events=subscriber,
    )
    finished = check_step_pairs(seen)
    assert [f.step for f in finished] == [
        "start-green",
        "switch-traffic",
        "retire-delay",
        "promote",
        "remove-green",
    ]
    assert old_pods <= during_delay[0], "the old pods are still there after the switch"
    switched = next(e for e in seen if isinstance(e, TrafficSwitched))
    retired = [e for e in seen if isinstance(e, UnitRemoved) and e.release_id == old_release]
    assert {(e.service, e.replica) for e in retired} == {("web", 0), ("web", 1)}
    assert min(e.at for e in retired) >= switched.at
    assert (min(e.at for e in retired) - switched.at).total_seconds() >= delay
    new_units = [
        e for e in seen if isinstance(e, UnitRemoved) and e.release_id == result.release_id
    ]
    assert {(e.service, e.replica) for e in new_units} == {("web", 0), ("web", 1)}, (
        "the green set is removed once the main controller runs the new version"
    )
    await provider.deprovision(iid)


async def test_cancel_during_the_retire_delay_switches_back_to_the_old_pods(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig, blue_green_retire_delay=30))
    req = _request(2, kind=WorkloadKind.DEPLOYMENT)
    await provider.provision(req)
    iid = req.instance_id
    before = await provider.releases(iid)
    old_pods = set(_pods(fake, iid))
    holding = asyncio.Event()

    def subscriber(event: ProgressEvent) -> None:
        if isinstance(event, StepStarted) and event.step == "retire-delay":
            holding.set()

    new = ServiceDeploySpec(name="web", image="conformance/app:2", env={"MESSAGE": "new"})
    task = asyncio.create_task(
        provider.deploy(
            DeployRequest(instance_id=iid, services=[new], strategy=DeployStrategy.BLUE_GREEN),
            events=subscriber,
        )
    )
    async with asyncio.timeout(15):
        await holding.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert set(_pods(fake, iid)) == old_pods, "the old pods were kept and the green ones removed"
    (service,) = [
        o
        for (k, _, _), o in fake.cluster.store.objects.items()
        if k == "Service" and o["metadata"]["name"] == base_name(iid)
    ]
    assert service["spec"]["selector"]["ctrlplane.io/serving"] == "main"
    status, body = fake.cluster.http_get(f"{base_name(iid)}.default.svc", 8080, "/")
    assert (status, body) == (200, b"old")
    assert await provider.releases(iid) == before
    await provider.deprovision(iid)


async def test_provision_reports_ordinals_inits_and_secret_resolution(fake: FakeCluster) -> None:
    provider = KubernetesProvider(
        fast_config(fake.kubeconfig), secrets=MappingResolver({"token": b"abc"})
    )
    init = ServiceSpec(name="migrate", image=APP, role=ServiceRole.INIT, command=["true"])
    req = _request(2, secrets=[SecretRef(key="token")])
    req = req.model_copy(update={"services": [*req.services, init]})
    seen: list[ProgressEvent] = []
    result = await provider.provision(req, events=seen.append)
    finished = check_step_pairs(seen)
    assert [(f.step, f.ok) for f in finished] == [
        ("resolve-secrets", True),
        ("apply", True),
        ("start", True),
    ]
    release = result.metadata["release_id"]
    assert _units(seen, UnitStarted, release) == {
        ("migrate", 0),
        ("web", 0),
        ("migrate", 1),
        ("web", 1),
    }
    assert "abc" not in repr(seen)
    await provider.deprovision(req.instance_id)


async def test_failed_provision_finishes_the_open_step_with_the_reason(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    fake.hooks.broken_images.add("conformance/app:2")
    req = _request(1, kind=WorkloadKind.DEPLOYMENT, image="conformance/app:2")
    seen: list[ProgressEvent] = []
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(req, events=seen.append)
    assert caught.value.step == "pull"
    finished = check_step_pairs(seen)
    assert [(f.step, f.ok) for f in finished] == [("apply", True), ("start", False)]
    assert finished[-1].detail.startswith("pull: image 'conformance/app:2' of web")


async def test_scale_whose_new_pod_crash_loops_says_why(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(1, kind=WorkloadKind.DEPLOYMENT)
    await provider.provision(req)
    fake.hooks.crash_containers["web"] = 2
    with pytest.raises(BackendError) as caught:
        await provider.scale(req.instance_id, ResourceSpec(replicas=2))
    # the first exit is seen (any exit is a crash), or the kubelet's back-off after it
    why = r"failed at start: web (exited with code 2 |is failing: CrashLoopBackOff \(exit code 2\))"
    assert re.search(why, str(caught.value)), caught.value
    assert "the previous pods were restored" in str(caught.value)
    fake.hooks.crash_containers.clear()
    await provider.deprovision(req.instance_id)
