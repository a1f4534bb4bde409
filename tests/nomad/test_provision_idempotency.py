"""Provisioning an instance that exists: a complete one is returned unchanged, a partial
one is replaced, and a failed replacement leaves no version registered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from ctrlplane.errors import ProvisionFailed
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.spec import ProvisionRequest, ServiceSpec

from .harness import NAMESPACE, TOKEN, NomadHarness


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[NomadHarness]:
    h = NomadHarness()
    await h.setup()
    try:
        yield h
    finally:
        await h.teardown()


def _request(iid: str, service: ServiceSpec) -> ProvisionRequest:
    return ProvisionRequest(instance_id=iid, tenant_id="t", name="n", services=[service])


def _app(h: NomadHarness, image: str) -> ServiceSpec:
    return h.idle_service("app").model_copy(update={"image": image})


async def _register_partial(h: NomadHarness, req: ProvisionRequest) -> None:
    """What a provision that crashed after registering leaves: the job, never healthy."""
    (body,) = h.make_provider().render(req)
    async with httpx.AsyncClient(base_url=h.agent.address) as client:
        resp = await client.put(
            "/v1/jobs",
            json=body,
            params={"namespace": NAMESPACE, "region": "global"},
            headers={"X-Nomad-Token": TOKEN},
        )
    assert resp.status_code == 200, resp.text


def _versions(h: NomadHarness, iid: str) -> list[str]:
    state = h.agent.state.job(NAMESPACE, iid)
    assert state is not None
    return [v["TaskGroups"][0]["Tasks"][0]["Config"]["image"] for v in state.versions]


async def test_provisioning_a_complete_instance_again_returns_it_unchanged(
    harness: NomadHarness,
) -> None:
    provider = harness.make_provider()
    iid = new_id(INSTANCE_PREFIX)
    await provider.provision(_request(iid, _app(harness, harness.image(1))))
    again = await provider.provision(_request(iid, _app(harness, harness.image(2))))
    assert again.provider_ref == iid
    assert _versions(harness, iid) == [harness.image(1)]  # nothing registered
    assert [u.image for u in await harness.running(iid)] == [harness.image(1)]
    spoiled = _request(iid, _app(harness, harness.missing_image))
    await provider.provision(spoiled)  # not even a bad spec reaches the job
    assert _versions(harness, iid) == [harness.image(1)]
    assert (await provider.status(iid)).state == InstanceState.RUNNING


async def test_a_failed_replacement_of_a_partial_instance_leaves_nothing(
    harness: NomadHarness,
) -> None:
    iid = new_id(INSTANCE_PREFIX)
    await _register_partial(harness, _request(iid, _app(harness, harness.missing_image)))
    other = _app(harness, harness.missing_image + "-other")
    with pytest.raises(ProvisionFailed, match="pull"):
        await harness.make_provider().provision(_request(iid, other))
    assert harness.agent.leftovers(NAMESPACE, iid) == []


async def test_a_partial_instance_is_replaced(harness: NomadHarness) -> None:
    iid = new_id(INSTANCE_PREFIX)
    await _register_partial(harness, _request(iid, _app(harness, harness.missing_image)))
    provider = harness.make_provider()
    await provider.provision(_request(iid, _app(harness, harness.image(2))))
    assert (await provider.status(iid)).state == InstanceState.RUNNING
    assert [u.image for u in await harness.running(iid)] == [harness.image(2)]
    await provider.deprovision(iid)
