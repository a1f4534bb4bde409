"""The pure translation (``manifests.render``): every manifest it can produce is valid against
the official OpenAPI schemas (kubernetes-validate, strict, one cached validator per kind) and
the API server's semantic rules, and maps the spec as documented."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from ctrlplane.errors import InvalidSpec
from ctrlplane.ids import new_id
from ctrlplane.provider.enums import SecretType, ServiceRole, VolumeType, WorkloadKind
from ctrlplane.provider.kubernetes import KubernetesConfig
from ctrlplane.provider.kubernetes.config import ServiceType
from ctrlplane.provider.kubernetes.render import (
    Features,
    RenderInputs,
    aux_workload,
    canary_stateful_set,
    container_layout,
    render,
    secret_key,
    switched_service,
)
from ctrlplane.provider.kubernetes.render.naming import LABEL_INSTANCE, LABEL_MANAGED_BY
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import (
    ConfigFile,
    HealthCheckSpec,
    PortSpec,
    ProvisionRequest,
    ResourceSpec,
    SecretRef,
    ServiceSpec,
    VolumeSpec,
)

from .fake_apiserver.schemas import Invalid, check_schema, check_semantics

SECRET_VALUE = b"s3cr3t-value-123"

VERSIONS = [(1, 21), (1, 25), (1, 29), (1, 33), (1, 37)]


def _full(kind: WorkloadKind) -> ProvisionRequest:
    hc_http = HealthCheckSpec(path="/healthz", port=8080, interval=timedelta(seconds=2), retries=4)
    return ProvisionRequest(
        instance_id=new_id("inst"),
        tenant_id="acme",
        name="shop",
        kind=kind,
        labels={"team": "payments", LABEL_MANAGED_BY: "someone-else"},
        services=[
            ServiceSpec(
                name="web",
                image="example/web:1",
                resources=ResourceSpec(
                    cpu_millis=250, memory_mb=128, disk_mb=512, replicas=2, gpu="1"
                ),
                env={"MODE": "prod"},
                ports=[PortSpec(container=8080), PortSpec(container=9090, protocol="udp")],
                volumes=[
                    VolumeSpec(name="data", mount_path="/data", size_mb=256),
                    VolumeSpec(
                        name="scratch", mount_path="/tmp/s", size_mb=64, type=VolumeType.TMPFS
                    ),
                ],
                health_check=hc_http,
                secrets=[
                    SecretRef(key="db/password"),
                    SecretRef(key="tls-cert", type=SecretType.TLS),
                    SecretRef(key="cfg", type=SecretType.FILE, target="/etc/app/secret.txt"),
                    SecretRef(key="pull", type=SecretType.REGISTRY),
                ],
                config_files=[
                    ConfigFile(name="app", path="/etc/app/config.json", format="json", content="{}")
                ],
                annotations={"example.com/owner": "team-a"},
                command=["/bin/web"],
                args=["--port", "8080"],
                depends_on=["db"],
            ),
            ServiceSpec(
                name="db",
                image="example/db:1",
                role=ServiceRole.SIDECAR,
                health_check=HealthCheckSpec(port=5432),
                volumes=[VolumeSpec(name="data", mount_path="/var/lib/db")],
                depends_on=["migrate-2"],
            ),
            ServiceSpec(
                name="agent",
                image="example/agent:1",
                role=ServiceRole.SIDECAR,
                health_check=HealthCheckSpec(command=["agent", "check"]),
                depends_on=["web"],
            ),
            ServiceSpec(
                name="migrate-2",
                image="example/m:1",
                role=ServiceRole.INIT,
                depends_on=["migrate-1"],
            ),
            ServiceSpec(name="migrate-1", image="example/m:1", role=ServiceRole.INIT),
        ],
    )


def _minimal(kind: WorkloadKind) -> ProvisionRequest:
    return ProvisionRequest(
        instance_id=new_id("inst"), kind=kind, services=[ServiceSpec(name="app", image="busybox:1")]
    )


def _values(req: ProvisionRequest) -> dict[str, bytes]:
    return {
        secret_key(s.name, i): SECRET_VALUE for s in req.services for i, _ in enumerate(s.secrets)
    }


CONFIGS = [
    KubernetesConfig(),
    KubernetesConfig(
        namespace="apps",
        labels={"cost-center": "42"},
        image_pull_secrets=["regcred"],
        storage_class="fast",
        service_type=ServiceType.LOAD_BALANCER,
        keep_volumes=True,
    ),
]

CASES = [
    (builder, kind, native, config_index)
    for builder in (_full, _minimal)
    for kind in WorkloadKind
    for native in (True, False)
    for config_index in range(len(CONFIGS))
]


def _render(
    req: ProvisionRequest,
    native: bool,
    config: KubernetesConfig,
    version: tuple[int, int] = (1, 33),
) -> list[JSON]:
    """The manifests for a server of ``version`` (native sidecars where asked)."""
    features = Features(native_sidecars=native, claim_retention=version >= (1, 23))
    inputs = RenderInputs(release_id=new_id("rel"), features=features, secret_values=_values(req))
    return render(req, config, inputs).all()


@pytest.mark.parametrize(("builder", "kind", "native", "config_index"), CASES)
def test_every_manifest_is_valid_for_the_servers_it_targets(
    builder: object, kind: WorkloadKind, native: bool, config_index: int
) -> None:
    assert callable(builder)
    req = builder(kind)
    for version in VERSIONS:
        if native and version < (1, 29):
            continue  # native sidecars are only rendered for 1.29+ servers
        for obj in _render(req, native, CONFIGS[config_index], version):
            check_schema(obj, version)
            check_semantics(obj, version)


def test_a_claim_retention_policy_is_only_rendered_for_servers_that_declare_it() -> None:
    """``keep_volumes`` writes ``persistentVolumeClaimRetentionPolicy`` (1.23+), which a
    1.21 server refuses; there it is left out (those servers keep claims anyway)."""
    req = _full(WorkloadKind.STATEFUL_SET)
    keep = KubernetesConfig(keep_volumes=True)
    new = _render(req, False, keep, (1, 23))[-1]
    assert new["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    with pytest.raises(Invalid, match="persistentVolumeClaimRetentionPolicy"):
        check_schema(new, (1, 21))
    old = _render(req, False, keep, (1, 21))[-1]
    assert "persistentVolumeClaimRetentionPolicy" not in old["spec"]
    check_schema(old, (1, 21))


def _derived(
    req: ProvisionRequest, native: bool, config: KubernetesConfig, version: tuple[int, int]
) -> list[JSON]:
    """The objects deploys derive from the rendered ones: the canary or green Deployment
    and the switched Service (Deployments), the partitioned StatefulSet (StatefulSets)."""
    objects = _render(req, native, config, version)
    workload = objects[-1]
    out: list[JSON] = []
    if workload["kind"] == "Deployment":
        out += [
            aux_workload(workload, track="canary", serving="main", replicas=1),
            aux_workload(workload, track="green", serving="green", replicas=2),
        ]
        out += [switched_service(o, "green") for o in objects if o["kind"] == "Service"]
    else:
        old = _render(req, native, config, version)[-1]
        out.append(canary_stateful_set(workload, old, partition=1))
    return out


@pytest.mark.parametrize(("builder", "kind", "native", "config_index"), CASES)
def test_every_derived_manifest_is_valid_for_the_servers_it_targets(
    builder: object, kind: WorkloadKind, native: bool, config_index: int
) -> None:
    assert callable(builder)
    for version in VERSIONS:
        if native and version < (1, 29):
            continue
        objects = _derived(builder(kind), native, CONFIGS[config_index], version)
        assert objects
        for obj in objects:
            check_schema(obj, version)
            check_semantics(obj, version)


def test_canary_stateful_set_has_the_new_template_the_old_record_and_a_partition() -> None:
    req = _full(WorkloadKind.STATEFUL_SET)
    old = _render(req, True, KubernetesConfig())[-1]
    changed = req.model_copy(
        update={
            "services": [
                req.services[0].model_copy(update={"image": "example/web:2"}),
                *req.services[1:],
            ]
        }
    )
    new = render(changed, KubernetesConfig(), RenderInputs(release_id="rel_new")).workload
    canary = canary_stateful_set(new, old, partition=1)
    assert canary["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 1},
    }
    assert canary["spec"]["template"] == new["spec"]["template"]
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "example/web:2"
    assert canary["metadata"]["annotations"] == old["metadata"]["annotations"]
    assert "rollingUpdate" not in new["spec"]["updateStrategy"], "render itself never partitions"
    with pytest.raises(ValueError, match="two StatefulSets"):
        canary_stateful_set(
            _render(_minimal(WorkloadKind.DEPLOYMENT), True, KubernetesConfig())[-1], old, 1
        )


def test_the_validator_rejects_what_a_server_rejects() -> None:
    """The checks used above are not vacuous."""
    req = _full(WorkloadKind.DEPLOYMENT)
    workload = _render(req, True, KubernetesConfig())[-1]
    with pytest.raises(Invalid):
        check_schema(workload, (1, 21))  # native sidecars on a pre-1.28 server
    broken = json.loads(json.dumps(workload))
    broken["spec"]["template"]["spec"]["containers"][0]["bogus"] = 1
    with pytest.raises(Invalid):
        check_schema(broken, (1, 33))
    mismatch = json.loads(json.dumps(workload))
    mismatch["spec"]["selector"]["matchLabels"][LABEL_INSTANCE] = "other"
    with pytest.raises(Invalid):
        check_semantics(mismatch, (1, 33))


def _workload(objects: list[JSON]) -> JSON:
    return objects[-1]


def test_inits_in_order_then_native_sidecars_then_main_then_dependants() -> None:
    req = _full(WorkloadKind.DEPLOYMENT)
    pod = _workload(_render(req, True, KubernetesConfig()))["spec"]["template"]["spec"]
    inits = [(c["name"], c.get("restartPolicy")) for c in pod["initContainers"]]
    assert inits == [("migrate-1", None), ("migrate-2", None), ("db", "Always")]
    assert [c["name"] for c in pod["containers"]] == ["web", "agent"]
    db = pod["initContainers"][2]
    assert (
        db["startupProbe"]
        == db["readinessProbe"]
        == {
            "tcpSocket": {"port": 5432},
            "periodSeconds": 10,
            "timeoutSeconds": 1,
            "failureThreshold": 3,
            "successThreshold": 1,
        }
    )


def test_without_native_sidecars_every_long_lived_service_is_a_container() -> None:
    req = _full(WorkloadKind.DEPLOYMENT)
    pod = _workload(_render(req, False, KubernetesConfig()))["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["migrate-1", "migrate-2"]
    assert [c["name"] for c in pod["containers"]] == ["db", "web", "agent"]
    assert all("restartPolicy" not in c for c in pod["initContainers"] + pod["containers"])
    layout = container_layout(req.services, native_sidecars=False)
    assert [s.name for s in layout.native] == []


def test_probes_resources_env_and_mounts_of_the_main_container() -> None:
    req = _full(WorkloadKind.DEPLOYMENT)
    objects = _render(req, True, KubernetesConfig())
    web = _workload(objects)["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert (web["readinessProbe"]["periodSeconds"], web["readinessProbe"]["failureThreshold"]) == (
        2,
        4,
    )
    assert "startupProbe" not in web
    assert web["resources"]["limits"] == {
        "cpu": "250m",
        "memory": "128Mi",
        "ephemeral-storage": "512Mi",
        "nvidia.com/gpu": "1",
    }
    assert web["command"] == ["/bin/web"]
    assert web["args"] == ["--port", "8080"]
    env = {e["name"]: e for e in web["env"]}
    assert env["MODE"] == {"name": "MODE", "value": "prod"}
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "web.0"
    mounts = {m["mountPath"]: m for m in web["volumeMounts"]}
    assert mounts["/run/secrets/tls-cert"]["subPath"] == "web.1"
    assert mounts["/etc/app/secret.txt"]["subPath"] == "web.2"
    assert mounts["/etc/app/config.json"]["name"] == "config"
    assert mounts["/data"]["name"] == "vol-data"
    agent = _workload(objects)["spec"]["template"]["spec"]["containers"][1]
    assert agent["readinessProbe"]["exec"] == {"command": ["agent", "check"]}


def test_labels_selector_host_aliases_and_replicas() -> None:
    req = _full(WorkloadKind.DEPLOYMENT)
    config = KubernetesConfig(labels={"team": "from-config", "cost-center": "42"})
    objects = _render(req, True, config)
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels[LABEL_MANAGED_BY] == "ctrlplane", "reserved labels win"
        assert labels[LABEL_INSTANCE] == req.instance_id
        assert labels["team"] == "payments", "request labels win over config labels"
        assert labels["cost-center"] == "42"
    workload = _workload(objects)
    assert workload["kind"] == "Deployment"
    assert workload["spec"]["replicas"] == 2
    assert workload["spec"]["selector"]["matchLabels"] == {
        LABEL_INSTANCE: req.instance_id,
        "ctrlplane.io/track": "stable",
    }
    service = next(o for o in objects if o["kind"] == "Service")
    assert service["spec"]["selector"] == {
        LABEL_INSTANCE: req.instance_id,
        "ctrlplane.io/serving": "main",
    }
    pod = workload["spec"]["template"]["spec"]
    assert pod["hostAliases"] == [
        {"ip": "127.0.0.1", "hostnames": ["web", "db", "agent", "migrate-2", "migrate-1"]}
    ]
    assert pod["imagePullSecrets"] == [
        {"name": f"cp-{req.instance_id.replace('_', '-')}-registry-0"}
    ]
    assert workload["spec"]["template"]["metadata"]["annotations"]["example.com/owner"] == "team-a"


def test_secret_values_appear_only_in_secret_objects() -> None:
    req = _full(WorkloadKind.STATEFUL_SET)
    objects = _render(req, True, KubernetesConfig())
    encoded = base64.b64encode(SECRET_VALUE).decode()
    for obj in objects:
        text = json.dumps(obj)
        assert SECRET_VALUE.decode() not in text
        if obj["kind"] != "Secret":
            assert encoded not in text
    secrets = [o for o in objects if o["kind"] == "Secret"]
    assert {s["type"] for s in secrets} == {"Opaque", "kubernetes.io/dockerconfigjson"}
    redacted = render(req, KubernetesConfig(), RenderInputs(release_id="rel_x"))
    assert encoded not in json.dumps(redacted.all()), "a render without values is redacted"


def test_stateful_set_has_headless_service_and_claim_templates() -> None:
    req = _full(WorkloadKind.STATEFUL_SET)
    objects = _render(req, True, KubernetesConfig(storage_class="fast"))
    kinds = [o["kind"] for o in objects]
    assert "PersistentVolumeClaim" not in kinds
    sts = _workload(objects)
    assert sts["kind"] == "StatefulSet"
    headless = next(o for o in objects if o["metadata"]["name"] == sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    claims = sts["spec"]["volumeClaimTemplates"]
    assert [c["metadata"]["name"] for c in claims] == ["vol-data"]
    assert claims[0]["spec"]["storageClassName"] == "fast"
    assert claims[0]["spec"]["resources"]["requests"]["storage"] == "256Mi"


def test_deployment_persistent_volumes_are_claims() -> None:
    req = _full(WorkloadKind.DEPLOYMENT)
    objects = _render(req, True, KubernetesConfig())
    claims = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert len(claims) == 1
    volumes = _workload(objects)["spec"]["template"]["spec"]["volumes"]
    by_name = {v["name"]: v for v in volumes}
    assert (
        by_name["vol-data"]["persistentVolumeClaim"]["claimName"] == claims[0]["metadata"]["name"]
    )
    assert by_name["vol-scratch"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"}


def test_invalid_request_labels_are_refused_with_their_path() -> None:
    req = _minimal(WorkloadKind.DEPLOYMENT).model_copy(update={"labels": {"bad key!": "x"}})
    with pytest.raises(InvalidSpec) as caught:
        render(req, KubernetesConfig(), RenderInputs(release_id="rel_x"))
    assert caught.value.problems[0].path.startswith("labels[")
