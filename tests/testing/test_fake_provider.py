"""FakeProvider beyond the conformance suite: shared backends, images, options."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from ctrlplane.errors import InstanceNotFound, NotSupported, ProvisionFailed, ReleaseNotFound
from ctrlplane.ids import new_id
from ctrlplane.provider import (
    Capability,
    DeployRequest,
    ExecRequest,
    HealthChecker,
    HealthCheckSpec,
    LogOptions,
    PortSpec,
    Provider,
    ProvisionRequest,
    ResourceSpec,
    SecretRef,
    ServiceDeploySpec,
    ServiceRole,
    ServiceSpec,
    UnitLister,
    VolumeSpec,
    WorkloadKind,
)
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.releases import ReleaseHistory
from ctrlplane.secrets import MappingResolver
from ctrlplane.testing import FakeBackend, FakeImage, FakeProvider, serve_files
from ctrlplane.testing.runtime import build_unit


def request(
    *services: ServiceSpec, kind: WorkloadKind = WorkloadKind.DEPLOYMENT
) -> ProvisionRequest:
    return ProvisionRequest(instance_id=new_id("inst"), kind=kind, services=list(services))


def idle(name: str = "app", **update: object) -> ServiceSpec:
    return ServiceSpec(name=name, image="busybox").model_copy(update=update)


def test_fake_provider_implements_the_protocols() -> None:
    provider = FakeProvider()
    assert isinstance(provider, Provider)
    assert isinstance(provider, HealthChecker)
    assert isinstance(provider, ReleaseHistory)
    assert provider.info().name == "fake"
    assert Capability.GPU not in provider.capabilities()


async def test_providers_on_one_backend_share_instances() -> None:
    backend = FakeBackend()
    first, second = FakeProvider(backend), FakeProvider(backend)
    req = request(idle())
    await first.provision(req)
    assert (await second.status(req.instance_id)).ready
    await second.deploy(
        DeployRequest(
            instance_id=req.instance_id, services=[ServiceDeploySpec(name="app", image="busybox:2")]
        )
    )
    assert [r.release_id for r in await first.releases(req.instance_id)] == [
        r.release_id for r in await second.releases(req.instance_id)
    ]
    with pytest.raises(InstanceNotFound):
        await FakeProvider(FakeBackend()).status(req.instance_id)


async def test_image_behaviour_logs_exit_code_and_http() -> None:
    backend = FakeBackend(any_image=False)
    backend.add_image(
        FakeImage(
            name="site:1",
            stdout=("listening",),
            stderr=("warming up",),
            http=serve_files("/srv"),
            files={"/srv/index.html": b"<h1>hi</h1>"},
        ),
        "site:latest",
    )
    backend.add_image(FakeImage(name="job:1", stdout=("working",), exit_code=0, run_for=0.01))
    provider = FakeProvider(backend)
    site = ServiceSpec(name="site", image="site:latest", ports=[PortSpec(container=80)])
    job = ServiceSpec(name="job", image="job:1", role="init")
    req = request(site, job)
    result = await provider.provision(req)
    url = result.endpoints[0].url
    assert url == f"fake://site.{req.instance_id}:80"
    assert backend.http_get(url, "/") == (200, b"<h1>hi</h1>")
    assert backend.http_get(url, "/missing")[0] == 404
    records = await provider.logs(req.instance_id).collect()
    assert [(r.stream, r.line) for r in records] == [
        ("stdout", "listening"),
        ("stderr", "warming up"),
    ]
    job_logs = await provider.logs(req.instance_id, LogOptions(service_name="job")).collect()
    assert [r.line for r in job_logs] == ["working"]
    status = await provider.status(req.instance_id)
    assert status.services["job"].message == "completed"
    await provider.stop(req.instance_id)
    with pytest.raises(ConnectionRefusedError):
        backend.http_get(url)
    with pytest.raises(ProvisionFailed, match="pull"):
        await provider.provision(request(idle(image="unknown:1")))


async def test_http_requests_are_spread_over_replicas() -> None:
    backend = FakeBackend()
    backend.add_image(FakeImage(name="who", http=lambda r: (200, str(r.replica).encode())))
    provider = FakeProvider(backend)
    svc = ServiceSpec(
        name="web", image="who", ports=[PortSpec(container=80)], resources=ResourceSpec(replicas=3)
    )
    req = request(svc)
    await provider.provision(req)
    url = f"fake://web.{req.instance_id}:80"
    assert {backend.http_get(url)[1] for _ in range(6)} == {b"0", b"1", b"2"}


async def test_narrowed_capabilities_raise_not_supported() -> None:
    provider = FakeProvider(capabilities=[Capability.PROVISION])
    req = request(idle())
    await provider.provision(req)
    with pytest.raises(NotSupported, match="exec"):
        await provider.exec(req.instance_id, ExecRequest(command=["true"]))
    with pytest.raises(NotSupported, match="deploy"):
        await provider.rollback(req.instance_id, new_id("rel"))
    with pytest.raises(ValueError, match="does not honour"):
        FakeProvider(capabilities=[Capability.GPU])


async def test_gpu_scale_is_not_supported() -> None:
    provider = FakeProvider()
    req = request(idle())
    await provider.provision(req)
    with pytest.raises(NotSupported, match="gpu"):
        await provider.scale(req.instance_id, ResourceSpec(gpu="nvidia-t4"))


async def test_history_depth_prunes_old_releases() -> None:
    provider = FakeProvider(history_depth=2)
    req = request(idle())
    result = await provider.provision(req)
    first = result.metadata["release_id"]
    for n in (2, 3):
        await provider.deploy(
            DeployRequest(
                instance_id=req.instance_id,
                services=[ServiceDeploySpec(name="app", image=f"busybox:{n}")],
            )
        )
    history = await provider.releases(req.instance_id)
    assert len(history) == 2
    assert [r.service("app").image for r in history] == ["busybox:3", "busybox:2"]
    with pytest.raises(ReleaseNotFound) as caught:
        await provider.rollback(req.instance_id, first)
    assert history[0].release_id in str(caught.value)
    with pytest.raises(ValueError, match="history_depth"):
        FakeProvider(history_depth=0)


async def test_time_scale_shortens_real_world_intervals() -> None:
    provider = FakeProvider(time_scale=0.001)
    check = HealthCheckSpec(path="/healthz", port=80, interval=timedelta(seconds=10), retries=3)
    backend = provider.backend
    backend.add_image(FakeImage(name="web", http=lambda r: (503, b"")))
    req = request(
        ServiceSpec(name="web", image="web", ports=[PortSpec(container=80)], health_check=check)
    )
    began = time.monotonic()
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(req)
    assert time.monotonic() - began < 1.0
    assert "health" in str(caught.value)


async def test_exec_tty_merges_stderr_and_targets_replicas() -> None:
    provider = FakeProvider()
    req = request(idle(resources=ResourceSpec(replicas=2)))
    await provider.provision(req)
    res = await provider.exec(
        req.instance_id, ExecRequest(command=["sh", "-c", "echo a; echo b >&2"], tty=True)
    )
    assert (res.stdout, res.stderr) == (b"a\nb\n", b"")
    ok = await provider.exec(req.instance_id, ExecRequest(command=["true"], replica=1))
    assert ok.exit_code == 0
    with pytest.raises(ValueError, match="replica 2"):
        await provider.exec(req.instance_id, ExecRequest(command=["true"], replica=2))


async def test_stateful_sets_get_per_replica_volumes() -> None:
    provider = FakeProvider()
    vol = [VolumeSpec(name="data", mount_path="/data")]
    for kind, expect in ((WorkloadKind.STATEFUL_SET, b"1\n"), (WorkloadKind.DEPLOYMENT, b"0\n1\n")):
        req = request(idle(volumes=vol, resources=ResourceSpec(replicas=2)), kind=kind)
        await provider.provision(req)
        iid = req.instance_id
        for replica in (0, 1):
            cmd = ["sh", "-c", f"echo {replica} >> /data/who"]
            await provider.exec(iid, ExecRequest(command=cmd, replica=replica))
        res = await provider.exec(iid, ExecRequest(command=["cat", "/data/who"], replica=1))
        assert res.stdout == expect


async def test_init_errors_redact_secret_values() -> None:
    provider = FakeProvider(secrets=MappingResolver({"token": "hunter2-secret"}))
    leaky = ServiceSpec(
        name="leaky",
        image="busybox",
        role="init",
        command=["sh", "-c", "echo token=$TOKEN; exit 1"],
        secrets=[SecretRef(key="token")],
    )
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(request(idle(), leaky))
    assert "hunter2-secret" not in str(caught.value)
    assert "token=[redacted]" in str(caught.value)


async def test_resources_use_limits_and_host_memory() -> None:
    backend = FakeBackend(host_memory_mb=1000)
    backend.add_image(FakeImage(name="big", memory_mb=100, cpu_percent=12.5))
    provider = FakeProvider(backend)
    req = request(idle(image="big"), idle("side", role=ServiceRole.SIDECAR, image="big"))
    await provider.provision(req)
    await provider.scale(req.instance_id, ResourceSpec(memory_mb=300))
    usage = await provider.resources(req.instance_id)
    assert (usage.memory_used_mb, usage.memory_limit_mb, usage.cpu_percent) == (200, 1300, 25.0)


def test_importing_the_fake_does_not_import_pytest() -> None:
    code = "import sys, ctrlplane.testing; print('pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_simulated_crashes_show_in_status() -> None:
    backend = FakeBackend()
    provider = FakeProvider(backend)
    req = request(idle(resources=ResourceSpec(replicas=2)), idle("side", role=ServiceRole.SIDECAR))
    await provider.provision(req)
    backend.crash(req.instance_id, "side", restart=True)
    status = await provider.status(req.instance_id)
    assert status.ready
    assert status.services["side"].restarts == 2
    assert status.restarts == 2
    backend.crash(req.instance_id, "app", exit_code=137, replica=1)
    status = await provider.status(req.instance_id)
    assert status.state == "failed"
    assert not status.ready
    assert status.services["app"].message == "exited with code 137"
    with pytest.raises(KeyError):
        backend.crash(new_id("inst"), "app")


async def test_concurrent_partial_deploys_both_take_effect() -> None:
    provider = FakeProvider()
    req = request(idle(), idle("side", role=ServiceRole.SIDECAR))
    await provider.provision(req)

    def change(name: str) -> DeployRequest:
        return DeployRequest(
            instance_id=req.instance_id,
            services=[ServiceDeploySpec(name=name, image=f"{name}:2")],
        )

    await asyncio.gather(provider.deploy(change("app")), provider.deploy(change("side")))
    live = (await provider.releases(req.instance_id))[0]
    assert {s.name: s.image for s in live.services} == {"app": "app:2", "side": "side:2"}


async def test_units_lists_each_container_with_its_release() -> None:
    provider = FakeProvider()
    req = ProvisionRequest(
        instance_id=new_id("inst"),
        services=[
            ServiceSpec(name="web", image="app:1", resources=ResourceSpec(replicas=2)),
            ServiceSpec(name="log", image="log:1", role="sidecar"),
        ],
    )
    result = await provider.provision(req)
    assert isinstance(provider, UnitLister)
    units = await provider.units(req.instance_id)
    assert [(u.service, u.replica) for u in units] == [
        ("web", 0),
        ("web", 1),
        ("log", 0),
        ("log", 1),
    ]
    assert {u.release_id for u in units} == {result.metadata["release_id"]}
    assert all(u.state == "running" and u.image.endswith(":1") for u in units)
    deployed = await provider.deploy(
        DeployRequest(
            instance_id=req.instance_id, services=[ServiceDeploySpec(name="web", image="app:2")]
        )
    )
    after = await provider.units(req.instance_id)
    assert {u.release_id for u in after} == {deployed.release_id}
    assert {u.image for u in after if u.service == "web"} == {"app:2"}


async def test_an_interrupted_operation_shows_in_status_and_is_repaired_by_the_next_call() -> None:
    provider = FakeProvider()
    req = ProvisionRequest(
        instance_id=new_id("inst"), services=[ServiceSpec(name="web", image="app:1")]
    )
    await provider.provision(req)
    iid = req.instance_id
    # A deploy whose process died after starting a new unit: its lease expired and
    # its new set was never switched.
    record = provider.backend.instances[iid]
    stray = build_unit(provider.backend, record, 0, record.services, {})
    provider.backend.staged[iid] = [stray]
    past = datetime.now(UTC) - timedelta(minutes=5)
    dead = Lease("host/1/dead", "deploy", past, past, 30.0, {"phase": "roll out"})
    await provider.backend.leases.create(iid, dead)
    status = await provider.status(iid)
    assert status.metadata["operation_state"] == "interrupted"
    assert "deploy interrupted" in status.message
    await provider.restart(iid)  # the next mutating call repairs first
    assert not provider.backend.staged.get(iid)
    assert not stray.containers["web"].running
    after = await provider.status(iid)
    assert "operation" not in after.metadata
    assert after.ready
