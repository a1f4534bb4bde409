"""Fault injection of the fake: provision steps, missing images, health, inits, outages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    DeployFailed,
    InstanceNotFound,
    ProvisionFailed,
)
from ctrlplane.ids import new_id
from ctrlplane.provider import (
    DeployRequest,
    HealthCheckSpec,
    InstanceState,
    PortSpec,
    ProvisionRequest,
    ServiceDeploySpec,
    ServiceSpec,
)
from ctrlplane.provider.health import ProbeResult
from ctrlplane.testing import PROVISION_STEPS, FakeBackend, FakeImage, FakeProvider
from ctrlplane.testing.conformance.fake_harness import conformance_http


def web(**update: object) -> ServiceSpec:
    spec = ServiceSpec(
        name="web",
        image="app:1",
        ports=[PortSpec(container=80)],
        health_check=HealthCheckSpec(path="/healthz", port=80, interval=timedelta(milliseconds=5)),
    )
    return spec.model_copy(update=update)


def migrate(code: int = 0) -> ServiceSpec:
    return ServiceSpec(
        name="migrate", image="app:1", role="init", command=["sh", "-c", f"echo m; exit {code}"]
    )


def request(*services: ServiceSpec) -> ProvisionRequest:
    return ProvisionRequest(instance_id=new_id("inst"), services=list(services or [web()]))


@pytest.fixture
def backend() -> FakeBackend:
    b = FakeBackend()
    for n in (1, 2):
        b.add_image(FakeImage(name=f"app:{n}", http=conformance_http))
    return b


@pytest.mark.parametrize("step", PROVISION_STEPS)
async def test_fail_next_provision_at_each_step(backend: FakeBackend, step: str) -> None:
    provider = FakeProvider(backend)
    backend.faults.fail_next_provision(step, "disk full")
    req = request(web(), migrate())
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(req)
    assert caught.value.step == step
    assert "disk full" in str(caught.value)
    assert backend.leftovers(req.instance_id) == []
    await provider.provision(req)  # one-shot: the next one works
    assert (await provider.status(req.instance_id)).ready


def test_unknown_step_is_refused(backend: FakeBackend) -> None:
    with pytest.raises(ValueError, match="unknown provision step"):
        backend.faults.fail_next_provision("teleport")


async def test_missing_image_fails_pull_until_restored(backend: FakeBackend) -> None:
    provider = FakeProvider(backend)
    backend.faults.make_image_missing("app:1")
    req = request()
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(req)
    assert caught.value.step == "pull"
    assert "app:1" in str(caught.value)
    backend.faults.restore_image("app:1")
    await provider.provision(req)


async def test_missing_image_in_deploy_changes_nothing(backend: FakeBackend) -> None:
    provider = FakeProvider(backend)
    req = request()
    await provider.provision(req)
    backend.faults.make_image_missing("app:2")
    deploy = DeployRequest(
        instance_id=req.instance_id, services=[ServiceDeploySpec(name="web", image="app:2")]
    )
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(deploy)
    assert caught.value.step == "pull"
    assert {c.image_ref for c in backend.observe(req.instance_id)} == {"app:1"}
    assert len(await provider.releases(req.instance_id)) == 1


async def test_failing_health_fails_deploys_and_readiness(backend: FakeBackend) -> None:
    provider = FakeProvider(backend)
    req = request()
    await provider.provision(req)
    backend.faults.fail_health("web")
    status = await provider.status(req.instance_id)
    assert not status.ready
    assert "injected" in status.services["web"].message
    deploy = DeployRequest(
        instance_id=req.instance_id,
        services=[ServiceDeploySpec(name="web", image="app:2")],
        strategy="blue-green",
    )
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(deploy)
    failure = caught.value
    assert failure.strategy == "blue-green"
    assert "health web" in failure.step
    assert all(isinstance(e, ProbeResult) for e in failure.evidence)
    assert [e.attempt for e in failure.evidence] == [1, 2, 3]
    assert not any(e.healthy for e in failure.evidence)
    assert "injected" in str(failure.evidence[-1])
    backend.faults.heal("web")
    assert (await provider.status(req.instance_id)).ready
    await provider.deploy(deploy)
    assert {c.image_ref for c in backend.observe(req.instance_id)} == {"app:2"}


async def test_failing_init_fails_provision_naming_it(backend: FakeBackend) -> None:
    provider = FakeProvider(backend)
    backend.faults.fail_init("migrate", exit_code=3)
    req = request(web(), migrate())
    with pytest.raises(ProvisionFailed) as caught:
        await provider.provision(req)
    assert caught.value.step == "init migrate"
    assert "code 3" in str(caught.value)
    assert backend.leftovers(req.instance_id) == []
    with pytest.raises(ValueError, match="non-zero"):
        backend.faults.fail_init("migrate", exit_code=0)


async def test_init_failing_on_start_marks_the_instance_failed(backend: FakeBackend) -> None:
    provider = FakeProvider(backend)
    req = request(web(), migrate())
    await provider.provision(req)
    await provider.stop(req.instance_id)
    backend.faults.fail_init("migrate", exit_code=5)
    with pytest.raises(BackendError, match="migrate"):
        await provider.start(req.instance_id)
    status = await provider.status(req.instance_id)
    assert status.state == InstanceState.FAILED
    assert status.services["migrate"].state == InstanceState.FAILED
    backend.faults.clear()
    await provider.start(req.instance_id)
    assert (await provider.status(req.instance_id)).ready


async def test_unavailable_backend(backend: FakeBackend) -> None:
    provider = FakeProvider(backend)
    req = request()
    await provider.provision(req)
    backend.faults.unavailable = True
    health = await provider.health_check()
    assert not health.healthy
    with pytest.raises(BackendUnavailable):
        await provider.status(req.instance_id)
    with pytest.raises(BackendUnavailable):
        await provider.provision(request())
    backend.faults.clear()
    assert (await provider.health_check()).healthy
    await provider.deprovision(req.instance_id)
    with pytest.raises(InstanceNotFound):
        await provider.status(req.instance_id)
