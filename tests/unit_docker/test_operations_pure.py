"""The pure parts of the Docker backend's operations: the lease container, what a repair
keeps, the unit rows, the rollout shape, the stability check. No engine needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ctrlplane.provider import DeployRequest, InstanceState, ProvisionRequest
from ctrlplane.provider.docker import DockerConfig
from ctrlplane.provider.docker.observe.leases import lease_record, repair_plan
from ctrlplane.provider.docker.observe.repairs import (
    off_services,
    orphan_holders,
    runs_release,
    unit_views,
)
from ctrlplane.provider.docker.observe.units import unit_rows
from ctrlplane.provider.docker.observe.workload import summaries
from ctrlplane.provider.docker.render.bodies import Renderer
from ctrlplane.provider.docker.render.fronts import front_ports
from ctrlplane.provider.docker.render.naming import LEASE_IMAGE
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.docker.strategies import rollout_shape
from ctrlplane.provider.docker.units import Started
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.releases import new_release, plan_deploy

IID = "inst_01h455vb4pex5vsknk084sn02q"
REL = "rel_01h455vb4pex5vsknk084sn02q"
NEW = "rel_01h455vb4pex5vsknk084sn09z"
R = Renderer(DockerConfig())


def _workload(replicas: int = 2, **web: Any) -> Workload:
    req = ProvisionRequest.model_validate(
        {
            "instance_id": IID,
            "tenant_id": "acme",
            "name": "shop",
            "services": [
                {
                    "name": "web",
                    "image": "busybox:1",
                    "env": {"V": "1"},
                    "ports": [{"container": 8080}],
                    "resources": {"replicas": replicas},
                    "health_check": {"path": "/", "port": 8080, "interval": "2s"},
                    **web,
                },
                {"name": "agent", "image": "busybox:1", "role": "sidecar"},
            ],
        }
    )
    return Workload.from_request(req, REL)


def _inspect(
    wl: Workload,
    replica: int,
    service: str,
    *,
    status: str = "running",
    retiring: bool = False,
    port: int = 0,
) -> dict[str, Any]:
    body = R.container_config(wl, wl.service(service), replica)
    name = R.container_name(wl, replica, service) + ("-retiring" if retiring else "")
    ports = {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]} if port else {}
    return {
        "Id": f"id-{name}",
        "Name": f"/{name}",
        "Config": {"Labels": body["Labels"], "Image": body["Image"], "Env": body["Env"]},
        "HostConfig": body["HostConfig"],
        "State": {"Status": status, "Running": status == "running", "StartedAt": ""},
        "RestartCount": 0,
        "NetworkSettings": {"Ports": ports},
    }


def _holder(
    wl: Workload, replica: int, *, status: str = "running", retiring: bool = False
) -> dict[str, Any]:
    body = R.holder_body(wl, replica)
    name = R.holder_name(wl, replica) + ("-retiring" if retiring else "")
    return {
        "Id": f"id-{name}",
        "Name": f"/{name}",
        "Config": {"Labels": body["Labels"], "Image": body["Image"]},
        "HostConfig": body["HostConfig"],
        "State": {"Status": status, "Running": status == "running", "StartedAt": ""},
        "RestartCount": 0,
        "NetworkSettings": {"Ports": {}},
    }


def _lease(**intent: str) -> Lease:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return Lease("host/1/abc", "deploy", at, at, 30.0, intent)


def test_the_lease_body_is_a_never_started_container_holding_the_lease() -> None:
    lease = _lease(phase="roll out", release_id=NEW)
    body = R.lease_body(IID, lease)
    assert body["Image"] == LEASE_IMAGE
    assert body["NetworkDisabled"] is True
    labels = body["Labels"]
    assert labels["io.ctrlplane.instance"] == IID
    assert "io.ctrlplane.spec" not in labels  # not one of the instance's service containers
    assert Lease.from_json(labels["io.ctrlplane.lease"]) == lease
    assert R.names.lease(IID) == f"cp-{IID}-lease"


def test_listings_leave_the_lease_container_out() -> None:
    lease = {"Id": "l", "Labels": R.lease_body(IID, _lease())["Labels"], "State": "created"}
    assert summaries(R.labels, [lease]) == []
    wl = _workload(replicas=1)
    web = _inspect(wl, 0, "web")
    entry = {"Id": web["Id"], "Labels": web["Config"]["Labels"], "State": "running"}
    (found,) = summaries(R.labels, [entry, lease])
    assert found.state is InstanceState.RUNNING


def test_the_lease_record_prefers_the_renewed_file_and_keeps_the_id_as_token() -> None:
    created = _lease()
    renewed = Lease(
        created.holder,
        created.operation,
        created.acquired_at,
        created.renewed_at + timedelta(seconds=10),
        30.0,
        {"phase": "switch"},
    )
    info = {"Id": "abc123", "Config": {"Labels": {"io.ctrlplane.lease": created.to_json()}}}
    record = lease_record(R.labels, info, renewed.to_json())
    assert record is not None
    assert record.lease == renewed
    assert record.token == "abc123"
    from_label = lease_record(R.labels, info, None)
    assert from_label is not None
    assert from_label.lease == created
    cut_short = lease_record(R.labels, info, renewed.to_json()[:20])  # a rewrite in progress
    assert cut_short is not None
    assert cut_short.lease == created
    assert lease_record(R.labels, {"Id": "x", "Config": {"Labels": {}}}, None) is None


@pytest.mark.parametrize(
    ("operation", "intent", "live", "expected"),
    [
        ("deprovision", {}, REL, "finish removing the instance"),
        ("provision", {"release_id": NEW}, "", "remove what the unfinished provision created"),
        ("deploy", {"release_id": NEW}, NEW, f"finish: release {NEW} is live"),
        (
            "deploy",
            {"release_id": NEW},
            REL,
            f"undo: put every unit back on the live release {REL}",
        ),
        ("scale", {}, REL, f"make every unit run the live release {REL}"),
    ],
)
def test_status_says_what_the_next_call_does(
    operation: str, intent: dict[str, str], live: str, expected: str
) -> None:
    lease = Lease("h/1/x", operation, datetime.now(UTC), datetime.now(UTC), 1.0, intent)
    assert repair_plan(lease, live).startswith(expected)


def test_a_repair_keeps_what_runs_the_live_release_unit_by_unit() -> None:
    wl = _workload()
    old = new_release(REL, wl.services)
    new_wl = wl.with_services(
        [s.model_copy(update={"env": {"V": "2"}}) if s.name == "web" else s for s in wl.services],
        NEW,
    )
    inspects = [
        # unit 0: the new version beside the old one (renamed -retiring)
        _inspect(new_wl, 0, "web"),
        _inspect(new_wl, 0, "agent"),
        _inspect(wl, 0, "web", retiring=True),
        _inspect(wl, 0, "agent", retiring=True),
        # unit 1: the old version, its agent created but never started
        _inspect(wl, 1, "web"),
        _inspect(wl, 1, "agent", status="created"),
    ]
    holders = [
        _holder(new_wl, 0),
        _holder(wl, 0, retiring=True),
        _holder(wl, 1),
        _holder(wl, 2),  # a unit removed part-way: only its holder is left
    ]
    views = unit_views(R.labels, inspects, holders)
    assert [v.replica for v in views] == [0, 1]
    assert orphan_holders(R.labels, inspects, holders) == [f"id-cp-{IID}-2.pod"]
    assert set(views[0].retiring) == {"web", "agent"}
    assert views[0].holder is holders[0]
    assert views[0].retiring_holder is holders[1]
    assert views[1].holder is holders[2]
    assert views[1].retiring_holder is None
    assert not runs_release(R.labels, views[0].current["web"], old)
    assert runs_release(R.labels, views[0].retiring["web"], old)
    assert runs_release(R.labels, views[0].current["agent"], old)  # unchanged service
    # the owner runs another version: the whole unit is replaced
    assert off_services(R.labels, wl, views[0], old) == ["web", "agent"]
    # only the joiner is off: only it is replaced
    assert off_services(R.labels, wl, views[1], old) == ["agent"]
    recorded = new_release(NEW, new_wl.services)
    assert off_services(R.labels, new_wl, views[0], recorded) == []
    # a unit whose namespace holder is gone (or never started) is replaced whole
    whole = [_inspect(wl, 1, "web"), _inspect(wl, 1, "agent")]
    assert off_services(R.labels, wl, unit_views(R.labels, whole, [_holder(wl, 1)])[0], old) == []
    bare = unit_views(R.labels, whole)[0]
    assert off_services(R.labels, wl, bare, old) == ["web", "agent"]
    unstarted = unit_views(R.labels, whole, [_holder(wl, 1, status="created")])[0]
    assert off_services(R.labels, wl, unstarted, old) == ["web", "agent"]


def test_unit_rows_one_per_container_in_start_up_order() -> None:
    wl = _workload()
    inspects = [
        _inspect(wl, 1, "agent"),
        _inspect(wl, 1, "web", port=40001),
        _inspect(wl, 0, "web", retiring=True, port=40009),
        _inspect(wl, 0, "web", port=40000),
        _inspect(wl, 0, "agent", status="exited"),
    ]
    probe = ProbeResult(
        service="web",
        replica=1,
        kind="http",
        target=":8080/",
        attempt=1,
        healthy=False,
        observed="HTTP 500",
        at=datetime.now(UTC),
    )
    front = R.front_body(wl, front_ports(wl)[0], 40100)  # the pinned published port
    fronts = [
        {"Id": "front", "Config": {"Labels": front["Labels"]}, "HostConfig": front["HostConfig"]}
    ]
    rows = unit_rows(R.config, wl, inspects, {f"id-cp-{IID}-1-web": probe}, fronts)
    assert [(r.service, r.replica) for r in rows] == [
        ("web", 0),
        ("web", 0),
        ("web", 1),
        ("agent", 0),
        ("agent", 1),
    ]
    current, retiring, unhealthy = rows[0], rows[1], rows[2]
    assert current.release_id == REL
    assert current.image == "busybox:1"
    assert current.health == "starting"  # a check, no probe yet
    # the instance's published port (its front forwards to every unit with the names),
    # whatever the unit itself has bound, and the unit's own name
    assert [(p.url, p.public) for p in current.ports] == [
        ("tcp://127.0.0.1:40100", True),
        ("tcp://web-0:8080", False),
    ]
    assert [(p.url, p.public) for p in rows[2].ports] == [
        ("tcp://127.0.0.1:40100", True),
        ("tcp://web-1:8080", False),
    ]
    assert retiring.message.startswith("retiring")
    assert retiring.ports == []  # off the names: neither the front nor a name reaches it
    assert unhealthy.health == "unhealthy"
    assert not unhealthy.ready
    assert "HTTP 500" in unhealthy.message
    assert rows[3].state is InstanceState.STOPPED
    assert rows[3].message == "exited with code 0"
    assert rows[3].health == ""  # not running: not probed


def test_the_rollout_shape_is_dockers_decision() -> None:
    wl = _workload(replicas=4)
    config = DockerConfig(max_surge=2, canary_fraction=0.5, canary_observation=7)
    change = {
        "name": "web",
        "image": "busybox:2",
        "health_check": {"port": 8080, "interval": "500ms"},
    }
    plan = plan_deploy(
        DeployRequest(instance_id=IID, services=[change], strategy="canary"), wl.services, []
    )
    new = wl.with_services(plan.after, plan.release_id)
    shape = rollout_shape(config, wl, new, plan, ["web", "agent"], [0, 1, 2, 3])
    assert shape.strategy is DeployStrategy.CANARY
    assert shape.beside  # a deployment whose owner changes: surged
    assert shape.batch == 2
    assert shape.canary == 2
    assert shape.observation == 7
    assert shape.interval == 0.5  # the new check's interval
    assert shape.previous_release == REL
    in_place = rollout_shape(config, wl, new, plan, ["agent"], [0, 1, 2, 3])
    assert not in_place.beside  # the owner stays: replaced in place
    assert in_place.batch == 1
    assert rollout_shape(config, wl, new, plan, [], [0, 1]).units == []


def test_the_stability_window_sees_a_restart() -> None:
    started = Started("id", "web", "start web", restarts=0, started_at="t1", at=0.0)
    running = {"State": {"Running": True, "StartedAt": "t1"}, "RestartCount": 0}
    assert started.same_run(running)
    assert not started.same_run({**running, "RestartCount": 1})
    assert not started.same_run({"State": {"Running": True, "StartedAt": "t2"}})
    assert not started.same_run({"State": {"Running": True, "Restarting": True, "StartedAt": "t1"}})
    assert not started.same_run(None)


def test_lease_and_volume_settings_from_env() -> None:
    config = DockerConfig.from_env(
        {
            "CTRLPLANE_DOCKER_LEASE_TTL": "5s",
            "CTRLPLANE_DOCKER_LOCK_WAIT": "0",
            "CTRLPLANE_DOCKER_KEEP_VOLUMES": "true",
        }
    )
    assert config.lease_ttl == timedelta(seconds=5)
    assert config.lock_wait == timedelta(0)
    assert config.keep_volumes is True
    schema = DockerConfig.model_json_schema()["properties"]
    for name in ("lease_ttl", "lock_wait", "keep_volumes"):
        assert schema[name]["description"]
    with pytest.raises(ValueError, match="lease_ttl"):
        DockerConfig(lease_ttl=0)
