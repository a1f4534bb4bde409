"""The Fly backend's own behaviour on the fake Machines API, beyond the conformance suite:
how the mapping shows in Fly (run-once inits, names, secrets, the control Machine),
the leases, repair after an interrupted operation, error translation, the configured
existing app, refusals, scaling and the requests each strategy sends."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ctrlplane.errors import (
    BackendError,
    DeployFailed,
    InstanceBusy,
    NotSupported,
    PermissionDenied,
    ProvisionFailed,
)
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.fly import FlyConfig, FlyProvider
from ctrlplane.provider.fly.client import FlyClient
from ctrlplane.provider.fly.errors import (
    FlyNotFound,
    InsufficientCapacity,
    MachineConflict,
    ServerError,
)
from ctrlplane.provider.fly.leases import FlyLeaseStore
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    HealthCheckSpec,
    LogOptions,
    ResourceSpec,
    SecretRef,
    ServiceDeploySpec,
    VolumeSpec,
)
from ctrlplane.secrets import MappingResolver
from ctrlplane.testing.leases import take_over

from .fake_machines import FakeMachine
from .harness import TOKEN, FlyHarness
from .workloads import checked_web, control_machine, machines, request, web

pytestmark = pytest.mark.asyncio


async def test_inits_run_as_run_once_machines_in_order_before_the_main(harness: FlyHarness) -> None:
    h = harness
    first = h.exit_service("init-a", code=0).model_copy(update={"role": "init"})
    second = h.exit_service("init-b", code=0).model_copy(
        update={"role": "init", "depends_on": ["init-a"]}
    )
    req = request(h, h.idle_service("app"), second, first)
    await h.make_provider().provision(req)
    inits = {m.metadata["ctrlplane_service"]: m for m in machines(h, req, role="init")}
    assert set(inits) == {"init-a", "init-b"}
    for m in inits.values():
        assert m.state == "destroyed"
        assert (m.config["auto_destroy"], m.config["restart"]) == (True, {"policy": "no"})
        exit_event = next(e for e in m.events if e["type"] == "exit")
        assert exit_event["request"]["exit_event"]["exit_code"] == 0
    app = next(m for m in machines(h, req, role="main"))
    assert inits["init-a"].destroyed_at is not None
    assert inits["init-a"].destroyed_at <= _created(inits["init-b"]) <= _created(app)
    status = await h.make_provider().status(req.instance_id)
    assert status.services["init-a"].state is InstanceState.STOPPED
    assert status.state is InstanceState.RUNNING


def _created(m: FakeMachine) -> float:
    return datetime.fromisoformat(m.created_at.replace("Z", "+00:00")).timestamp()


async def test_a_failing_init_names_the_service_and_its_exit_code(harness: FlyHarness) -> None:
    h = harness
    init = h.exit_service("migrate", code=3).model_copy(update={"role": "init"})
    req = request(h, h.idle_service("app"), init)
    with pytest.raises(ProvisionFailed) as caught:
        await h.make_provider().provision(req)
    assert caught.value.step == "init migrate (replica 0)"
    assert caught.value.reason == "exited with code 3"
    assert await h.leftovers(req.instance_id) == []


async def test_a_lease_lost_while_a_failed_provision_cleans_up_reports_the_failure(
    harness: FlyHarness,
) -> None:
    """The provision fails (an init exits 3), its cleanup hangs on the Machines API, and
    another holder takes the lease meanwhile: the error is the provision's own failure,
    with a note on the lost lease, not a ``LeaseLost`` that hides where it stopped."""
    h = harness
    config = h.config().model_copy(update={"lease_ttl": timedelta(seconds=0.6)})
    provider = FlyProvider(config, capabilities=h.capabilities)
    init = h.exit_service("migrate", code=3).model_copy(update={"role": "init"})
    req = request(h, h.idle_service("app"), init)
    iid = req.instance_id
    h.api.holding.add("Machines_delete")
    task = asyncio.create_task(provider.provision(req))
    async with asyncio.timeout(30):
        while not h.api.held:  # noqa: ASYNC110 - the fake has no event for it
            await asyncio.sleep(0.05)
    store = FlyLeaseStore(config)
    now = datetime.now(UTC)
    taken = await take_over(store, iid, Lease("other-host/4242/abcd", "deploy", now, now, 30))
    await asyncio.sleep(0.5)  # the provision's renewal meets the other holder's lease
    h.api.holding.clear()
    with pytest.raises(ProvisionFailed) as caught:
        await asyncio.wait_for(task, 30)
    assert caught.value.step == "init migrate (replica 0)"
    assert any("lost its operation lease" in n for n in caught.value.__notes__)
    await store.delete(iid, taken)  # the other holder is done
    await provider.deprovision(iid)
    assert await h.leftovers(iid) == []


async def test_a_dependent_starts_only_once_its_dependency_passes_its_check(
    harness: FlyHarness,
) -> None:
    h = harness
    db = checked_web(h).model_copy(update={"name": "db", "role": "sidecar"})
    app = h.idle_service("app").model_copy(update={"depends_on": ["db"]})
    req = request(h, app, db)
    await h.make_provider().provision(req)
    assert machines(h, req, role="sidecar")[0].checks["health"]["status"] == "passing"
    sick = db.model_copy(update={"env": {"MESSAGE": "x", "HEALTHY": "0"}})
    failing = request(h, app, sick)
    with pytest.raises(ProvisionFailed) as caught:
        await h.make_provider().provision(failing)
    assert caught.value.step == "health db (replica 0)"
    created = [r for r in h.api.seen("Machines_create") if h.app(failing.instance_id) in r.path]
    roles = [r.body["config"]["metadata"].get("ctrlplane_role") for r in created]
    assert roles == ["control", "sidecar"]  # the dependent was never created


async def test_an_unfinished_provision_is_wiped_and_done_again(
    harness: FlyHarness, raw: httpx.AsyncClient
) -> None:
    h = harness
    req = request(h, h.idle_service("app"))
    app = h.app(req.instance_id)
    await raw.post("/apps", json={"app_name": app, "org_slug": "personal"})
    control = {
        "name": "ctrlplane-control",
        "skip_launch": True,
        "config": {
            "image": h.values()["control_image"],
            "metadata": {
                "ctrlplane_instance": req.instance_id,
                "ctrlplane_role": "control",
                "ctrlplane_spec": req.model_dump_json(),
            },
        },
    }
    assert (await raw.post(f"/apps/{app}/machines", json=control)).status_code == 200
    half = {"config": {"image": h.image(1), "metadata": {"ctrlplane_instance": req.instance_id}}}
    stray = (await raw.post(f"/apps/{app}/machines", json=half)).json()
    unfinished = await h.make_provider().status(req.instance_id)
    assert unfinished.state is InstanceState.PROVISIONING
    assert "provision has not finished" in unfinished.message
    await h.make_provider().provision(req)
    assert next(m for m in h.api.machines_of(app) if m.id == stray["id"]).gone
    status = await h.make_provider().status(req.instance_id)
    assert status.state is InstanceState.RUNNING


async def test_sidecars_reach_the_main_by_its_service_name(harness: FlyHarness) -> None:
    h = harness
    side = h.idle_service("side").model_copy(update={"role": "sidecar"})
    req = request(h, web(h), side, replicas=2)
    await h.make_provider().provision(req)
    app = h.app(req.instance_id)
    webs = sorted(m.private_ip for m in machines(h, req, role="main"))
    for side_m in machines(h, req, role="sidecar"):
        assert sorted(h.api.resolve(app, "web", side_m)) == webs
    status = await h.make_provider().status(req.instance_id)
    private = [e for e in status.endpoints if not e.public]
    assert private[0].url == f"http://web.process.{app}.internal:8080"


async def test_secret_values_go_only_to_the_app_secrets(harness: FlyHarness) -> None:
    h = harness
    values = {"api-token": "tok-4b7e2c9d", "tls/key": "key-material-91c3"}
    refs = [SecretRef(key="api-token"), SecretRef(key="tls/key", type="tls")]
    req = request(h, h.idle_service("app").model_copy(update={"secrets": refs}))
    provider = h.make_provider(secrets=MappingResolver(values))
    await provider.provision(req)
    stored = h.api.apps[h.app(req.instance_id)].secrets
    assert sorted(stored.values()) == sorted(["tok-4b7e2c9d", "a2V5LW1hdGVyaWFsLTkxYzM="])
    text = await h.backend_text(req.instance_id)
    assert all(v not in text for v in values.values())
    assert "a2V5LW1hdGVyaWFsLTkxYzM" not in text
    machine = machines(h, req, role="main")[0]
    assert machine.config["processes"][0]["ignore_app_secrets"] is True
    env = await provider.exec(req.instance_id, ExecRequest(command=["printenv", "API_TOKEN"]))
    assert env.stdout == b"tok-4b7e2c9d\n"
    key = await provider.exec(req.instance_id, ExecRequest(command=["cat", "/run/secrets/tls/key"]))
    assert key.stdout == b"key-material-91c3"


async def test_releases_are_versions_of_the_control_machine(harness: FlyHarness) -> None:
    h = harness
    req = request(h, web(h))
    await h.make_provider().provision(req)
    deploy = DeployRequest(
        instance_id=req.instance_id,
        services=[ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "v2"})],
    )
    result = await h.make_provider().deploy(deploy)
    control = control_machine(h, req)
    assert control.state == "created"  # never started
    records = [
        json.loads(c["metadata"]["ctrlplane_release_record"])["release_id"]
        for _, c in control.versions
        if "ctrlplane_release_record" in c["metadata"]
    ]
    history = await h.make_provider().releases(req.instance_id)
    assert [r.release_id for r in history] == list(reversed(records))
    assert history[0].release_id == result.release_id
    assert history[0].live


async def test_the_operation_lease_is_the_control_machines_lease(harness: FlyHarness) -> None:
    h = harness
    req = request(h, checked_web(h))
    provider = h.make_provider()
    await provider.provision(req)
    never = ServiceDeploySpec(
        name="web",
        image=h.image(2),
        env={"MESSAGE": "x", "HEALTHY": "0"},
        health_check=HealthCheckSpec(
            path="/healthz", port=8080, retries=100_000, interval=timedelta(seconds=0.2)
        ),
    )
    task = asyncio.create_task(
        provider.deploy(DeployRequest(instance_id=req.instance_id, services=[never]))
    )
    control = control_machine(h, req)
    for _ in range(200):
        if control.lease is not None and control.lease.live():
            break
        await asyncio.sleep(0.02)
    assert control.lease is not None
    lease = Lease.from_json(control.lease.description)
    assert lease is not None
    assert lease.operation == "deploy"
    status = await h.make_provider().status(req.instance_id)
    assert status.metadata["operation_state"] == "running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert control.lease is None or not control.lease.live()


async def test_a_lease_someone_else_holds_makes_calls_wait_then_busy(
    harness: FlyHarness, raw: httpx.AsyncClient
) -> None:
    h = harness
    req = request(h, h.idle_service("app"))
    await h.make_provider().provision(req)
    control = control_machine(h, req)
    taken = await raw.post(
        f"/apps/{h.app(req.instance_id)}/machines/{control.id}/lease",
        json={"ttl": 60, "description": "flyctl deploy"},
    )
    assert taken.status_code == 200
    impatient = FlyProvider(h.config().model_copy(update={"lock_wait": timedelta(seconds=0.3)}))
    with pytest.raises(InstanceBusy) as caught:
        await impatient.stop(req.instance_id)
    assert "ctrlplane-tests@example.com" in str(caught.value)
    assert machines(h, req, role="main")[0].state == "started"


async def test_a_machine_leased_by_someone_else_is_not_updated(
    harness: FlyHarness, raw: httpx.AsyncClient
) -> None:
    h = harness
    req = request(h, web(h))
    await h.make_provider().provision(req)
    leased = machines(h, req, role="main")[0]
    await raw.post(
        f"/apps/{h.app(req.instance_id)}/machines/{leased.id}/lease",
        json={"ttl": 60, "description": "fly scale memory"},
    )
    deploy = DeployRequest(
        instance_id=req.instance_id, services=[ServiceDeploySpec(name="web", image=h.image(2))]
    )
    with pytest.raises(DeployFailed) as caught:
        await h.make_provider().deploy(deploy)
    assert "leased by ctrlplane-tests@example.com (fly scale memory)" in caught.value.reason
    assert caught.value.rolled_back
    assert leased.config["image"] == h.image(1)
    assert len(leased.versions) == 1


async def test_an_interrupted_operation_is_repaired_first(
    harness: FlyHarness, raw: httpx.AsyncClient
) -> None:
    h = harness
    req = request(h, web(h))
    await h.make_provider().provision(req)
    app = h.app(req.instance_id)
    control = control_machine(h, req)
    then = datetime.now(UTC) - timedelta(minutes=5)
    dead = Lease("gone-host/1/abcd", "deploy", then, then, 2.0, {"phase": "roll out"})
    await raw.post(
        f"/apps/{app}/machines/{control.id}/lease", json={"ttl": 600, "description": dead.to_json()}
    )
    stray = dict(machines(h, req, role="main")[0].config)
    stray["metadata"] = {**stray["metadata"], "ctrlplane_generation": "7"}
    made = await raw.post(
        f"/apps/{app}/machines", json={"config": stray, "skip_service_registration": True}
    )
    assert made.status_code == 200
    status = await h.make_provider().status(req.instance_id)
    assert status.metadata["operation_state"] == "interrupted"
    assert "deploy interrupted" in status.message
    deploy = DeployRequest(
        instance_id=req.instance_id,
        services=[ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "v2"})],
    )
    await h.make_provider().deploy(deploy)
    leftover = next(m for m in h.api.machines_of(app) if m.id == made.json()["id"])
    assert leftover.gone
    assert {u.image for u in await h.running(req.instance_id)} == {h.image(2)}


async def test_errors_are_translated_at_the_client(harness: FlyHarness) -> None:
    h = harness
    async with FlyClient(h.config()) as api:
        assert await api.get_machine("no-such-app", "m1") is None
        with pytest.raises(FlyNotFound):
            await api.request("GET", "/apps/no-such-app")
        await api.create_app("err-app", "personal")
        h.api.full_regions.add("fra")
        with pytest.raises(InsufficientCapacity) as capacity:
            await api.create_machine(
                "err-app", {"region": "fra", "config": {"image": h.image(1)}}, region="fra"
            )
        assert capacity.value.region == "fra"
        assert "region fra" in str(capacity.value)
        h.api.fail_next("Machines_create", 503, "flyd is restarting")
        with pytest.raises(ServerError) as server:
            await api.create_machine("err-app", {"config": {"image": h.image(1)}}, region="ams")
        assert (server.value.status, server.value.region) == (503, "ams")
        made = await api.create_machine("err-app", {"config": {"image": h.image(1)}}, region="ams")
        body = {"config": {"image": h.image(2)}, "current_version": "stale"}
        with pytest.raises(MachineConflict) as conflict:
            await api.update_machine("err-app", made["id"], body, nonce="")
        assert conflict.value.status == 412
    bad = FlyConfig.model_validate({**h.values(), "token": "wrong"})
    async with FlyClient(bad) as api:
        with pytest.raises(PermissionDenied) as denied:
            await api.list_apps("personal")
    assert "wrong" not in str(denied.value)
    health = await FlyProvider(bad).health_check()
    assert not health.healthy


async def test_capacity_and_permission_failures_of_a_provision(harness: FlyHarness) -> None:
    h = harness
    h.api.full_regions.add("ams")
    req = request(h, h.idle_service("app"))
    with pytest.raises(ProvisionFailed) as caught:
        await h.make_provider().provision(req)
    assert "in region ams" in caught.value.reason
    assert "no capacity" in caught.value.reason
    assert await h.leftovers(req.instance_id) == []
    h.api.full_regions.clear()
    h.api.readonly_tokens = ("reader",)
    reader = FlyProvider(FlyConfig.model_validate({**h.values(), "token": "reader"}))
    with pytest.raises(PermissionDenied):
        await reader.provision(request(h, h.idle_service("app")))


async def test_an_existing_app_holds_one_instance_and_is_kept(
    harness: FlyHarness, raw: httpx.AsyncClient
) -> None:
    await raw.post("/apps", json={"app_name": "shop-prod", "org_slug": "personal"})
    h = FlyHarness(app="shop-prod")
    h.api = harness.api
    provider = h.make_provider(secrets=MappingResolver({"token": "t0k3n-value"}))
    app = h.idle_service("app").model_copy(
        update={
            "secrets": [SecretRef(key="token")],
            "volumes": [VolumeSpec(name="data", mount_path="/data")],
        }
    )
    req = request(h, app)
    await provider.provision(req)
    shop = h.api.apps["shop-prod"]
    assert len(shop.secrets) == 1
    assert [v.name for v in shop.volumes.values()] == ["data_0"]
    other = request(h, h.idle_service("app"))
    with pytest.raises(ProvisionFailed, match=f"already holds instance {req.instance_id}"):
        await provider.provision(other)
    listed = await provider.list_instances()
    assert [s.instance_id for s in listed] == [req.instance_id]
    await provider.deprovision(req.instance_id)
    assert "shop-prod" in h.api.apps
    assert shop.secrets == {}
    assert shop.volumes == {}
    assert h.api.live_machines("shop-prod") == []


async def test_exec_refuses_stdin_and_tty_and_logs_are_refused_without_a_call(
    harness: FlyHarness,
) -> None:
    h = harness
    provider = h.make_provider()
    before = len(h.api.requests)
    iid = new_id(INSTANCE_PREFIX)
    with pytest.raises(NotSupported, match="has no stdin"):
        await provider.exec(iid, ExecRequest(command=["cat"], stdin=b"data"))
    with pytest.raises(NotSupported, match="has no tty"):
        await provider.exec(iid, ExecRequest(command=["sh"], tty=True))
    with pytest.raises(NotSupported, match="has no logs endpoint"):
        await provider.logs(iid, LogOptions()).collect()
    assert len(h.api.requests) == before


async def test_scale_sets_the_guest_and_refuses_a_shared_volume(harness: FlyHarness) -> None:
    h = harness
    req = request(h, h.idle_service("app"))
    provider = h.make_provider()
    await provider.provision(req)
    await provider.scale(req.instance_id, ResourceSpec(memory_mb=512, cpu_millis=1500))
    usage = await provider.resources(req.instance_id)
    assert usage.memory_limit_mb == 512
    assert machines(h, req, role="main")[0].config["guest"] == {
        "cpu_kind": "shared",
        "cpus": 2,
        "memory_mb": 512,
    }
    vol = h.idle_service("db").model_copy(
        update={"volumes": [VolumeSpec(name="data", mount_path="/d")]}
    )
    with_volume = request(h, vol)
    await provider.provision(with_volume)
    with pytest.raises(NotSupported, match="use kind stateful_set"):
        await provider.scale(with_volume.instance_id, ResourceSpec(replicas=2))
    with pytest.raises(NotSupported, match="a Fly volume attaches to one Machine"):
        await provider.deploy(
            DeployRequest(
                instance_id=with_volume.instance_id,
                services=[ServiceDeploySpec(name="db", image=h.image(2))],
                strategy="blue-green",
            )
        )


async def test_a_stateful_replica_finds_its_volume_again(harness: FlyHarness) -> None:
    h = harness
    db = h.idle_service("db").model_copy(
        update={"volumes": [VolumeSpec(name="data", mount_path="/d")]}
    )
    req = request(h, db, replicas=2, kind="stateful_set")
    provider = h.make_provider()
    await provider.provision(req)
    wrote = await provider.exec(
        req.instance_id, ExecRequest(command=["sh", "-c", "echo one > /d/f"], replica=1)
    )
    assert wrote.exit_code == 0
    await provider.scale(req.instance_id, ResourceSpec(replicas=1))
    await provider.scale(req.instance_id, ResourceSpec(replicas=2))
    read = await provider.exec(req.instance_id, ExecRequest(command=["cat", "/d/f"], replica=1))
    assert read.stdout == b"one\n"


async def test_rolling_updates_one_machine_at_a_time_with_check_and_set(
    harness: FlyHarness,
) -> None:
    h = harness
    req = request(h, checked_web(h), replicas=2)
    await h.make_provider().provision(req)
    h.api.requests.clear()
    deploy = DeployRequest(
        instance_id=req.instance_id, services=[ServiceDeploySpec(name="web", image=h.image(2))]
    )
    await h.make_provider().deploy(deploy)
    seen = [r for r in h.api.requests if r.operation != "graphql"]
    updates = [
        r
        for r in seen
        if r.operation == "Machines_update" and "ctrlplane_spec" not in json.dumps(r.body)
    ]
    assert len(updates) == 2
    for update in updates:
        assert update.body["current_version"]
        assert update.nonce  # the Machine's own lease
    first, second = (seen.index(u) for u in updates)
    between = seen[first:second]
    assert any(r.operation == "Machines_wait" for r in between)
    assert any(r.operation == "Machines_release_lease" for r in between)


async def test_blue_green_starts_a_cordoned_set_then_switches_it(harness: FlyHarness) -> None:
    h = harness
    req = request(h, checked_web(h), replicas=2)
    await h.make_provider().provision(req)
    old = {m.id for m in machines(h, req, role="main")}
    h.api.requests.clear()
    deploy = DeployRequest(
        instance_id=req.instance_id,
        services=[ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "v2"})],
        strategy="blue-green",
    )
    await h.make_provider().deploy(deploy)
    created = [r for r in h.api.requests if r.operation == "Machines_create"]
    assert len(created) == 2
    assert all(r.body["skip_service_registration"] for r in created)
    ops = [r.operation for r in h.api.requests]
    assert ops.count("Machines_uncordon") == 2
    assert ops.count("Machines_cordon") == 2
    assert max(i for i, o in enumerate(ops) if o == "Machines_uncordon") < min(
        i for i, o in enumerate(ops) if o == "Machines_cordon"
    )
    live = {m.id for m in machines(h, req, role="main") if not m.gone}
    assert live.isdisjoint(old)
    assert all(m.gone for m in machines(h, req, role="main") if m.id in old)


async def test_canary_observes_the_first_unit(harness: FlyHarness) -> None:
    h = harness
    req = request(h, checked_web(h), replicas=2)
    await h.make_provider().provision(req)
    seen: list[Any] = []
    deploy = DeployRequest(
        instance_id=req.instance_id,
        services=[ServiceDeploySpec(name="web", image=h.image(2))],
        strategy="canary",
    )
    await h.make_provider().deploy(deploy, events=seen.append)
    steps = [e.step for e in seen if e.kind == "step_started"]
    assert steps == ["replace-unit-0", "observe-canary", "replace-unit-1"]


async def test_list_instances_by_tenant(harness: FlyHarness) -> None:
    h = harness
    provider = h.make_provider()
    a = request(h, h.idle_service("app"))
    b = request(h, h.idle_service("app")).model_copy(update={"tenant_id": "other"})
    await provider.provision(a)
    await provider.provision(b)
    assert [s.instance_id for s in await provider.list_instances()] == [
        a.instance_id,
        b.instance_id,
    ]
    mine = await provider.list_instances("acme")
    assert [(s.instance_id, s.name, s.state) for s in mine] == [
        (a.instance_id, "shop", InstanceState.RUNNING)
    ]


async def test_config_from_the_environment_keeps_the_token_secret() -> None:
    cfg = FlyConfig.from_env(
        {
            "FLY_API_TOKEN": "fo1_secret_token_value",
            "CTRLPLANE_FLY_REGIONS": "ams, fra",
            "CTRLPLANE_FLY_ORG_SLUG": "acme",
        }
    )
    assert cfg.token_value() == "fo1_secret_token_value"
    assert cfg.regions == ["ams", "fra"]
    assert "fo1_secret_token_value" not in repr(cfg)
    assert "fo1_secret_token_value" not in repr(FlyProvider(cfg))
    mine = FlyConfig.from_env({"FLY_API_TOKEN": "a", "CTRLPLANE_FLY_TOKEN": "b"})
    assert mine.token_value() == "b"
    described = FlyConfig.model_json_schema()["properties"]
    assert all(field.get("description") for field in described.values())


async def test_an_unreachable_api_is_unavailable_not_a_hang() -> None:
    cfg = FlyConfig(api_url="http://127.0.0.1:9", token=TOKEN, request_timeout=1, connect_timeout=1)
    with pytest.raises(BackendError) as caught:
        await FlyProvider(cfg).status(new_id(INSTANCE_PREFIX))
    assert "unreachable" in str(caught.value)


async def test_an_init_prepares_the_volume_its_service_then_mounts(harness: FlyHarness) -> None:
    h = harness
    data = [VolumeSpec(name="content", mount_path="/data")]
    seed = h.exit_service("seed", code=0).model_copy(
        update={
            "role": "init",
            "volumes": data,
            "command": ["sh", "-c", "echo seeded > /data/index.html"],
        }
    )
    web = h.idle_service("web").model_copy(update={"volumes": data, "depends_on": ["seed"]})
    req = request(h, web, seed, replicas=2, kind="stateful_set")
    provider = h.make_provider()
    await provider.provision(req)
    for replica in (0, 1):
        read = await provider.exec(
            req.instance_id, ExecRequest(command=["cat", "/data/index.html"], replica=replica)
        )
        assert read.stdout == b"seeded\n"
    volumes = h.api.apps[h.app(req.instance_id)].volumes.values()
    assert sorted(v.name for v in volumes) == ["content_0", "content_1"]
    with pytest.raises(NotSupported, match="init 'seed' shares volume 'content' with 'web'"):
        await provider.deploy(
            DeployRequest(
                instance_id=req.instance_id,
                services=[ServiceDeploySpec(name="seed", image=h.image(2))],
            )
        )
    sidecar = h.idle_service("side").model_copy(update={"role": "sidecar", "volumes": data})
    with pytest.raises(NotSupported, match="which run at the same time"):
        await provider.provision(request(h, web.model_copy(update={"depends_on": []}), sidecar))


async def test_health_without_a_token_asks_nothing(harness: FlyHarness) -> None:
    h = harness
    before = len(h.api.requests)
    unconfigured = FlyConfig.model_validate({**h.values(), "token": None})
    health = await FlyProvider(unconfigured).health_check()
    assert not health.healthy
    assert "CTRLPLANE_FLY_TOKEN" in health.message
    assert len(h.api.requests) == before
    assert (await h.make_provider().health_check()).healthy
