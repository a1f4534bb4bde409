"""Operations you can trust, on the fake API server (issue 12): the operation lease is a
``coordination.k8s.io`` Lease held while a mutating call works and gone after; a second
caller waits, then gets ``InstanceBusy``; an operation killed mid-way (SIGKILL) is
repaired by the next mutating call and ``status`` says so meanwhile; a crash within the
stability window is a crash; ``status`` never quotes the instance's secret values; the
API server lost mid-provision is ``BackendUnavailable``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ctrlplane.errors import (
    BackendUnavailable,
    DeployFailed,
    InstanceBusy,
    InstanceNotFound,
    ProvisionFailed,
)
from ctrlplane.ids import new_id
from ctrlplane.provider.enums import DeployStrategy, ServiceRole
from ctrlplane.provider.kubernetes import KubernetesConfig, KubernetesProvider
from ctrlplane.provider.kubernetes.render.naming import (
    ANN_OPERATION,
    LABEL_INSTANCE,
    LABEL_SERVING,
    base_name,
)
from ctrlplane.provider.spec import (
    DeployRequest,
    HealthCheckSpec,
    PortSpec,
    ProvisionRequest,
    ResourceSpec,
    SecretRef,
    ServiceDeploySpec,
    ServiceSpec,
)
from ctrlplane.secrets import MappingResolver
from ctrlplane.testing.conformance.busybox import http_script

from .conftest import fast_config
from .fake_apiserver import FakeCluster

APP = "conformance/app:1"
JSON = dict[str, Any]
KILLED = Path(__file__).parent / "killed_operation.py"


def _web(**changes: Any) -> ServiceSpec:
    spec = ServiceSpec(
        name="web",
        image=APP,
        ports=[PortSpec(container=8080)],
        command=["sh", "-c", http_script(8080)],
        health_check=HealthCheckSpec(path="/healthz", port=8080),
    )
    return spec.model_copy(update=changes)


def _request(*services: ServiceSpec, replicas: int = 1) -> ProvisionRequest:
    main = services[0].model_copy(update={"resources": ResourceSpec(replicas=replicas)})
    return ProvisionRequest(
        instance_id=new_id("inst"), tenant_id="t1", services=[main, *services[1:]]
    )


def _objects(fake: FakeCluster, iid: str, kind: str | None = None) -> list[JSON]:
    return [
        o
        for (k, _, _), o in fake.cluster.store.objects.items()
        if (kind is None or k == kind)
        and (o["metadata"].get("labels") or {}).get(LABEL_INSTANCE) == iid
    ]


async def _until(check: Callable[[], Awaitable[Any]], what: str, limit: float = 20) -> Any:
    async with asyncio.timeout(limit):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.02)
    pytest.fail(f"never: {what}")  # pragma: no cover - the timeout raises first


def _deploy(iid: str, image: str = "conformance/app:2", **env: str) -> DeployRequest:
    return DeployRequest(
        instance_id=iid,
        services=[ServiceDeploySpec(name="web", image=image, env=env)],
        strategy=DeployStrategy.CANARY,
    )


async def test_a_mutating_call_holds_a_lease_object_and_removes_it(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig, canary_observation=1.0))
    req = _request(_web())
    await provider.provision(req)
    iid = req.instance_id
    assert not _objects(fake, iid, "Lease"), "provision released its lease"
    deploy = asyncio.create_task(provider.deploy(_deploy(iid)))

    async def observing() -> JSON | None:
        leases = _objects(fake, iid, "Lease")
        record = json.loads(leases[0]["metadata"]["annotations"][ANN_OPERATION]) if leases else {}
        return leases[0] if record.get("intent", {}).get("phase") == "observe" else None

    lease = await _until(observing, "the deploy's lease in phase observe")
    assert lease["metadata"]["name"] == base_name(iid)
    assert lease["apiVersion"] == "coordination.k8s.io/v1"
    record = json.loads(lease["metadata"]["annotations"][ANN_OPERATION])
    assert record["operation"] == "deploy"
    assert lease["spec"]["holderIdentity"] == record["holder"]
    assert lease["spec"]["leaseDurationSeconds"] == 3
    assert record["intent"]["strategy"] == "canary"
    status = await provider.status(iid)
    assert status.metadata["operation_state"] == "running"
    assert status.metadata["operation"].startswith("deploy by ")
    assert status.metadata["operation_phase"] == "observe"
    await deploy
    assert not _objects(fake, iid, "Lease")
    await provider.deprovision(iid)
    assert not _objects(fake, iid), "deprovision leaves nothing, its Lease included"


async def test_a_second_caller_waits_for_the_lease_then_is_busy(fake: FakeCluster) -> None:
    config = fast_config(fake.kubeconfig, canary_observation=1.5)
    first = KubernetesProvider(config)
    req = _request(_web())
    await first.provision(req)
    iid = req.instance_id
    deploy = asyncio.create_task(first.deploy(_deploy(iid)))
    await _until(lambda: asyncio.sleep(0, _objects(fake, iid, "Lease")), "the deploy's lease")
    impatient = KubernetesProvider(fast_config(fake.kubeconfig, lock_wait=0.3))
    with pytest.raises(InstanceBusy) as caught:
        await impatient.scale(iid, ResourceSpec(replicas=2))
    assert caught.value.operation == "deploy"
    assert not deploy.done()
    patient = KubernetesProvider(fast_config(fake.kubeconfig, lock_wait=20))
    await patient.scale(iid, ResourceSpec(replicas=2))  # waits for the deploy, then scales
    assert deploy.done()
    live = (await patient.releases(iid))[0]
    pods = [p for p in _objects(fake, iid, "Pod") if not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == 2
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {live.service("web").image}
    await first.deprovision(iid)


async def _run_and_kill(
    fake: FakeCluster, operation: str, body: str, reached: Callable[[], bool]
) -> None:
    """Run ``operation`` of ``body`` in another process (its lease lasts 0.5 s) and kill it
    with SIGKILL once ``reached()`` is true."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRLPLANE_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(KILLED),
        str(fake.kubeconfig),
        operation,
        body,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            while not reached():
                if process.returncode is not None:
                    assert process.stderr is not None
                    pytest.fail(f"the operation ended: {(await process.stderr.read()).decode()}")
                await asyncio.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()


def _phase(fake: FakeCluster, iid: str, phase: str) -> bool:
    for lease in _objects(fake, iid, "Lease"):
        record = json.loads(lease["metadata"]["annotations"][ANN_OPERATION])
        if record["intent"].get("phase") == phase:
            return True
    return False


async def test_a_canary_deploy_killed_mid_way_is_undone_by_the_next_call(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(_web(env={"MESSAGE": "v1"}), replicas=2)
    await provider.provision(req)
    iid = req.instance_id
    live = (await provider.releases(iid))[0].release_id
    deploy = _deploy(iid, MESSAGE="v2").model_dump_json()
    await _run_and_kill(fake, "deploy", deploy, lambda: _phase(fake, iid, "observe"))
    canary = f"{base_name(iid)}-canary"
    assert fake.cluster.store.get("Deployment", "default", canary) is not None
    await asyncio.sleep(0.6)  # its lease (0.5 s) expires: the deploy is interrupted
    status = await provider.status(iid)
    assert status.metadata["operation_state"] == "interrupted"
    assert status.metadata["operation_phase"] == "observe"
    assert "deploy interrupted" in status.message
    assert "removes any canary or green set" in status.metadata["operation_repair"]
    await provider.scale(iid, ResourceSpec(replicas=2))  # the next mutating call repairs
    assert fake.cluster.store.get("Deployment", "default", canary) is None
    assert (await provider.releases(iid))[0].release_id == live
    pods = [p for p in _objects(fake, iid, "Pod") if not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == 2
    assert {p["metadata"]["annotations"]["ctrlplane.io/release"] for p in pods} == {live}
    for _ in range(4):
        assert fake.cluster.http_get(f"{base_name(iid)}.default.svc", 8080, "/")[1] == b"v1"
    status = await provider.status(iid)
    assert "operation" not in status.metadata
    assert status.ready
    await provider.deprovision(iid)
    assert not _objects(fake, iid)


async def test_a_blue_green_deploy_killed_after_the_switch_switches_back(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(_web(env={"MESSAGE": "v1"}))
    await provider.provision(req)
    iid = req.instance_id
    body = _deploy(iid, MESSAGE="v2").model_copy(update={"strategy": DeployStrategy.BLUE_GREEN})
    await _run_and_kill(
        fake, "deploy", body.model_dump_json(), lambda: _phase(fake, iid, "retire-delay")
    )
    service = fake.cluster.store.get("Service", "default", base_name(iid))
    assert service is not None
    assert service["spec"]["selector"][LABEL_SERVING] == "green", "killed after the switch"
    await asyncio.sleep(0.6)
    await provider.restart(iid)  # repairs, then restarts
    service = fake.cluster.store.get("Service", "default", base_name(iid))
    assert service is not None
    assert service["spec"]["selector"][LABEL_SERVING] == "main"
    assert fake.cluster.store.get("Deployment", "default", f"{base_name(iid)}-green") is None
    assert fake.cluster.http_get(f"{base_name(iid)}.default.svc", 8080, "/")[1] == b"v1"
    await provider.deprovision(iid)


async def test_a_provision_killed_mid_way_is_deleted_by_the_next_call(fake: FakeCluster) -> None:
    slow = ServiceSpec(
        name="setup", image=APP, role=ServiceRole.INIT, command=["sh", "-c", "sleep 60"]
    )
    req = _request(_web(), slow)
    iid = req.instance_id
    await _run_and_kill(
        fake, "provision", req.model_dump_json(), lambda: _phase(fake, iid, "start")
    )
    assert _objects(fake, iid, "Deployment")
    await asyncio.sleep(0.6)
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    status = await provider.status(iid)
    assert status.metadata["operation_state"] == "interrupted"
    assert "deletes what this provision made" in status.metadata["operation_repair"]
    with pytest.raises(InstanceNotFound):
        await provider.stop(iid)  # the repair deleted the half-made instance first
    assert not _objects(fake, iid), "nothing is left, its Lease included"


async def test_a_main_that_crashes_within_the_stability_window_fails_provision(
    fake: FakeCluster,
) -> None:
    late = ServiceSpec(name="app", image=APP, command=["sh", "-c", "sleep 0.4; exit 1"])
    steady = KubernetesProvider(fast_config(fake.kubeconfig, stability_window=2))
    req = _request(late)
    with pytest.raises(ProvisionFailed) as caught:
        await steady.provision(req)
    assert caught.value.step == "start"
    assert "app" in caught.value.reason
    assert not _objects(fake, req.instance_id)
    hasty = KubernetesProvider(fast_config(fake.kubeconfig, stability_window=0.05))
    again = _request(late)
    await hasty.provision(again)  # a window shorter than the crash sees it up
    await hasty.deprovision(again.instance_id)


async def test_a_release_that_crashes_soon_after_it_is_ready_is_rolled_back(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig, stability_window=2))
    req = _request(_web(env={"MESSAGE": "v1"}))
    await provider.provision(req)
    iid = req.instance_id
    rolling = _deploy(iid, MESSAGE="v2", CRASH_AFTER="0.4").model_copy(
        update={"strategy": DeployStrategy.ROLLING}
    )
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(rolling)
    assert "stability window" in caught.value.reason or "failing" in caught.value.reason
    assert fake.cluster.http_get(f"{base_name(iid)}.default.svc", 8080, "/")[1] == b"v1"
    await provider.deprovision(iid)


async def test_status_never_quotes_the_instances_secret_values(fake: FakeCluster) -> None:
    secret = "s3cr3t-token-4d9f1b"
    provider = KubernetesProvider(
        fast_config(fake.kubeconfig), secrets=MappingResolver({"token": secret})
    )
    req = _request(_web(secrets=[SecretRef(key="token", target="TOKEN")]))
    await provider.provision(req)
    iid = req.instance_id
    (pod,) = _objects(fake, iid, "Pod")
    runner = fake.cluster.runners[("default", pod["metadata"]["name"])]
    slot = runner.slot("web")
    assert slot is not None
    slot.waiting = ("CreateContainerConfigError", f"cannot use TOKEN={secret}")
    runner.sync()
    status = await KubernetesProvider(fast_config(fake.kubeconfig)).status(iid)
    assert "CreateContainerConfigError" in status.services["web"].message
    assert secret not in status.model_dump_json()
    assert "[redacted]" in status.services["web"].message
    slot.waiting = None
    runner.sync()
    await provider.deprovision(iid)


async def test_the_api_server_lost_mid_provision_is_backend_unavailable(
    fake: FakeCluster,
) -> None:
    slow = ServiceSpec(
        name="setup", image=APP, role=ServiceRole.INIT, command=["sh", "-c", "sleep 60"]
    )
    provider = KubernetesProvider(fast_config(fake.kubeconfig, request_timeout=1))
    req = _request(_web(), slow)
    task = asyncio.create_task(provider.provision(req))
    await _until(
        lambda: asyncio.sleep(0, _objects(fake, req.instance_id, "Pod")), "the provision's pod"
    )
    await fake.server.disconnect()
    with pytest.raises(BackendUnavailable) as caught:
        await asyncio.wait_for(task, 30)
    assert not isinstance(caught.value, ProvisionFailed)
    assert "cleanup also failed" in str(caught.value), "the error names what was left"


def test_lease_settings_come_from_the_environment() -> None:
    config = KubernetesConfig.from_env(
        {"CTRLPLANE_K8S_LEASE_TTL": "45s", "CTRLPLANE_K8S_LOCK_WAIT": "2m"}
    )
    assert config.lease_ttl.total_seconds() == 45
    assert config.lock_wait.total_seconds() == 120
    with pytest.raises(ValueError, match="more than 0"):
        KubernetesConfig(lease_ttl=0)
