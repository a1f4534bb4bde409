"""Nomad-specific behaviour of the provider and the strictness of the fake agent."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio

from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    InstanceNotFound,
    NotSupported,
    PermissionDenied,
    ProvisionFailed,
)
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.enums import InstanceState, SecretType, ServiceRole, WorkloadKind
from ctrlplane.provider.nomad import NomadConfig, NomadProvider
from ctrlplane.provider.nomad.config import VolumeSource
from ctrlplane.provider.nomad.observe import alloc_replica, parse_time
from ctrlplane.provider.nomad.observe.logframes import FrameDecoder, LineSplitter
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    HealthCheckSpec,
    LogOptions,
    ProvisionRequest,
    ResourceSpec,
    SecretRef,
    ServiceDeploySpec,
    ServiceSpec,
    VolumeSpec,
)
from ctrlplane.secrets import MappingResolver

from .fake_agent.volumes import CSIVolume
from .harness import NAMESPACE, TOKEN, NomadHarness


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[NomadHarness]:
    h = NomadHarness()
    await h.setup()
    try:
        yield h
    finally:
        await h.teardown()


def _request(h: NomadHarness, *services: ServiceSpec) -> ProvisionRequest:
    return ProvisionRequest(
        instance_id=new_id(INSTANCE_PREFIX), tenant_id="t", name="n", services=list(services)
    )


async def test_every_request_carries_namespace_region_and_token(harness: NomadHarness) -> None:
    provider = harness.make_provider()
    req = _request(harness, harness.http_service("web", port=8080))
    await provider.provision(req)
    await provider.status(req.instance_id)
    await provider.exec(req.instance_id, ExecRequest(command=["true"]))
    await provider.logs(req.instance_id).collect()
    await provider.deprovision(req.instance_id)
    seen = harness.agent.requests
    assert len(seen) > 10
    assert all(r.token == TOKEN for r in seen), [r for r in seen if r.token != TOKEN]
    assert all(r.namespace == NAMESPACE for r in seen)
    assert all(r.region == "global" for r in seen)


async def test_errors_are_translated(harness: NomadHarness) -> None:
    wrong = NomadProvider(harness.config().model_copy(update={"token": None}))
    with pytest.raises(PermissionDenied):
        await wrong.status(new_id(INSTANCE_PREFIX))
    with pytest.raises(InstanceNotFound):
        await harness.make_provider().status(new_id(INSTANCE_PREFIX))
    down = NomadProvider(NomadConfig(address="http://127.0.0.1:9", request_timeout="1s"))
    with pytest.raises(BackendUnavailable):
        await down.status(new_id(INSTANCE_PREFIX))
    health = await down.health_check()
    assert not health.healthy
    ok = await harness.make_provider().health_check()
    assert ok.healthy, ok.message


async def test_other_namespace_does_not_see_the_instance(harness: NomadHarness) -> None:
    provider = harness.make_provider()
    req = _request(harness, harness.idle_service("app"))
    await provider.provision(req)
    other = NomadProvider(harness.config().model_copy(update={"namespace": "other"}))
    with pytest.raises(InstanceNotFound):
        await other.status(req.instance_id)
    await provider.deprovision(req.instance_id)


async def test_a_namespace_that_does_not_exist_fails_provision(harness: NomadHarness) -> None:
    provider = NomadProvider(harness.config().model_copy(update={"namespace": "nowhere"}))
    req = _request(harness, harness.idle_service("app"))
    with pytest.raises(ProvisionFailed, match="nonexistent namespace"):
        await provider.provision(req)
    assert harness.agent.leftovers("nowhere", req.instance_id) == []


async def test_an_old_agent_refuses_what_it_cannot_run() -> None:
    h = NomadHarness()
    h.agent.version = "1.3.5"
    await h.setup()
    try:
        provider = h.make_provider(secrets=MappingResolver({"tok": "v"}))
        app = h.idle_service("app").model_copy(update={"secrets": [SecretRef(key="tok")]})
        with pytest.raises(NotSupported, match=r"Nomad 1\.4"):
            await provider.provision(_request(h, app))
        assert not [r for r in h.agent.requests if r.method != "GET"]
        assert "1.3.5" in provider.info().version
    finally:
        await h.teardown()


async def test_unorderable_depends_on_is_refused_before_registering(
    harness: NomadHarness,
) -> None:
    a = harness.exit_service("a", code=0).model_copy(update={"role": ServiceRole.INIT})
    b = harness.exit_service("b", code=0).model_copy(
        update={"role": ServiceRole.INIT, "depends_on": ["a"]}
    )
    req = _request(harness, harness.idle_service("app"), a, b)
    with pytest.raises(NotSupported, match="prestart"):
        await harness.make_provider().provision(req)
    assert not [r for r in harness.agent.requests if r.method != "GET"]


async def test_secrets_live_in_variables_not_in_the_job(harness: NomadHarness) -> None:
    provider = harness.make_provider(secrets=MappingResolver({"tok": "s3cr3t-value"}))
    app = harness.idle_service("app").model_copy(update={"secrets": [SecretRef(key="tok")]})
    req = _request(harness, app)
    await provider.provision(req)
    assert "s3cr3t-value" not in await harness.backend_text(req.instance_id)
    (var,) = harness.agent.state.variables.values()
    assert var["Items"] == {"secret_0": "s3cr3t-value"}
    assert var["Path"] == f"nomad/jobs/{req.instance_id}/unit/app"
    await provider.deprovision(req.instance_id)
    assert harness.agent.state.variables == {}


async def test_a_failing_check_makes_the_service_not_ready(harness: NomadHarness) -> None:
    provider = harness.make_provider()
    web = harness.http_service("web", port=8080).model_copy(
        update={"health_check": HealthCheckSpec(path="/healthz", port=8080)}
    )
    req = _request(harness, web)
    await provider.provision(req)
    harness.backend.faults.fail_health("web")
    for _ in range(100):
        status = await provider.status(req.instance_id)
        if not status.services["web"].ready:
            break
        await asyncio.sleep(0.05)
    assert not status.services["web"].ready
    assert status.state == InstanceState.RUNNING
    harness.backend.faults.heal("web")
    await provider.deprovision(req.instance_id)


async def test_stop_and_start_are_job_versions(harness: NomadHarness) -> None:
    provider = harness.make_provider()
    req = _request(harness, harness.idle_service("app"))
    await provider.provision(req)
    await provider.stop(req.instance_id)
    await provider.start(req.instance_id)
    state = harness.agent.state.job(NAMESPACE, req.instance_id)
    assert state is not None
    assert [v["Stop"] for v in state.versions] == [False, True, False]
    assert state.versions[2]["TaskGroups"] == state.versions[0]["TaskGroups"]
    await provider.deprovision(req.instance_id)


async def test_fake_agent_accepts_unknown_fields_and_records_them(harness: NomadHarness) -> None:
    """A real agent ignores unknown job fields (1.1.2 answered 200 to a job with
    ``Bogus``); the fake does too, records them, and the harness fails a test whose
    provider sent one."""
    job = {"ID": "x", "Datacenters": ["dc1"], "TaskGroups": [], "Bogus": 1}
    async with httpx.AsyncClient(base_url=harness.agent.address) as client:
        denied = await client.put("/v1/jobs", json={"Job": job})
        assert denied.status_code == 403
        bad = await client.put("/v1/jobs", json={"Job": job}, headers={"X-Nomad-Token": TOKEN})
    assert bad.status_code == 500
    assert "Missing job task groups" in bad.text  # validated; the unknown field is not
    assert harness.agent.unknown_fields == ['Job: json: unknown field "Bogus"']
    with pytest.raises(AssertionError, match="Bogus"):
        await harness.teardown()
    harness.agent.unknown_fields.clear()


def test_missing_httpx_raises_missing_extra() -> None:
    code = (
        "import sys; sys.modules['httpx'] = None\n"
        "from ctrlplane.errors import MissingExtra\n"
        "try:\n    import ctrlplane.provider.nomad\n"
        "except MissingExtra as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'ctrlplane[nomad]'" in out.stdout


def test_frames_and_lines() -> None:
    decoder = FrameDecoder()
    frames = decoder.feed(b'{"Offset": 0, "Data": "b25lCnR3')
    assert frames == []
    frames = decoder.feed(b'bwp0aHJl", "File": "alloc/logs/a.stdout.0"}\n{}\n')
    assert [(f.offset, f.data) for f in frames] == [(0, b"one\ntwo\nthre")]
    splitter = LineSplitter()
    assert splitter.feed(frames[0].data) == ["one", "two"]
    assert splitter.feed(b"e\n") == ["three"]
    assert splitter.feed(b"partial") == []
    assert splitter.flush() == ["partial"]


def test_status_helpers() -> None:
    at = parse_time("2026-11-25T09:39:21.123456789Z")
    assert at is not None
    assert at.microsecond == 123456
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert alloc_replica({"Name": "inst_x.unit[3]"}) == 3


async def test_canary_deploy_is_gated_then_promoted_with_progress_events(
    harness: NomadHarness,
) -> None:
    from ctrlplane.provider.events import ProgressEvent
    from ctrlplane.provider.spec import DeployRequest, ServiceDeploySpec

    provider = harness.make_provider()
    web = harness.http_service("web", port=8080).model_copy(
        update={
            "health_check": HealthCheckSpec(path="/healthz", port=8080),
            "resources": ResourceSpec(replicas=2),
        }
    )
    req = _request(harness, web)
    await provider.provision(req)
    seen: list[ProgressEvent] = []
    deploy = DeployRequest(
        instance_id=req.instance_id,
        services=[ServiceDeploySpec(name="web", image=harness.image(2))],
        strategy="blue-green",
    )
    await provider.deploy(deploy, events=seen.append)
    steps = [e.step for e in seen if e.kind == "step_started"]
    assert steps == ["register", "gate canaries", "promote", "rollout"]
    assert any(e.kind == "probe" for e in seen)
    assert any(e.kind == "traffic_switched" for e in seen)
    promotes = [r for r in harness.agent.requests if "/deployment/promote/" in r.path]
    assert len(promotes) == 1
    state = harness.agent.state.job(NAMESPACE, req.instance_id)
    assert state is not None
    assert state.versions[-1]["Update"]["Canary"] == 2
    assert state.deployments[-1]["Status"] == "successful"
    await provider.deprovision(req.instance_id)


async def test_list_instances_reads_job_meta_in_one_filtered_call(harness: NomadHarness) -> None:
    provider = harness.make_provider()
    first = _request(harness, harness.idle_service("app")).model_copy(
        update={"tenant_id": "acme", "name": "first"}
    )
    second = _request(harness, harness.idle_service("app")).model_copy(
        update={"tenant_id": "other", "name": "second"}
    )
    await provider.provision(first)
    await provider.provision(second)
    await provider.stop(second.instance_id)
    before = len(harness.agent.requests)
    listed = await harness.make_provider().list_instances()
    assert [r.path for r in harness.agent.requests[before:]] == ["/v1/jobs"]
    assert [(s.instance_id, s.name, s.tenant_id, s.state) for s in listed] == [
        (first.instance_id, "first", "acme", InstanceState.RUNNING),
        (second.instance_id, "second", "other", InstanceState.STOPPED),
    ]
    assert listed[0].release_id
    assert listed[0].created_at is not None
    mine = await provider.list_instances("acme")
    assert [s.instance_id for s in mine] == [first.instance_id]
    assert await provider.list_instances('no"body') == []


async def test_fake_agent_refuses_filters_it_cannot_read(harness: NomadHarness) -> None:
    async with httpx.AsyncClient(base_url=harness.agent.address) as client:
        bad = await client.get(
            "/v1/jobs", params={"filter": 'Name matches "x"'}, headers={"X-Nomad-Token": TOKEN}
        )
    assert bad.status_code == 400
    assert "failed to read filter expression" in bad.text


async def test_registry_secret_pulls_a_private_image_without_entering_the_job(
    harness: NomadHarness,
) -> None:
    image = harness.idle_service("app").image
    harness.agent.state.private_images[image] = ("puller", "pull-s3cr3t-77")
    app = harness.idle_service("app").model_copy(
        update={"secrets": [SecretRef(key="pull", type=SecretType.REGISTRY)]}
    )
    good = NomadProvider(
        harness.config(),
        secrets=MappingResolver({"pull": '{"username": "puller", "password": "pull-s3cr3t-77"}'}),
    )
    req = _request(harness, app)
    await good.provision(req)
    assert (await good.status(req.instance_id)).state == InstanceState.RUNNING
    text = await harness.backend_text(req.instance_id)
    assert "pull-s3cr3t-77" not in text
    assert "${CTRLPLANE_REGISTRY_PASSWORD}" in text
    await good.deprovision(req.instance_id)

    wrong = NomadProvider(harness.config(), secrets=MappingResolver({"pull": "puller:nope"}))
    other = _request(harness, app)
    with pytest.raises(ProvisionFailed, match="authentication required") as caught:
        await wrong.provision(other)
    assert "nope" not in str(caught.value)
    assert harness.agent.leftovers(NAMESPACE, other.instance_id) == []


async def test_check_retries_fail_the_gate_after_that_many_consecutive_failures() -> None:
    h = NomadHarness(healthy_deadline="60s", progress_deadline="120s")
    await h.setup()
    try:
        web = h.http_service("web", port=8080).model_copy(
            update={"health_check": HealthCheckSpec(path="/healthz", port=8080, retries=2)}
        )
        h.backend.faults.fail_health("web")
        req = _request(h, web)
        with pytest.raises(ProvisionFailed, match="failed 2 consecutive times") as caught:
            await h.make_provider().provision(req)
        assert caught.value.step == "wait for healthy allocations"
        assert h.agent.leftovers(NAMESPACE, req.instance_id) == []
    finally:
        h.backend.faults.heal("web")
        await h.teardown()


async def test_logs_since_is_exact_or_refused(harness: NomadHarness) -> None:
    provider = harness.make_provider()
    req = _request(harness, harness.log_service("app", lines=["one", "two"]))
    started = datetime.now(UTC)
    await provider.provision(req)
    lines = await provider.logs(req.instance_id, LogOptions(since=started)).collect()
    assert [r.line for r in lines][:2] == ["one", "two"]
    with pytest.raises(NotSupported, match="no per-line timestamps"):
        await provider.logs(req.instance_id, LogOptions(since=datetime.now(UTC))).collect()
    await provider.deprovision(req.instance_id)


# -- volumes -------------------------------------------------------------------------------


def _with_volume(
    h: NomadHarness, *, replicas: int = 1, kind: str = "deployment", **volume: object
) -> ProvisionRequest:
    vol = VolumeSpec.model_validate({"name": "data", "mount_path": "/data", **volume})
    app = h.idle_service("app").model_copy(
        update={"volumes": [vol], "resources": ResourceSpec(replicas=replicas)}
    )
    return _request(h, app).model_copy(update={"kind": WorkloadKind(kind)})


async def _write(provider: NomadProvider, iid: str, replica: int, text: str) -> None:
    cmd = ["sh", "-c", f"echo {text} > /data/file"]
    res = await provider.exec(iid, ExecRequest(command=cmd, replica=replica))
    assert res.exit_code == 0, res


async def _read(provider: NomadProvider, iid: str, replica: int) -> bytes | None:
    """The file's content once the replica runs again (``None``: no such file)."""
    for _ in range(100):
        try:
            res = await provider.exec(
                iid, ExecRequest(command=["cat", "/data/file"], replica=replica)
            )
        except BackendError:  # no running allocation yet
            await asyncio.sleep(0.05)
            continue
        return res.stdout if res.exit_code == 0 else None
    raise AssertionError(f"replica {replica} of {iid} did not run again")


async def test_stateful_set_replicas_keep_their_own_volume_across_deploy_and_stop_start(
    harness: NomadHarness,
) -> None:
    for i in (0, 1):
        harness.agent.state.volumes.declare_host(f"data[{i}]")
    provider = harness.make_provider()
    req = _with_volume(harness, replicas=2, kind="stateful_set")
    iid = req.instance_id
    await provider.provision(req)
    await _write(provider, iid, 0, "zero")
    await _write(provider, iid, 1, "one")
    assert harness.agent.state.volumes.data("host", "data[0]") == {"/file": b"zero\n"}
    assert harness.agent.state.volumes.data("host", "data[1]") == {"/file": b"one\n"}
    before = {a.id for a in harness.agent.allocs_of(NAMESPACE, iid)}
    image = harness.idle_service("app", version=2).image
    await provider.deploy(
        DeployRequest(instance_id=iid, services=[ServiceDeploySpec(name="app", image=image)])
    )
    live = [a for a in harness.agent.allocs_of(NAMESPACE, iid) if not a.terminal]
    assert before.isdisjoint(a.id for a in live)  # new allocations, same volumes
    assert [await _read(provider, iid, i) for i in (0, 1)] == [b"zero\n", b"one\n"]
    await provider.stop(iid)
    await provider.start(iid)
    assert [await _read(provider, iid, i) for i in (0, 1)] == [b"zero\n", b"one\n"]
    await provider.deprovision(iid)
    assert harness.agent.state.volumes.data("host", "data[1]") == {"/file": b"one\n"}


async def test_a_missing_volume_fails_provision_at_once_saying_what_to_create(
    harness: NomadHarness,
) -> None:
    provider = harness.make_provider()
    req = _with_volume(harness, replicas=2, kind="stateful_set")  # needs data[0], data[1]
    started = time.monotonic()
    with pytest.raises(ProvisionFailed) as info:
        await provider.provision(req)
    assert time.monotonic() - started < 5  # not the 12 s provision deadline
    text = str(info.value)
    assert "missing compatible host volumes" in text
    assert "host volume 'data[0]', 'data[1]'" in text
    assert "host_volume 'data[0]'" in text
    assert "volume_sources" in text
    assert harness.agent.leftovers(NAMESPACE, req.instance_id) == []
    csi = NomadProvider(
        harness.config().model_copy(
            update={"volume_sources": {"data": VolumeSource(type="csi", source="pg")}}
        )
    )
    with pytest.raises(ProvisionFailed, match="missing CSI Volume pg") as info:
        await csi.provision(_with_volume(harness))
    assert "register" in str(info.value)


async def test_csi_volume_data_outlives_a_restart(harness: NomadHarness) -> None:
    harness.agent.state.volumes.register_csi(NAMESPACE, "pg", CSIVolume())
    provider = NomadProvider(
        harness.config().model_copy(
            update={"volume_sources": {"data": VolumeSource(type="csi", source="pg")}}
        )
    )
    req = _with_volume(harness)
    await provider.provision(req)
    await _write(provider, req.instance_id, 0, "kept")
    await provider.restart(req.instance_id)
    assert await _read(provider, req.instance_id, 0) == b"kept\n"
    assert harness.agent.state.volumes.data("csi", NAMESPACE, "pg") == {"/file": b"kept\n"}
    await provider.deprovision(req.instance_id)


async def test_tmpfs_is_private_to_each_allocation_and_emptied_by_a_restart(
    harness: NomadHarness,
) -> None:
    provider = harness.make_provider()
    req = _with_volume(harness, replicas=2, type="tmpfs", size_mb=8)
    iid = req.instance_id
    await provider.provision(req)
    job = harness.agent.state.job(NAMESPACE, iid)
    assert job is not None
    mount = job.current["TaskGroups"][0]["Tasks"][0]["Config"]["mount"]
    assert mount[0]["tmpfs_options"] == [{"size": 8 * 1024 * 1024}]
    await _write(provider, iid, 0, "scratch")
    assert await _read(provider, iid, 0) == b"scratch\n"
    assert await _read(provider, iid, 1) is None
    await provider.restart(iid)
    assert await _read(provider, iid, 0) is None
    await provider.deprovision(iid)


async def test_canary_deploy_of_per_replica_volumes_is_refused_before_registering(
    harness: NomadHarness,
) -> None:
    harness.agent.state.volumes.declare_host("data[0]")
    provider = harness.make_provider()
    req = _with_volume(harness, kind="stateful_set")
    await provider.provision(req)
    state = harness.agent.state.job(NAMESPACE, req.instance_id)
    assert state is not None
    version = state.current["Version"]
    image = harness.idle_service("app", version=2).image
    for strategy in ("canary", "blue-green"):
        deploy = DeployRequest(
            instance_id=req.instance_id,
            strategy=strategy,
            services=[ServiceDeploySpec(name="app", image=image)],
        )
        with pytest.raises(NotSupported, match="rolling strategy"):
            await provider.deploy(deploy)
    assert state.current["Version"] == version
    await provider.deprovision(req.instance_id)
