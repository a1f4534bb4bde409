"""Backend behaviour beyond the conformance suite, on the fake API server: old servers,
StatefulSets and their claims, failure reasons in status, deploy failures, errors, config."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from pathlib import Path

import pytest

from ctrlplane.errors import (
    BackendUnavailable,
    DeployFailed,
    InvalidSpec,
    NotSupported,
    ProvisionFailed,
)
from ctrlplane.ids import new_id
from ctrlplane.provider.enums import (
    DeployStrategy,
    InstanceState,
    ServiceRole,
    VolumeType,
    WorkloadKind,
)
from ctrlplane.provider.events import ProgressEvent
from ctrlplane.provider.kubernetes import KubernetesConfig, KubernetesProvider, ServiceType
from ctrlplane.provider.kubernetes.render.naming import LABEL_INSTANCE, base_name
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    HealthCheckSpec,
    LogOptions,
    PortSpec,
    ProvisionRequest,
    ResourceSpec,
    ServiceDeploySpec,
    ServiceSpec,
    VolumeSpec,
)
from ctrlplane.testing.runtime import stop_container

from .conftest import IMAGES, fast_config
from .fake_apiserver import FakeCluster, running_fake

APP = "conformance/app:1"


def _request(
    *services: ServiceSpec, kind: WorkloadKind = WorkloadKind.DEPLOYMENT
) -> ProvisionRequest:
    return ProvisionRequest(
        instance_id=new_id("inst"), tenant_id="t1", name="demo", kind=kind, services=list(services)
    )


def _web(**changes: object) -> ServiceSpec:
    spec = ServiceSpec(name="web", image=APP, ports=[PortSpec(container=8080)])
    return spec.model_copy(update=changes)


def _objects(fake: FakeCluster, iid: str, kind: str | None = None) -> list[dict[str, object]]:
    return [
        o
        for (k, _, _), o in fake.cluster.store.objects.items()
        if (kind is None or k == kind)
        and (o["metadata"].get("labels") or {}).get(LABEL_INSTANCE) == iid
    ]


async def test_old_server_runs_sidecars_as_containers_and_exec_without_stdin_close(
    tmp_path: Path,
) -> None:
    async with running_fake(tmp_path, IMAGES, version=(1, 21)) as fake:
        provider = KubernetesProvider(fast_config(fake.kubeconfig))
        side = ServiceSpec(name="side", image=APP, role=ServiceRole.SIDECAR)
        req = _request(_web(depends_on=["side"]), side)
        await provider.provision(req)
        (dep,) = _objects(fake, req.instance_id, "Deployment")
        pod = dep["spec"]["template"]["spec"]  # type: ignore[index]
        assert [c["name"] for c in pod["containers"]] == ["side", "web"]
        assert "initContainers" not in pod
        res = await provider.exec(req.instance_id, ExecRequest(command=["echo", "hi"]))
        assert (res.exit_code, res.stdout) == (0, b"hi\n")
        with pytest.raises(NotSupported):
            await provider.exec(req.instance_id, ExecRequest(command=["cat"], stdin=b"x"))
        with pytest.raises(NotSupported) as caught:
            await provider.exec(req.instance_id, ExecRequest(command=["sh"], tty=True))
        assert "without tty" in str(caught.value)
        await provider.deprovision(req.instance_id)
        assert not _objects(fake, req.instance_id)


async def test_native_sidecars_on_an_old_server_are_refused_before_anything_is_made(
    tmp_path: Path,
) -> None:
    async with running_fake(tmp_path, IMAGES, version=(1, 27)) as fake:
        provider = KubernetesProvider(fast_config(fake.kubeconfig, sidecars="native"))
        side = ServiceSpec(name="side", image=APP, role=ServiceRole.SIDECAR)
        req = _request(_web(depends_on=["side"]), side)
        with pytest.raises(NotSupported) as caught:
            await provider.provision(req)
        assert "1.27" in str(caught.value)
        assert "'containers'" in str(caught.value)
        assert not _objects(fake, req.instance_id)
        plain = _request(_web())  # nothing to run as a native sidecar: provisioned as is
        await provider.provision(plain)
        await provider.deprovision(plain.instance_id)


async def test_recent_server_uses_native_sidecars(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    side = ServiceSpec(name="side", image=APP, role=ServiceRole.SIDECAR)
    req = _request(_web(), side)
    await provider.provision(req)
    (dep,) = _objects(fake, req.instance_id, "Deployment")
    inits = dep["spec"]["template"]["spec"]["initContainers"]  # type: ignore[index]
    assert [(c["name"], c["restartPolicy"]) for c in inits] == [("side", "Always")]
    await provider.deprovision(req.instance_id)


async def test_stateful_set_claims_survive_restart_and_go_with_deprovision(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    web = _web(volumes=[VolumeSpec(name="data", mount_path="/data", type=VolumeType.PERSISTENT)])
    req = _request(web, kind=WorkloadKind.STATEFUL_SET)
    result = await provider.provision(req)
    assert result.metadata["kind"] == "StatefulSet"
    iid = req.instance_id
    wrote = await provider.exec(iid, ExecRequest(command=["sh", "-c", "echo kept > /data/f"]))
    assert wrote.exit_code == 0
    await provider.restart(iid)
    res = await provider.exec(iid, ExecRequest(command=["cat", "/data/f"]))
    assert res.stdout == b"kept\n"
    claims = _objects(fake, iid, "PersistentVolumeClaim")
    assert [c["metadata"]["name"] for c in claims] == [f"vol-data-{base_name(iid)}-0"]  # type: ignore[index]
    await provider.deprovision(iid)
    assert not _objects(fake, iid)


async def test_keep_volumes_keeps_claims(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig, keep_volumes=True))
    web = _web(volumes=[VolumeSpec(name="data", mount_path="/data")])
    req = _request(web)
    await provider.provision(req)
    await provider.deprovision(req.instance_id)
    left = _objects(fake, req.instance_id)
    assert [o["kind"] for o in left] == ["PersistentVolumeClaim"]


async def test_crash_loop_shows_as_failed_with_the_reason(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    side = ServiceSpec(name="side", image=APP, role=ServiceRole.SIDECAR)
    req = _request(_web(), side)
    await provider.provision(req)
    fake.hooks.crash_containers["side"] = 2  # every restart crashes again at once
    for runner in fake.cluster.runners.values():  # the running container exits now
        slot = runner.slot("side")
        assert slot is not None
        assert slot.proc is not None
        stop_container(fake.cluster.backend, slot.proc)
        slot.proc.exit_code = 2
    for _ in range(200):  # it exited (failed), then the kubelet backs off restarting it
        status = await provider.status(req.instance_id)
        if "CrashLoopBackOff" in status.services["side"].message:
            break
        await asyncio.sleep(0.02)
    assert status.services["side"].state is InstanceState.FAILED, status
    assert "CrashLoopBackOff" in status.services["side"].message
    assert status.state is InstanceState.FAILED
    assert not status.ready
    assert status.restarts >= 1
    await provider.deprovision(req.instance_id)


async def test_unpullable_image_fails_provision_at_pull(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    fake.hooks.broken_images.add("conformance/app:2")
    req = _request(_web(image="conformance/app:2"))
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(req)
    assert caught.value.step == "pull"
    assert "conformance/app:2" in str(caught.value)
    for _ in range(200):
        if not _objects(fake, req.instance_id):
            break
        await asyncio.sleep(0.02)
    assert not _objects(fake, req.instance_id)


async def test_deploy_of_an_unpullable_image_restores_the_previous_release(
    fake: FakeCluster,
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(_web(health_check=HealthCheckSpec(path="/healthz", port=8080)))
    await provider.provision(req)
    before = await provider.releases(req.instance_id)
    fake.hooks.broken_images.add("conformance/app:3")
    deploy = DeployRequest(
        instance_id=req.instance_id,
        services=[ServiceDeploySpec(name="web", image="conformance/app:3")],
    )
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(deploy)
    assert (caught.value.strategy, caught.value.step) == ("rolling", "pull")
    assert await provider.releases(req.instance_id) == before
    status = await provider.status(req.instance_id)
    assert status.ready
    await provider.deprovision(req.instance_id)


async def test_failing_probe_hook_makes_the_service_not_ready(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(_web(health_check=HealthCheckSpec(path="/healthz", port=8080, retries=1)))
    await provider.provision(req)
    fake.hooks.failing_probes.add("web")
    for _ in range(200):
        status = await provider.status(req.instance_id)
        if not status.ready:
            break
        await asyncio.sleep(0.02)
    assert not status.services["web"].ready
    assert status.state is InstanceState.STARTING
    await provider.deprovision(req.instance_id)


async def test_missing_metrics_api_is_not_supported(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    req = _request(_web())
    await provider.provision(req)
    fake.hooks.metrics_api = False
    with pytest.raises(NotSupported):
        await provider.resources(req.instance_id)
    await provider.deprovision(req.instance_id)


async def test_unreachable_server_is_backend_unavailable(tmp_path: Path) -> None:
    from .fake_apiserver import write_kubeconfig

    kubeconfig = write_kubeconfig(tmp_path / "kc", "http://127.0.0.1:9")
    provider = KubernetesProvider(fast_config(kubeconfig, request_timeout=2))
    with pytest.raises(BackendUnavailable):
        await provider.status(new_id("inst"))
    health = await provider.health_check()
    assert not health.healthy


async def test_health_check_reports_the_server_version(fake: FakeCluster) -> None:
    health = await KubernetesProvider(fast_config(fake.kubeconfig)).health_check()
    assert health.healthy
    assert health.message == "Kubernetes 1.33"


def test_config_reads_the_environment() -> None:
    env = {
        "CTRLPLANE_K8S_NAMESPACE": "apps",
        "CTRLPLANE_K8S_LABELS": '{"team": "a"}',
        "CTRLPLANE_K8S_PROGRESS_DEADLINE": "1m30s",
        "CTRLPLANE_K8S_SERVICE_TYPE": "NodePort",
    }
    config = KubernetesConfig.from_env(env, keep_volumes=True)
    assert (config.namespace, config.labels, config.keep_volumes) == ("apps", {"team": "a"}, True)
    assert config.progress_deadline.total_seconds() == 90
    with pytest.raises(InvalidSpec) as caught:
        KubernetesConfig.from_env({"CTRLPLANE_K8S_NAMESPACE": "Not Valid"})
    assert "namespace" in str(caught.value)
    with pytest.raises(InvalidSpec):
        KubernetesConfig.from_env({"CTRLPLANE_K8S_LABELS": "{not json"})


def test_every_config_field_describes_itself_in_the_json_schema() -> None:
    properties = KubernetesConfig.model_json_schema()["properties"]
    assert set(properties) == set(KubernetesConfig.model_fields)
    assert all(p.get("description") for p in properties.values()), properties


def test_import_without_lightkube_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['lightkube'] = None\n"
        "try:\n"
        "    import ctrlplane.provider.kubernetes\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("MissingExtra")
    assert "pip install 'ctrlplane[kubernetes]'" in out


def test_core_import_does_not_import_lightkube() -> None:
    code = "import sys, ctrlplane.provider; print('lightkube' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


async def test_failed_gate_reports_progress_events_and_evidence(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig, max_surge="50%"))
    hc = HealthCheckSpec(path="/healthz", port=8080, retries=2)
    req = _request(_web(health_check=hc, resources=ResourceSpec(replicas=2), env={"MESSAGE": "a"}))
    await provider.provision(req)
    (dep,) = _objects(fake, req.instance_id, "Deployment")
    rolling = dep["spec"]["strategy"]["rollingUpdate"]  # type: ignore[index]
    assert rolling == {"maxSurge": "50%", "maxUnavailable": 0}
    seen: list[ProgressEvent] = []
    bad = ServiceDeploySpec(name="web", image="conformance/app:2", env={"HEALTHY": "0"})
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(
            DeployRequest(instance_id=req.instance_id, services=[bad]), events=seen.append
        )
    assert caught.value.step == "gate"
    assert all(not r.healthy and r.service == "web" for r in caught.value.evidence)
    kinds = [e.kind for e in seen]
    assert kinds[:3] == ["step_started", "step_finished", "step_started"]
    assert "probe" in kinds
    assert kinds[-1] == "rolled_back"
    status = await provider.status(req.instance_id)
    assert status.ready
    assert status.metadata["release_id"] == (await provider.releases(req.instance_id))[0].release_id
    await provider.deprovision(req.instance_id)


def _printer(script: str) -> ServiceSpec:
    """A main service that runs ``script``, then idles."""
    return ServiceSpec(name="app", image=APP, command=["sh", "-c", f"{script}; sleep infinity"])


async def test_log_streams_are_merged_by_default_and_split_on_request(fake: FakeCluster) -> None:
    req = _request(_printer("echo out; echo err >&2; echo out-2"))
    merged_provider = KubernetesProvider(fast_config(fake.kubeconfig))
    await merged_provider.provision(req)

    async def lines(provider: KubernetesProvider, **opts: int) -> list[tuple[str, str]]:
        for _ in range(200):
            records = await provider.logs(req.instance_id, LogOptions(**opts)).collect()
            if len(records) >= min(3, opts.get("tail") or 3):
                return [(r.line, r.stream) for r in records]
            await asyncio.sleep(0.02)
        pytest.fail("no log lines")

    everything = [("out", "stdout"), ("err", "stdout"), ("out-2", "stdout")]
    assert await lines(merged_provider) == everything, "time order, not the file's"
    assert not any("stream=" in path for _, path in fake.cluster.requests)
    split = KubernetesProvider(fast_config(fake.kubeconfig, log_streams="split"))
    assert await lines(split) == [("out", "stdout"), ("err", "stderr"), ("out-2", "stdout")]
    # tailLines cannot go with a stream: the last lines by time, from both streams
    assert await lines(split, tail=2) == [("err", "stderr"), ("out-2", "stdout")]
    for version, feature in (((1, 21), True), ((1, 33), False)):
        # the parameter is ignored (as a real 1.21 does, and 1.32+ without the feature):
        # every line once, as stdout, never twice
        fake.cluster.version, fake.cluster.split_log_streams = version, feature
        assert await lines(split) == everything
        assert await lines(split, tail=1) == [("out-2", "stdout")]
    fake.cluster.version, fake.cluster.split_log_streams = (1, 33), True
    await merged_provider.deprovision(req.instance_id)


async def test_logs_come_in_file_order_with_nanosecond_stamps(
    fake: FakeCluster,
) -> None:
    """As a real server: stdout and stderr reach the log file through separate copiers,
    so ``pods/log`` is not in time order across them, and ``tailLines`` counts file
    lines (a real 1.21.2 answered ``err-1`` to ``tailLines=1`` after printing ``out-1``,
    ``err-1``, ``out-2``)."""
    import httpx

    req = _request(_printer("echo out-1; echo err-1 >&2; echo out-2"))
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    await provider.provision(req)
    (pod,) = _objects(fake, req.instance_id, "Pod")
    url = f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}/log"  # type: ignore[index]
    async with httpx.AsyncClient(base_url=fake.server.url, trust_env=False) as http:
        stamped = (await http.get(url, params={"timestamps": "true"})).text.splitlines()
        assert [line.split(" ", 1)[1] for line in stamped] == ["out-1", "out-2", "err-1"]
        stamps = [line.split(" ", 1)[0] for line in stamped]
        assert all(len(s) == len("2026-12-07T00:02:23.958122078Z") for s in stamps), stamps
        assert sorted(stamps) != stamps, "file order is not time order"
        assert (await http.get(url, params={"tailLines": "1"})).text == "err-1\n"
    await provider.deprovision(req.instance_id)


def test_render_is_pure_validated_and_redacted(tmp_path: Path) -> None:
    provider = KubernetesProvider(fast_config(tmp_path / "no-such-kubeconfig"))
    from ctrlplane.provider.spec import SecretRef

    req = _request(_web(secrets=[SecretRef(key="token")]))
    objects = provider.render(req)
    assert [o["kind"] for o in objects] == ["Secret", "Service", "Deployment"]
    assert base64.b64decode(objects[0]["data"]["web.0"]) == b"[redacted]"
    with pytest.raises(InvalidSpec):
        provider.render(_request(_web(), _web()))


async def test_list_instances_reads_every_instance_back(fake: FakeCluster) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    first, second = _request(_web()), _request(_web(), kind=WorkloadKind.STATEFUL_SET)
    other = _request(_web()).model_copy(update={"tenant_id": "t2"})
    for req in (first, second, other):
        await provider.provision(req)
    await provider.stop(second.instance_id)
    found = await KubernetesProvider(fast_config(fake.kubeconfig)).list_instances("t1")
    assert [(s.instance_id, s.state, s.name) for s in found] == [
        (first.instance_id, InstanceState.RUNNING, "demo"),
        (second.instance_id, InstanceState.STOPPED, "demo"),
    ]
    assert len(await provider.list_instances()) == 3
    for req in (first, second, other):
        await provider.deprovision(req.instance_id)


@pytest.mark.parametrize("strategy", [DeployStrategy.BLUE_GREEN, DeployStrategy.CANARY], ids=str)
async def test_two_set_strategies_gate_a_second_controller_then_clean_up(
    fake: FakeCluster, strategy: DeployStrategy
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig))
    hc = HealthCheckSpec(path="/healthz", port=8080, retries=2)
    req = _request(_web(health_check=hc, resources=ResourceSpec(replicas=2), env={"MESSAGE": "a"}))
    await provider.provision(req)
    iid = req.instance_id
    seen: list[ProgressEvent] = []
    good = ServiceDeploySpec(name="web", image="conformance/app:2", env={"MESSAGE": "b"})
    result = await provider.deploy(
        DeployRequest(instance_id=iid, services=[good], strategy=strategy), events=seen.append
    )
    steps = [getattr(e, "step", e.kind) for e in seen if e.kind != "step_finished"]
    track = "green" if strategy is DeployStrategy.BLUE_GREEN else "canary"
    assert steps[0] == f"start-{track}"
    assert "promote" in steps
    assert ("traffic_switched" in steps) is (strategy is DeployStrategy.BLUE_GREEN)
    applied = [p for m, p in fake.cluster.requests if m == "PATCH" and f"-{track}?" in p]
    assert applied, "the second controller was applied"
    deployments = [o["metadata"]["name"] for o in _objects(fake, iid, "Deployment")]  # type: ignore[index]
    assert deployments == [base_name(iid)], "the second controller is gone"
    (service,) = _objects(fake, iid, "Service")
    assert service["spec"]["selector"]["ctrlplane.io/serving"] == "main"  # type: ignore[index]
    history = await provider.releases(iid)
    assert history[0].release_id == result.release_id
    assert history[0].strategy == strategy.value
    bad = ServiceDeploySpec(name="web", image="conformance/app:3", env={"HEALTHY": "0"})
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(DeployRequest(instance_id=iid, services=[bad], strategy=strategy))
    assert caught.value.step == "gate"
    assert caught.value.evidence
    assert [o["metadata"]["name"] for o in _objects(fake, iid, "Deployment")] == [base_name(iid)]  # type: ignore[index]
    assert (await provider.releases(iid))[0].release_id == result.release_id
    await provider.deprovision(iid)


@pytest.mark.parametrize(
    ("service_type", "public"),
    [
        (ServiceType.CLUSTER_IP, []),
        (ServiceType.NODE_PORT, ["http://10.0.0.254:30000"]),
        (ServiceType.LOAD_BALANCER, ["http://192.0.2.10:8080", "http://10.0.0.254:30000"]),
    ],
    ids=str,
)
async def test_endpoints_follow_the_service_type(
    fake: FakeCluster, service_type: ServiceType, public: list[str]
) -> None:
    provider = KubernetesProvider(fast_config(fake.kubeconfig, service_type=service_type))
    req = _request(_web())
    result = await provider.provision(req)
    inside = f"http://{base_name(req.instance_id)}.default.svc.cluster.local:8080"
    assert [(e.url, e.public) for e in result.endpoints] == [(inside, False)] + [
        (url, True) for url in public
    ]
    await provider.provision(req)  # re-applying keeps the allocated node port
    status = await provider.status(req.instance_id)
    assert [e.url for e in status.endpoints if e.public] == public
    await provider.deprovision(req.instance_id)


@pytest.mark.parametrize(
    "value",
    [b"puller:s3cret", b'{"username": "puller", "password": "s3cret"}'],
)
async def test_registry_secret_in_any_format_becomes_a_pull_secret(
    fake: FakeCluster, value: bytes
) -> None:
    """The same registry secret value works on every backend: Kubernetes gets it as a
    ``.dockerconfigjson`` for the image's registry."""
    import json

    from ctrlplane.provider.enums import SecretType
    from ctrlplane.provider.kubernetes.render.naming import registry_secret_name
    from ctrlplane.provider.spec import SecretRef
    from ctrlplane.secrets import MappingResolver

    provider = KubernetesProvider(
        fast_config(fake.kubeconfig), secrets=MappingResolver({"pull": value})
    )
    req = _request(_web(secrets=[SecretRef(key="pull", type=SecretType.REGISTRY)]))
    await provider.provision(req)
    try:
        name = registry_secret_name(req.instance_id, 0)
        config = json.loads(fake.cluster.secret_data("default", name)[".dockerconfigjson"])
        entry = config["auths"]["docker.io"]
        assert (entry["username"], entry["password"]) == ("puller", "s3cret")
        assert base64.b64decode(entry["auth"]) == b"puller:s3cret"
    finally:
        await provider.deprovision(req.instance_id)


async def test_unreadable_registry_secret_fails_before_anything_is_made(
    fake: FakeCluster,
) -> None:
    from ctrlplane.provider.enums import SecretType
    from ctrlplane.provider.spec import SecretRef
    from ctrlplane.secrets import MappingResolver

    provider = KubernetesProvider(
        fast_config(fake.kubeconfig), secrets=MappingResolver({"pull": b"hunter2"})
    )
    req = _request(_web(secrets=[SecretRef(key="pull", type=SecretType.REGISTRY)]))
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(req)
    assert "'pull'" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert _objects(fake, req.instance_id) == []
