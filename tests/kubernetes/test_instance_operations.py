"""Operations on an existing instance, on the fake API server: provisioning it again leaves
it as it is, deploys and rollbacks carry rotated secrets, exec picks the pod of the asked
replica, rollout polls read only their pods' Events, and ``info()`` reports the server
version once ``health_check`` read it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ctrlplane.errors import BackendError, DeployFailed, InvalidSpec
from ctrlplane.ids import new_id
from ctrlplane.provider.enums import WorkloadKind
from ctrlplane.provider.kubernetes import KubernetesProvider
from ctrlplane.provider.kubernetes.render.naming import LABEL_INSTANCE, base_name
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
)
from ctrlplane.secrets import MappingResolver

from .conftest import fast_config
from .fake_apiserver import FakeCluster

APP = "conformance/app:1"
JSON = dict[str, Any]


def _request(
    replicas: int = 1, kind: WorkloadKind = WorkloadKind.DEPLOYMENT, **changes: Any
) -> ProvisionRequest:
    web = ServiceSpec(
        name="web",
        image=APP,
        ports=[PortSpec(container=8080)],
        resources=ResourceSpec(replicas=replicas),
    ).model_copy(update=changes)
    return ProvisionRequest(instance_id=new_id("inst"), tenant_id="t1", kind=kind, services=[web])


def _live_pods(fake: FakeCluster, iid: str) -> list[JSON]:
    return [
        o
        for (k, _, _), o in fake.cluster.store.objects.items()
        if k == "Pod"
        and (o["metadata"].get("labels") or {}).get(LABEL_INSTANCE) == iid
        and not o["metadata"].get("deletionTimestamp")
    ]


async def test_provisioning_an_existing_instance_again_changes_nothing(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(env={"MESSAGE": "one"})
    first = await provider.provision(req)
    changed = req.model_copy(
        update={"services": [req.services[0].model_copy(update={"image": "conformance/app:2"})]}
    )
    second = await provider.provision(changed)
    assert second.metadata["release_id"] == first.metadata["release_id"]
    images = {p["spec"]["containers"][0]["image"] for p in _live_pods(fake, req.instance_id)}
    assert images == {APP}
    (release,) = await provider.releases(req.instance_id)
    assert release.service("web").image == APP
    await provider.deprovision(req.instance_id)


@pytest.mark.parametrize("operation", ["deploy", "rollback"])
async def test_deploy_and_rollback_carry_a_rotated_secret(
    fake: FakeCluster, operation: str
) -> None:
    values: dict[str, bytes | str] = {"token": b"first-value"}
    provider = KubernetesProvider(fast_config(fake.kubeconfig), secrets=MappingResolver(values))
    req = _request(secrets=[SecretRef(key="token", target="TOKEN")])
    iid = req.instance_id
    first = await provider.provision(req)
    show = ExecRequest(command=["sh", "-c", "echo $TOKEN"])
    assert (await provider.exec(iid, show)).stdout == b"first-value\n"
    provider = KubernetesProvider(
        fast_config(fake.kubeconfig), secrets=MappingResolver({"token": b"rotated-value"})
    )
    if operation == "deploy":
        deploy = DeployRequest(
            instance_id=iid, services=[ServiceDeploySpec(name="web", image="conformance/app:2")]
        )
        await provider.deploy(deploy)
    else:
        await provider.rollback(iid, first.metadata["release_id"])
    assert (await provider.exec(iid, show)).stdout == b"rotated-value\n"
    for (kind, _, _), obj in fake.cluster.store.objects.items():
        if kind != "Secret" and (obj["metadata"].get("labels") or {}).get(LABEL_INSTANCE) == iid:
            assert "rotated-value" not in repr(obj)
    await provider.deprovision(iid)


async def test_exec_in_a_replica_whose_pod_is_not_running_says_so(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(2, kind=WorkloadKind.STATEFUL_SET)
    iid = req.instance_id
    await provider.provision(req)
    name = f"{base_name(iid)}-0"
    await fake.cluster.runners.pop(("default", name)).stop()
    pod = fake.cluster.store.get("Pod", "default", name)
    assert pod is not None
    pod["status"]["phase"] = "Failed"
    fake.cluster.store.touch(pod)
    with pytest.raises(BackendError) as caught:
        await provider.exec(iid, ExecRequest(command=["true"], replica=0))
    assert "replica 0" in str(caught.value)
    assert "not running" in str(caught.value)
    res = await provider.exec(iid, ExecRequest(command=["true"], replica=1))
    assert res.exit_code == 0
    with pytest.raises(InvalidSpec) as missing:
        await provider.exec(iid, ExecRequest(command=["true"], replica=5))
    assert "no replica 5" in str(missing.value)


async def test_rollout_polls_read_only_the_events_of_their_pods(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    hc = HealthCheckSpec(path="/healthz", port=8080, retries=2)
    req = _request(health_check=hc)
    await provider.provision(req)
    fake.cluster.requests.clear()
    deploy = DeployRequest(
        instance_id=req.instance_id,
        services=[ServiceDeploySpec(name="web", image=APP, env={"HEALTHY": "0"})],
    )
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(deploy)
    assert caught.value.step == "gate"
    assert caught.value.evidence
    event_lists = [path for method, path in fake.cluster.requests if "/events" in path]
    assert event_lists
    for path in event_lists:
        selector = parse_qs(urlsplit(path).query)["fieldSelector"][0]
        assert "involvedObject.uid=" in selector, path
    await provider.deprovision(req.instance_id)


async def test_info_reports_the_server_version_after_health_check(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    assert provider.info().version == ""
    health = await provider.health_check()
    assert health.healthy
    assert provider.info().version == "v1.33.0"
