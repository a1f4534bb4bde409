"""Work that must finish, on the fake API server: the cleanup after a failed or cancelled
provision (awaited, reported when it fails, not detached by a second cancel), the restore
of a cancelled deploy, the removal of the blue-green/canary set, and the one progress
deadline of a whole deploy."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import pytest

from ctrlplane.errors import BackendError, DeployFailed, ProvisionFailed
from ctrlplane.ids import new_id
from ctrlplane.provider.enums import DeployStrategy, InstanceState
from ctrlplane.provider.events import ProgressEvent, StepStarted, UnitStarted
from ctrlplane.provider.kubernetes import KubernetesProvider
from ctrlplane.provider.kubernetes.render.naming import ANN_RELEASE, LABEL_INSTANCE, LABEL_TRACK
from ctrlplane.provider.spec import (
    DeployRequest,
    HealthCheckSpec,
    PortSpec,
    ProvisionRequest,
    ResourceSpec,
    ServiceDeploySpec,
    ServiceSpec,
)

from .conftest import fast_config
from .fake_apiserver import FakeCluster

APP = "conformance/app:1"
JSON = dict[str, Any]

SLOW_GATE = HealthCheckSpec(path="/healthz", port=8080, retries=1000)
"""A probe that fails for a long time before the gate gives up (``HEALTHY=0`` pods stay
not ready until the deadline)."""


def _request(replicas: int = 1, **changes: Any) -> ProvisionRequest:
    web = ServiceSpec(
        name="web",
        image=APP,
        ports=[PortSpec(container=8080)],
        health_check=SLOW_GATE,
        resources=ResourceSpec(replicas=replicas),
    ).model_copy(update=changes)
    return ProvisionRequest(instance_id=new_id("inst"), tenant_id="t1", services=[web])


def _objects(fake: FakeCluster, iid: str) -> list[str]:
    """Every object of the instance still in the store (terminating pods included)."""
    return sorted(
        f"{k}/{o['metadata']['name']}"
        for (k, _, _), o in fake.cluster.store.objects.items()
        if (o["metadata"].get("labels") or {}).get(LABEL_INSTANCE) == iid
    )


def _pods(fake: FakeCluster, iid: str) -> list[JSON]:
    return [
        o
        for (k, _, _), o in fake.cluster.store.objects.items()
        if k == "Pod" and (o["metadata"].get("labels") or {}).get(LABEL_INSTANCE) == iid
    ]


def _cancel_on(steps: dict[str, int], task: Callable[[], asyncio.Task[Any]]) -> Any:
    """A subscriber that cancels the running operation when a step in ``steps`` starts
    (``steps[name]`` times: once per cancel)."""

    def seen(event: ProgressEvent) -> None:
        if isinstance(event, StepStarted) and steps.get(event.step, 0) > 0:
            steps[event.step] -= 1
            task().cancel()

    return seen


async def test_failed_provision_is_cleaned_up_before_it_raises(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    fake.hooks.broken_images.add("conformance/app:2")
    req = _request(2, image="conformance/app:2")
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(req)
    assert caught.value.step == "pull"
    assert "cleanup also failed" not in str(caught.value)
    assert _objects(fake, req.instance_id) == []  # gone already, pods included


async def test_a_lease_lost_while_a_failed_provision_cleans_up_reports_the_failure(
    fake: FakeCluster,
) -> None:
    """The provision fails (an image that cannot be pulled), its cleanup hangs on the API
    server, and another holder takes the lease meanwhile: the error is the provision's
    own failure, with a note on the lost lease, not a ``LeaseLost`` that hides where it
    stopped."""
    provider = KubernetesProvider(fast_config(fake.kubeconfig, lease_ttl=0.6, request_timeout=2))
    fake.hooks.broken_images.add("conformance/app:2")
    fake.hooks.stalled_deletes.add("Deployment")
    req = _request(image="conformance/app:2")
    task = asyncio.create_task(provider.provision(req))
    async with asyncio.timeout(10):
        while not fake.hooks.stalled:  # noqa: ASYNC110 - the fake has no event for it
            await asyncio.sleep(0.05)
    store = fake.cluster.store
    lease = next(o for (k, _, _), o in store.objects.items() if k == "Lease")
    taken = copy.deepcopy(lease)
    taken["spec"]["holderIdentity"] = "other-host/4242/abcd"
    store.put(taken)  # another holder took it over: the renewal meets a newer version
    with pytest.raises(ProvisionFailed) as caught:
        await asyncio.wait_for(task, 30)
    assert caught.value.step == "pull"
    assert any("lost its operation lease" in n for n in caught.value.__notes__)
    fake.hooks.stalled_deletes.clear()


async def test_failed_cleanup_is_reported_with_the_provision_error(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    fake.hooks.broken_images.add("conformance/app:2")
    fake.hooks.refused_deletes.add("Service")
    req = _request(image="conformance/app:2")
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(req)
    message = str(caught.value)
    assert caught.value.step == "pull"
    assert "cannot be pulled" in message
    assert "cleanup also failed" in message
    assert "Service" in message
    assert "forbidden" in message
    assert "deprovision" in message
    fake.hooks.refused_deletes.clear()
    await provider.deprovision(req.instance_id)
    assert _objects(fake, req.instance_id) == []


async def test_provision_cancelled_twice_still_cleans_up_before_returning(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(2, env={"HEALTHY": "0"})  # never ready: provision waits at "start"
    task: asyncio.Task[Any] | None = None

    def seen(event: ProgressEvent) -> None:
        if isinstance(event, StepStarted) and event.step == "start":
            assert task is not None
            task.cancel()
            asyncio.get_running_loop().call_later(0.01, task.cancel)  # again, mid-cleanup

    task = asyncio.create_task(provider.provision(req, events=seen))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _objects(fake, req.instance_id) == []


async def test_deploy_cancelled_again_during_restore_returns_restored(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(2)
    first = await provider.provision(req)
    old = first.metadata["release_id"]
    iid = req.instance_id
    task: asyncio.Task[Any] | None = None
    seen = _cancel_on({"rollout": 1, "restore": 1}, lambda: task)  # type: ignore[arg-type,return-value]
    deploy = DeployRequest(
        instance_id=iid, services=[ServiceDeploySpec(name="web", image=APP, env={"HEALTHY": "0"})]
    )
    task = asyncio.create_task(provider.deploy(deploy, events=seen))
    with pytest.raises(asyncio.CancelledError):
        await task
    live = [p for p in _pods(fake, iid) if not p["metadata"].get("deletionTimestamp")]
    assert {p["metadata"]["annotations"][ANN_RELEASE] for p in live} == {old}, live
    assert len(live) == 2
    status = await provider.status(iid)
    assert status.state is InstanceState.RUNNING, status
    assert status.ready, status
    assert (await provider.releases(iid))[0].release_id == old
    await provider.deprovision(iid)


@pytest.mark.parametrize(
    ("strategy", "track"),
    [(DeployStrategy.BLUE_GREEN, "green"), (DeployStrategy.CANARY, "canary")],
)
async def test_cancel_during_removal_of_the_second_set_still_removes_it(
    fake: FakeCluster, strategy: DeployStrategy, track: str
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(2, health_check=HealthCheckSpec(path="/healthz", port=8080, retries=2))
    await provider.provision(req)
    iid = req.instance_id
    task: asyncio.Task[Any] | None = None
    seen = _cancel_on({f"remove-{track}": 1}, lambda: task)  # type: ignore[arg-type,return-value]
    deploy = DeployRequest(
        instance_id=iid,
        strategy=strategy,
        services=[ServiceDeploySpec(name="web", image="conformance/app:2")],
    )
    task = asyncio.create_task(provider.deploy(deploy, events=seen))
    with pytest.raises(asyncio.CancelledError):
        await task
    left = [o for o in _objects(fake, iid) if o.startswith("Deployment/") and o.endswith(track)]
    assert left == []
    assert not [p for p in _pods(fake, iid) if p["metadata"]["labels"].get(LABEL_TRACK) == track]
    images = {p["spec"]["containers"][0]["image"] for p in _pods(fake, iid)}
    assert images == {"conformance/app:2"}  # promoted before the cancel
    await provider.deprovision(iid)


def _fail_pod_reads_once_new_pods_run(fake: FakeCluster, old: str, times: int) -> Any:
    """A subscriber that makes the next ``times`` GETs of pods answer 500 as soon as a pod
    of a release other than ``old`` is seen running (once)."""
    armed = [True]

    def seen(event: ProgressEvent) -> None:
        if isinstance(event, UnitStarted) and event.release_id != old and armed[0]:
            armed[0] = False
            fake.hooks.failing_reads["Pod"] = times

    return seen


@pytest.mark.parametrize(
    ("strategy", "track"),
    [(DeployStrategy.BLUE_GREEN, "green"), (DeployStrategy.CANARY, "canary")],
)
async def test_api_error_while_waiting_on_the_second_set_removes_it_then_raises(
    fake: FakeCluster, strategy: DeployStrategy, track: str
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(2)
    first = await provider.provision(req)
    old, iid = first.metadata["release_id"], req.instance_id
    deploy = DeployRequest(  # new pods stay not ready: the wait polls until the 500
        instance_id=iid,
        strategy=strategy,
        services=[ServiceDeploySpec(name="web", image="conformance/app:2", env={"HEALTHY": "0"})],
    )
    seen = _fail_pod_reads_once_new_pods_run(fake, old, 1)
    with pytest.raises(BackendError) as caught:
        await provider.deploy(deploy, events=seen)
    assert caught.value.status == 500, caught.value
    assert "failed too" not in str(caught.value)
    left = [o for o in _objects(fake, iid) if o.startswith("Deployment/") and o.endswith(track)]
    assert left == []
    assert not [p for p in _pods(fake, iid) if p["metadata"]["labels"].get(LABEL_TRACK) == track]
    live = [p for p in _pods(fake, iid) if not p["metadata"].get("deletionTimestamp")]
    assert {p["spec"]["containers"][0]["image"] for p in live} == {APP}
    assert {p["metadata"]["annotations"][ANN_RELEASE] for p in live} == {old}
    assert (await provider.releases(iid))[0].release_id == old
    await provider.deprovision(iid)


async def test_api_error_and_failed_removal_of_the_second_set_are_both_reported(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(2)
    first = await provider.provision(req)
    old, iid = first.metadata["release_id"], req.instance_id
    deploy = DeployRequest(
        instance_id=iid,
        strategy=DeployStrategy.CANARY,
        services=[ServiceDeploySpec(name="web", image="conformance/app:2", env={"HEALTHY": "0"})],
    )
    seen = _fail_pod_reads_once_new_pods_run(fake, old, 2)  # the wait's, then the removal's
    with pytest.raises(BackendError) as caught:
        await provider.deploy(deploy, events=seen)
    message = str(caught.value)
    assert caught.value.status == 500, message
    assert "restoring the previous release failed too" in message
    assert "list pods" in message.split("failed too", 1)[1]
    await provider.deprovision(iid)
    assert _objects(fake, iid) == []


async def test_api_error_during_a_rolling_deploy_restores_the_previous_release(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(2)
    first = await provider.provision(req)
    old, iid = first.metadata["release_id"], req.instance_id
    deploy = DeployRequest(
        instance_id=iid,
        services=[ServiceDeploySpec(name="web", image="conformance/app:2", env={"HEALTHY": "0"})],
    )
    seen = _fail_pod_reads_once_new_pods_run(fake, old, 1)
    with pytest.raises(BackendError) as caught:
        await provider.deploy(deploy, events=seen)
    assert caught.value.status == 500, caught.value
    live = [p for p in _pods(fake, iid) if not p["metadata"].get("deletionTimestamp")]
    assert {p["spec"]["containers"][0]["image"] for p in live} == {APP}
    assert (await provider.releases(iid))[0].release_id == old
    status = await provider.status(iid)
    assert status.state is InstanceState.RUNNING, status
    await provider.deprovision(iid)


async def test_progress_deadline_bounds_the_whole_deploy_not_each_wait(
    fake: FakeCluster,
) -> None:
    # every new pod needs 30 s x 0.05 (the fake's time scale) = 1.5 s before its first
    # probe; a canary deploy waits twice (canary, then promotion): 3 s in all, over the
    # 2.2 s deadline although each wait alone fits in it
    config = fast_config(
        fake.kubeconfig, probe_start_period=30, progress_deadline=2.2, restore_timeout=15
    )
    provider = KubernetesProvider(config)
    req = _request(1, health_check=HealthCheckSpec(path="/healthz", port=8080, retries=2))
    first = await provider.provision(req)
    deploy = DeployRequest(
        instance_id=req.instance_id,
        strategy=DeployStrategy.CANARY,
        services=[ServiceDeploySpec(name="web", image="conformance/app:2")],
    )
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(deploy)
    assert "within 2.2s" in caught.value.reason
    assert caught.value.rolled_back
    history = await provider.releases(req.instance_id)
    assert history[0].release_id == first.metadata["release_id"]
    images = {p["spec"]["containers"][0]["image"] for p in _pods(fake, req.instance_id)}
    assert images == {APP}
    await provider.deprovision(req.instance_id)
