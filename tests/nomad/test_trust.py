"""Operations you can trust on Nomad (issue 12): the operation lease as one atomic record
(Variables with check-and-set from 1.4, a parameterized job registered with
``EnforceIndex`` before), ``InstanceBusy``, the repair of an interrupted operation,
bounded cleanup that names what it left, a lost agent reported as such, and a crash
that is never hidden by the restart policy."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ctrlplane.errors import BackendUnavailable, DeployFailed, InstanceBusy, ProvisionFailed
from ctrlplane.ids import INSTANCE_PREFIX, RELEASE_PREFIX, new_id
from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.context import AgentFacts, open_context, shape_for
from ctrlplane.provider.nomad.leases import NomadLeaseStore, lease_job_id
from ctrlplane.provider.nomad.limits import preflight
from ctrlplane.provider.nomad.observe.history import live_release, release_meta, request_from_job
from ctrlplane.provider.nomad.render import ReleaseMeta, translate
from ctrlplane.provider.spec import (
    DeployRequest,
    HealthCheckSpec,
    ResourceSpec,
    ServiceDeploySpec,
)
from ctrlplane.testing.leases import take_over

from .harness import CURRENT, NAMESPACE, OLDEST, NomadHarness, request_of


def _lease(operation: str, *, age: float = 0.0, ttl: float = 30.0, **intent: str) -> Lease:
    at = datetime.now(UTC) - timedelta(seconds=age)
    return Lease("other-host/4242/abcd", operation, at, at, ttl, intent)


def _store(h: NomadHarness) -> NomadLeaseStore:
    return NomadLeaseStore(h.config(), AgentFacts())


# -- the lease record ----------------------------------------------------------------------


@pytest.mark.parametrize("harness", [CURRENT, OLDEST], indirect=True)
async def test_the_lease_record_is_one_atomic_check_and_set_record(
    harness: NomadHarness,
) -> None:
    store = _store(harness)
    iid = new_id(INSTANCE_PREFIX)
    mine = _lease("deploy")
    first = await store.create(iid, mine)
    assert first is not None
    assert await store.create(iid, _lease("scale")) is None  # exists: not created
    read = await store.read(iid)
    assert read == first
    renewed = await store.replace(iid, first, _lease("deploy", phase="roll out"))
    assert renewed is not None
    assert renewed.token != first.token
    assert await store.replace(iid, first, _lease("scale")) is None  # stale token
    await store.delete(iid, first)  # stale: left alone
    assert (await store.read(iid)) == renewed
    await store.delete(iid, renewed)
    assert await store.read(iid) is None
    assert await harness.leftovers(iid) == []  # no instance job: the record is gone
    again = await store.create(iid, mine)
    assert again is not None
    await store.delete(iid, again)


async def test_before_1_4_the_lease_is_a_parameterized_job_that_never_runs(
    old: NomadHarness,
) -> None:
    provider = old.make_provider()
    req = request_of(old.idle_service("app"))
    await provider.provision(req)
    lease = old.agent.state.job(NAMESPACE, lease_job_id(req.instance_id))
    assert lease is not None  # released: a version without a lease, kept
    assert lease.current["Type"] == "batch"
    assert lease.current["ParameterizedJob"]
    assert lease.allocs == []
    assert lease.current["Meta"]["ctrlplane_lease"] == ""
    assert [s.instance_id for s in await provider.list_instances()] == [req.instance_id]
    await provider.deprovision(req.instance_id)
    assert old.agent.state.job(NAMESPACE, lease_job_id(req.instance_id)) is None
    assert not [r for r in old.agent.requests if r.path.startswith("/v1/var")]


@pytest.mark.parametrize("harness", [CURRENT, OLDEST], indirect=True)
async def test_a_mutation_waits_for_the_holder_then_is_busy(harness: NomadHarness) -> None:
    provider = harness.make_provider()
    req = request_of(harness.idle_service("app"))
    await provider.provision(req)
    iid = req.instance_id
    store = _store(harness)
    held = await store.create(iid, _lease("deploy"))
    assert held is not None
    impatient = type(provider)(harness.config().model_copy(update={"lock_wait": 0.3}))
    with pytest.raises(InstanceBusy) as caught:
        await impatient.scale(iid, ResourceSpec(replicas=2))
    assert caught.value.operation == "deploy"
    assert caught.value.holder == "other-host/4242/abcd"
    status = await provider.status(iid)
    assert status.metadata["operation_state"] == "running"
    assert status.metadata["operation"].startswith("deploy by other-host/4242/abcd")
    state = harness.agent.state.job(NAMESPACE, iid)
    assert state is not None
    assert state.current["TaskGroups"][0]["Count"] == 1  # nothing changed
    await store.delete(iid, held)
    await provider.scale(iid, ResourceSpec(replicas=2))  # free again
    assert state.current["TaskGroups"][0]["Count"] == 2


# -- repairing an interrupted operation ----------------------------------------------------


@pytest.mark.parametrize("harness", [CURRENT, OLDEST], indirect=True)
async def test_an_interrupted_blue_green_deploy_is_undone_by_the_next_call(
    harness: NomadHarness,
) -> None:
    """A deploy whose process died after registering its new set (canaries waiting for
    the promotion) left two releases' allocations running. ``status`` says so and what
    the next call does; the next mutating call fails the deployment and restores the
    recorded previous release before it works, so one release serves."""
    h = harness
    provider = h.make_provider()
    web = h.http_service("web", port=8080, env={"MESSAGE": "v1"}).model_copy(
        update={"resources": ResourceSpec(replicas=2)}
    )
    req = request_of(web)
    await provider.provision(req)
    iid = req.instance_id
    async with open_context(h.config(), preflight(h.config())) as ctx:
        live = await jobs.read_job(ctx, iid)
        previous = release_meta(live).release_id
        rel = new_id(RELEASE_PREFIX)
        new = request_from_job(live)
        new = new.model_copy(
            update={
                "services": [
                    s.model_copy(update={"image": h.image(2), "env": {"MESSAGE": "v2"}})
                    for s in new.services
                ]
            }
        )
        # What the dead deploy registered: the new set, shaped for this agent.
        release = ReleaseMeta(rel, datetime.now(UTC), "blue-green")
        shape = await shape_for(ctx, new)
        await jobs.register(ctx, translate(new, release, h.config(), canary=2, shape=shape))
    for _ in range(200):  # the new set runs beside the old one
        images = {u.image for u in await h.running(iid)}
        if images == {h.image(1), h.image(2)}:
            break
        await asyncio.sleep(0.02)
    assert images == {h.image(1), h.image(2)}
    intent = {
        "phase": "roll out",
        "release_id": rel,
        "previous_release": previous,
        "previous_version": str(live["Version"]),
    }
    assert await _store(h).create(iid, _lease("deploy", age=60, ttl=3, **intent)) is not None

    status = await provider.status(iid)
    assert status.metadata["operation_state"] == "interrupted"
    assert "deploy interrupted" in status.message
    assert f"restore release {previous!r}" in status.metadata["operation_repair"]
    assert "fail deployment" in status.metadata["operation_repair"]

    await provider.scale(iid, ResourceSpec(replicas=2))  # any mutating call repairs first
    state = h.agent.state.job(NAMESPACE, iid)
    assert state is not None
    assert live_release(state.current) == previous
    assert {u.image for u in await h.running(iid)} == {h.image(1)}
    assert len(await h.running(iid)) == 2
    assert (await provider.status(iid)).metadata.get("operation_state") is None
    assert (await provider.releases(iid))[0].release_id == previous


async def test_an_interrupted_provision_is_purged_before_the_next_one(
    harness: NomadHarness,
) -> None:
    h = harness
    provider = h.make_provider()
    partial = request_of(h.idle_service("app"), h.slow_init())
    iid = partial.instance_id
    async with open_context(h.config(), preflight(h.config())) as ctx:
        job = translate(partial, ReleaseMeta(new_id(RELEASE_PREFIX), datetime.now(UTC)), h.config())
        await jobs.register(ctx, job)
    await _store(h).create(iid, _lease("provision", age=60, ttl=3, phase="provision"))
    status = await provider.status(iid)
    assert "purge the job of the interrupted provision" in status.message
    fresh = partial.model_copy(update={"services": [h.idle_service("app")]})
    await provider.provision(fresh)
    state = h.agent.state.job(NAMESPACE, iid)
    assert state is not None
    assert [v["Version"] for v in state.versions] == [0]  # purged, then provisioned anew
    assert [t["Name"] for t in state.current["TaskGroups"][0]["Tasks"]] == ["app"]
    assert (await provider.status(iid)).state == InstanceState.RUNNING


# -- failures that must be told as they are --------------------------------------------------


async def test_cleanup_after_a_failure_is_bounded_and_names_what_it_left(
    harness: NomadHarness,
) -> None:
    h = harness
    provider = type(h.make_provider())(h.config().model_copy(update={"cleanup_timeout": 0.5}))
    app = h.idle_service("app").model_copy(update={"image": h.missing_image})
    req = request_of(app)
    h.agent.stalled.add(("DELETE", f"/v1/job/{req.instance_id}"))
    with pytest.raises(ProvisionFailed) as caught:
        async with asyncio.timeout(10):
            await provider.provision(req)
    assert "Failed to pull" in caught.value.reason
    assert f"purging job {req.instance_id!r} and its Variables did not finish within 0.5s" in (
        caught.value.reason
    )
    h.agent.stalled.clear()
    await provider.deprovision(req.instance_id)


async def test_a_lease_lost_while_a_failed_provision_cleans_up_reports_the_failure(
    harness: NomadHarness,
) -> None:
    """The provision fails (an image that cannot be pulled), its purge hangs, and another
    holder takes the lease meanwhile: the error is the provision's own failure, with a
    note on the lost lease, not a ``LeaseLost`` that hides where it stopped."""
    h = harness
    config = h.config().model_copy(
        update={"lease_ttl": timedelta(seconds=0.6), "cleanup_timeout": timedelta(seconds=5)}
    )
    provider = type(h.make_provider())(config)
    app = h.idle_service("app").model_copy(update={"image": h.missing_image})
    req = request_of(app)
    iid = req.instance_id
    h.agent.stalled.add(("DELETE", f"/v1/job/{iid}"))
    task = asyncio.create_task(provider.provision(req))
    async with asyncio.timeout(10):
        while not h.agent.held:  # noqa: ASYNC110 - the fake has no event for it
            await asyncio.sleep(0.05)
    await take_over(_store(h), iid, _lease("deploy"))
    with pytest.raises(ProvisionFailed) as caught:
        await asyncio.wait_for(task, 15)
    assert "Failed to pull" in caught.value.reason
    assert any("lost its operation lease" in n for n in caught.value.__notes__)
    h.agent.stalled.clear()


async def test_an_agent_lost_mid_provision_is_unavailable_not_a_failed_provision(
    harness: NomadHarness,
) -> None:
    h = harness
    provider = h.make_provider()
    req = request_of(h.idle_service("app"), h.slow_init())
    task = asyncio.create_task(provider.provision(req))
    while not h.agent.state.job(NAMESPACE, req.instance_id):  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    await h.agent.go_away()
    with pytest.raises(BackendUnavailable) as caught:
        await asyncio.wait_for(task, 10)
    assert "purging job" in str(caught.value)  # what the cleanup could not do


async def test_a_release_that_crashes_after_it_became_healthy_fails_the_deploy(
    harness: NomadHarness,
) -> None:
    """Healthy at first, then exits: the stability window sees the restart, the deploy
    fails and the previous release serves again."""
    h = harness
    provider = type(h.make_provider())(
        h.config().model_copy(update={"stability_window": timedelta(seconds=1)})
    )
    check = HealthCheckSpec(path="/healthz", port=8080)
    web = h.http_service("web", port=8080, env={"MESSAGE": "v1"}).model_copy(
        update={"health_check": check}
    )
    req = request_of(web)
    await provider.provision(req)
    crashing = DeployRequest(
        instance_id=req.instance_id,
        services=[
            ServiceDeploySpec(
                name="web", image=h.image(2), env={"MESSAGE": "v2", "CRASH_AFTER": "0.3"}
            )
        ],
    )
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(crashing)
    assert "crashed" in caught.value.reason
    assert caught.value.rolled_back
    status = await provider.status(req.instance_id)
    assert status.metadata["release_id"] == (await provider.releases(req.instance_id))[0].release_id
    assert {u.image for u in await h.running(req.instance_id)} == {h.image(1)}
