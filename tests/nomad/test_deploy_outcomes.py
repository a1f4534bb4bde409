"""What a deploy reports: a restore that fails too, blue-green's switch, reused release
IDs, and releases that can all still be rolled back to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from ctrlplane.errors import DeployFailed, InvalidSpec, ReleaseNotFound
from ctrlplane.ids import INSTANCE_PREFIX, RELEASE_PREFIX, new_id
from ctrlplane.provider.events import ProgressEvent
from ctrlplane.provider.spec import (
    DeployRequest,
    HealthCheckSpec,
    ProvisionRequest,
    ResourceSpec,
    ServiceDeploySpec,
)

from .harness import NAMESPACE, NomadHarness


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[NomadHarness]:
    h = NomadHarness()
    await h.setup()
    try:
        yield h
    finally:
        h.backend.faults.heal("web")
        await h.teardown()


async def _web(h: NomadHarness, replicas: int = 1) -> str:
    web = h.http_service("web", port=8080).model_copy(
        update={
            "health_check": HealthCheckSpec(path="/healthz", port=8080, retries=2),
            "resources": ResourceSpec(replicas=replicas),
        }
    )
    req = ProvisionRequest(
        instance_id=new_id(INSTANCE_PREFIX), tenant_id="t", name="n", services=[web]
    )
    await h.make_provider().provision(req)
    return req.instance_id


def _to(h: NomadHarness, iid: str, version: int, **kw: object) -> DeployRequest:
    return DeployRequest.model_validate(
        {
            "instance_id": iid,
            "services": [ServiceDeploySpec(name="web", image=h.image(version))],
            **kw,
        }
    )


async def test_a_restore_that_fails_too_is_reported_not_hidden(harness: NomadHarness) -> None:
    iid = await _web(harness)
    harness.backend.faults.fail_health("web")  # the new release and the old one fail
    seen: list[ProgressEvent] = []
    with pytest.raises(DeployFailed) as caught:
        await harness.make_provider().deploy(_to(harness, iid, 2), events=seen.append)
    failed = caught.value
    assert failed.rolled_back is False
    assert "restoring the previous release" in failed.reason
    assert "previous release was restored" not in str(failed)
    assert "may be partly updated" in str(failed)
    assert not [e for e in seen if e.kind == "rolled_back"]


async def test_a_restore_that_works_says_so(harness: NomadHarness) -> None:
    iid = await _web(harness)
    harness.backend.faults.make_image_missing(harness.image(2))
    seen: list[ProgressEvent] = []
    with pytest.raises(DeployFailed) as caught:
        await harness.make_provider().deploy(_to(harness, iid, 2), events=seen.append)
    assert caught.value.rolled_back is True
    assert [e.kind for e in seen if e.kind == "rolled_back"] == ["rolled_back"]


async def test_blue_green_reports_the_switch_at_the_promotion(harness: NomadHarness) -> None:
    iid = await _web(harness, replicas=2)
    seen: list[ProgressEvent] = []
    await harness.make_provider().deploy(
        _to(harness, iid, 2, strategy="blue-green"), events=seen.append
    )
    order = [
        e.kind if e.kind != "step_started" else f"start {e.step}"
        for e in seen
        if e.kind in ("step_started", "traffic_switched")
    ]
    assert order == [
        "start register",
        "start gate canaries",
        "start promote",
        "traffic_switched",
        "start rollout",
    ]


async def test_a_reused_release_id_is_refused_before_anything_changes(
    harness: NomadHarness,
) -> None:
    iid = await _web(harness)
    provider = harness.make_provider()
    rel = new_id(RELEASE_PREFIX)
    await provider.deploy(_to(harness, iid, 2, release_id=rel))
    state = harness.agent.state.job(NAMESPACE, iid)
    assert state is not None
    before = len(harness.agent.requests), state.current["Version"]
    with pytest.raises(InvalidSpec, match=rel) as caught:
        await provider.deploy(_to(harness, iid, 3, release_id=rel))
    assert "new release ID" in str(caught.value)
    # The deploy took the instance's operation lease (a Variable, created then deleted)
    # and wrote nothing else.
    lease = f"/v1/var/ctrlplane/leases/{iid}"
    writes = [r for r in harness.agent.requests[before[0] :] if r.method != "GET"]
    assert [(r.method, r.path) for r in writes] == [("PUT", lease), ("DELETE", lease)]
    assert state.current["Version"] == before[1]


async def test_every_listed_release_can_be_rolled_back_to() -> None:
    """``release_history`` above the server's ``job_tracked_versions`` (6 on the fake)
    lists only what the server still holds."""
    h = NomadHarness(release_history=10)
    await h.setup()
    try:
        iid = await _web(h)
        provider = h.make_provider()
        first = (await provider.releases(iid))[0].release_id
        for n in range(8):  # the fake has images 1 to 4: distinct releases by env
            web = ServiceDeploySpec(name="web", image=h.image(2 + n % 3), env={"N": str(n)})
            await provider.deploy(DeployRequest(instance_id=iid, services=[web]))
        listed = await provider.releases(iid)
        state = h.agent.state.job(NAMESPACE, iid)
        assert state is not None
        held = {v["Meta"]["ctrlplane_release_id"] for v in state.versions}
        assert len(listed) == 6
        assert {r.release_id for r in listed} <= held
        assert first not in {r.release_id for r in listed}
        with pytest.raises(ReleaseNotFound):
            await provider.rollback(iid, first)
        await provider.rollback(iid, listed[-1].release_id)  # the oldest listed still works
        live = (await provider.releases(iid))[0]
        assert live.rollback_of == listed[-1].release_id
        assert live.service("web").env == listed[-1].service("web").env
    finally:
        await h.teardown()
