"""Progress events of the fake's provision, deploy and rollback."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ctrlplane.errors import DeployFailed
from ctrlplane.ids import new_id
from ctrlplane.provider import (
    DeployRequest,
    HealthCheckSpec,
    PortSpec,
    ProvisionRequest,
    ServiceDeploySpec,
    ServiceSpec,
)
from ctrlplane.provider.events import (
    ProbeObserved,
    ProgressEvent,
    RolledBack,
    StepStarted,
    TrafficSwitched,
    UnitRemoved,
    UnitStarted,
)
from ctrlplane.testing import PROVISION_STEPS, FakeBackend, FakeImage, FakeProvider
from ctrlplane.testing.conformance.fake_harness import conformance_http


@pytest.fixture
def provider() -> FakeProvider:
    backend = FakeBackend()
    backend.add_image(FakeImage(name="app", http=conformance_http))
    return FakeProvider(backend, canary_observation=0.0)


def web_request() -> ProvisionRequest:
    check = HealthCheckSpec(path="/healthz", port=80, interval=timedelta(milliseconds=2))
    web = ServiceSpec(name="web", image="app", ports=[PortSpec(container=80)], health_check=check)
    return ProvisionRequest(instance_id=new_id("inst"), services=[web])


async def test_provision_reports_steps_and_units(provider: FakeProvider) -> None:
    events: list[ProgressEvent] = []
    req = web_request()
    result = await provider.provision(req, events=events.append)
    steps = [e.step for e in events if isinstance(e, StepStarted)]
    assert steps == list(PROVISION_STEPS)
    started = [e for e in events if isinstance(e, UnitStarted)]
    assert [(e.service, e.replica) for e in started] == [("web", 0)]
    assert started[0].release_id == result.metadata["release_id"]
    assert any(isinstance(e, ProbeObserved) and e.result.healthy for e in events)


@pytest.mark.parametrize("strategy", ["rolling", "blue-green", "canary"])
async def test_deploy_reports_units_probes_and_the_switch(
    provider: FakeProvider, strategy: str
) -> None:
    req = web_request()
    await provider.provision(req)
    events: list[ProgressEvent] = []

    async def subscriber(event: ProgressEvent) -> None:
        events.append(event)

    deploy = DeployRequest(
        instance_id=req.instance_id,
        release_id=new_id("rel"),
        services=[ServiceDeploySpec(name="web", image="app", env={"MESSAGE": "2"})],
        strategy=strategy,
    )
    await provider.deploy(deploy, events=subscriber)
    kinds = [e.kind for e in events]
    assert kinds.index("unit_started") < kinds.index("unit_removed")
    switch = [e for e in events if isinstance(e, TrafficSwitched)]
    assert len(switch) == 1
    assert switch[0].to_release == deploy.release_id
    assert any(isinstance(e, UnitRemoved) for e in events)


async def test_failed_deploy_reports_the_roll_back(provider: FakeProvider) -> None:
    req = web_request()
    result = await provider.provision(req)
    events: list[ProgressEvent] = []
    bad = DeployRequest(
        instance_id=req.instance_id,
        services=[ServiceDeploySpec(name="web", image="app", env={"HEALTHY": "0"})],
    )
    with pytest.raises(DeployFailed):
        await provider.deploy(bad, events=events.append)
    rolled = [e for e in events if isinstance(e, RolledBack)]
    assert len(rolled) == 1
    assert rolled[0].to_release == result.metadata["release_id"]
    assert any(isinstance(e, ProbeObserved) and not e.result.healthy for e in events)


async def test_a_failing_subscriber_never_breaks_the_operation(provider: FakeProvider) -> None:
    def explode(event: ProgressEvent) -> None:
        raise RuntimeError("subscriber bug")

    req = web_request()
    await provider.provision(req, events=explode)
    assert (await provider.status(req.instance_id)).ready
