"""What only the API server refuses, handled as the real server answers it (issue 13):
everything it would refuse of a request is refused before anything is applied; what it
refuses in server-side apply (a 500 from structured-merge-diff) is ``NotSupported`` or
``InvalidSpec``, and ``ProvisionFailed`` at step ``apply`` in a provision, with nothing
left; a pod the scheduler cannot place fails provision at once with its reason, and a
scale that cannot be placed is undone; a 1.21 server gets no claim retention policy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from lightkube import ApiError

from ctrlplane.errors import BackendError, InvalidSpec, NotSupported, ProvisionFailed
from ctrlplane.ids import new_id
from ctrlplane.provider.enums import VolumeType, WorkloadKind
from ctrlplane.provider.kubernetes import KubernetesProvider
from ctrlplane.provider.kubernetes.client import connect, translate
from ctrlplane.provider.kubernetes.render.naming import LABEL_INSTANCE
from ctrlplane.provider.spec import (
    PortSpec,
    ProvisionRequest,
    ResourceSpec,
    ServiceSpec,
    VolumeSpec,
)

from .conftest import IMAGES, fast_config
from .fake_apiserver import FakeCluster, running_fake

APP = "conformance/app:1"
JSON = dict[str, Any]


def _request(kind: WorkloadKind = WorkloadKind.DEPLOYMENT, **changes: Any) -> ProvisionRequest:
    web = ServiceSpec(name="web", image=APP, ports=[PortSpec(container=8080)])
    return ProvisionRequest(
        instance_id=new_id("inst"),
        tenant_id="t1",
        kind=kind,
        services=[web.model_copy(update=changes)],
    )


def _objects(fake: FakeCluster, iid: str, kind: str | None = None) -> list[JSON]:
    return [
        o
        for (k, _, _), o in fake.cluster.store.objects.items()
        if (kind is None or k == kind)
        and (o["metadata"].get("labels") or {}).get(LABEL_INSTANCE) == iid
    ]


def _writes(fake: FakeCluster) -> list[str]:
    """Every write a provider sent, but its operation lease's."""
    return [
        f"{m} {p}"
        for m, p in fake.cluster.requests
        if m in ("POST", "PUT", "PATCH", "DELETE") and "/leases" not in p
    ]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"annotations": {"bad key!": "x"}}, "services[0].annotations", id="key"),
        pytest.param(
            {"annotations": {"example.com/a": "x" * (256 * 1024)}},
            "services[*].annotations",
            id="size",
        ),
        pytest.param(
            {"volumes": [VolumeSpec(name="v" * 60, mount_path="/data")]},
            "services[0].volumes[0].name",
            id="volume name of 60",
        ),
    ],
)
async def test_what_the_server_would_refuse_is_refused_before_any_write(
    fake: FakeCluster, changes: dict[str, Any], path: str
) -> None:
    """A real server answered 422 at the Deployment after the Secrets, ConfigMap and
    Services were applied: here nothing is sent."""
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(**changes)
    fake.cluster.requests.clear()
    with pytest.raises(InvalidSpec) as caught:
        await provider.provision(req)
    assert any(p.path.startswith(path) for p in caught.value.problems), caught.value
    assert not _writes(fake)
    assert not _objects(fake, req.instance_id)


async def test_a_volume_name_of_59_characters_fits_its_pod_volume(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(volumes=[VolumeSpec(name="v" * 59, mount_path="/data")])
    await provider.provision(req)
    (dep,) = _objects(fake, req.instance_id, "Deployment")
    names = [v["name"] for v in dep["spec"]["template"]["spec"]["volumes"]]
    assert "vol-" + "v" * 59 in names
    await provider.deprovision(req.instance_id)


async def test_env_names_are_checked_against_the_servers_version(tmp_path: Path) -> None:
    """Before 1.32 an env var name must look like a C identifier; from 1.32 any printable
    ASCII but '=' goes. Refused on an old server before anything is written."""
    odd = _request(env={"1ST-VALUE": "x"})
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    async with running_fake(tmp_path / "old", IMAGES, version=(1, 21)) as old:
        provider = KubernetesProvider(fast_config(old.kubeconfig))
        old.cluster.requests.clear()
        with pytest.raises(InvalidSpec) as caught:
            await provider.provision(odd)
        assert caught.value.problems[0].path == "services[0].env['1ST-VALUE']"
        assert "1.21" in caught.value.problems[0].message
        assert not _writes(old)
    async with running_fake(tmp_path / "new", IMAGES, version=(1, 33)) as new:
        provider = KubernetesProvider(fast_config(new.kubeconfig))
        await provider.provision(odd)
        await provider.deprovision(odd.instance_id)


async def test_server_side_apply_refusals_are_not_supported_or_invalid(fake: FakeCluster) -> None:
    """A real server answers 500 "failed to create typed patch object" for what
    structured-merge-diff refuses: a field it does not declare is NotSupported, a value
    of the wrong type InvalidSpec (never a bare BackendError)."""
    fake.cluster.version = (1, 21)
    config = fast_config(fake.kubeconfig)
    sts: JSON = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default", "labels": {"app": "db"}},
        "spec": {
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": APP}]},
            },
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain"},
        },
    }
    async with connect(config) as cluster:
        with pytest.raises(NotSupported) as unknown:
            await cluster.apply([sts], "test")
    assert "persistentVolumeClaimRetentionPolicy" in str(unknown.value)
    # lightkube checks types before sending; a server's type refusal (as the recorded
    # 1.21 answered) is read the same way
    recorded = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "failed to create typed patch object: .spec.replicas: expected numeric "
        "(int or float), got string",
        "code": 500,
    }
    answer = httpx2.Response(
        500, json=recorded, request=httpx2.Request("PATCH", "http://server/apis/apps/v1")
    )
    wrong = translate(ApiError(request=answer.request, response=answer), "apply StatefulSet db")
    assert isinstance(wrong, InvalidSpec)
    assert wrong.problems[0].path == "spec.replicas"
    assert "expected numeric" in wrong.problems[0].message


async def test_an_apply_the_server_refuses_fails_provision_at_apply_and_leaves_nothing(
    fake: FakeCluster,
) -> None:
    fake.hooks.undeclared_fields["Deployment"] = ".spec.template.spec.os"
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request()
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(req)
    assert caught.value.step == "apply"
    assert "spec.template.spec.os" in caught.value.reason
    assert isinstance(caught.value.__cause__, NotSupported)
    assert not _objects(fake, req.instance_id), "the Service applied first is removed too"


async def test_a_pod_no_node_can_run_fails_provision_at_once_with_the_schedulers_reason(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig, provision_timeout=30))
    req = _request(resources=ResourceSpec(cpu_millis=64000))
    began = time.monotonic()
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(req)
    assert time.monotonic() - began < 10, "it did not wait for the provision timeout"
    assert caught.value.step == "schedule"
    assert "0/1 nodes are available: 1 Insufficient cpu." in caught.value.reason
    assert not _objects(fake, req.instance_id)


async def test_a_scale_no_node_can_run_is_undone(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request()
    await provider.provision(req)
    iid = req.instance_id
    with pytest.raises(BackendError) as caught:
        await provider.scale(iid, ResourceSpec(cpu_millis=64000))
    assert "failed at schedule" in str(caught.value)
    assert "Insufficient cpu" in str(caught.value)
    assert "the previous pods were restored" in str(caught.value)
    (dep,) = _objects(fake, iid, "Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert "resources" not in container, "the previous template is applied again"
    pods = [p for p in _objects(fake, iid, "Pod") if not p["metadata"].get("deletionTimestamp")]
    assert len(pods) == 1
    assert pods[0]["spec"].get("nodeName"), "the pod that runs is a scheduled one"
    status = await provider.status(iid)
    assert status.ready, status
    await provider.deprovision(iid)


async def test_keep_volumes_on_a_1_21_server_sends_no_claim_retention_policy(
    tmp_path: Path,
) -> None:
    """The field is 1.23+; a 1.21 server refused it (500), and keeps claims anyway."""
    req = _request(
        WorkloadKind.STATEFUL_SET,
        volumes=[VolumeSpec(name="data", mount_path="/data", type=VolumeType.PERSISTENT)],
    )
    async with running_fake(tmp_path, IMAGES, version=(1, 21)) as fake:
        provider = KubernetesProvider(fast_config(fake.kubeconfig, keep_volumes=True))
        await provider.provision(req)
        (sts,) = _objects(fake, req.instance_id, "StatefulSet")
        assert "persistentVolumeClaimRetentionPolicy" not in sts["spec"]
        await provider.deprovision(req.instance_id)
        assert [o["kind"] for o in _objects(fake, req.instance_id)] == ["PersistentVolumeClaim"]
