"""The fake Machines API is strict: it refuses what the Swagger file (and Fly's documented
rules) refuse, and it checks its own answers against the file before sending them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from .fake_machines.schema import api
from .harness import FlyHarness

IMAGE = "conformance/app:1"


async def _app(raw: httpx.AsyncClient, name: str = "strict-app") -> str:
    resp = await raw.post("/apps", json={"app_name": name, "org_slug": "personal"})
    assert resp.status_code == 201, resp.text
    return name


async def _machine(raw: httpx.AsyncClient, app: str, **config: Any) -> dict[str, Any]:
    body = {"region": "ams", "config": {"image": IMAGE, **config}}
    resp = await raw.post(f"/apps/{app}/machines", json=body)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    wait = await raw.get(f"/apps/{app}/machines/{data['id']}/wait", params={"state": "started"})
    assert wait.status_code == 200, wait.text
    return data


def test_validators_are_built_once_per_process() -> None:
    assert api() is api()
    ops = api().operations
    assert len({(o.method, o.path) for o in ops.values()}) == 34
    assert ops["Machines_create"].body is not None


@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        ({"config": {"image": IMAGE, "imagee": "typo"}}, "'imagee' was unexpected"),
        ({"config": {"image": IMAGE}, "region": 5}, "5 is not of type 'string'"),
        ({"config": {"image": IMAGE, "guest": {"cpus": "2"}}}, "'2' is not of type 'integer'"),
        (
            {"config": {"image": IMAGE, "restart": {"policy": "sometimes"}}},
            "'sometimes' is not one of",
        ),
        (
            {
                "config": {
                    "image": IMAGE,
                    "checks": {"h": {"type": "tcp", "port": 1, "interval": 5}},
                }
            },
            "5 is not of type 'string'",
        ),
        ({"config": {"image": IMAGE}, "extra": True}, "'extra' was unexpected"),
    ],
)
async def test_request_bodies_are_validated_against_the_swagger_file(
    raw: httpx.AsyncClient, body: dict[str, Any], wanted: str
) -> None:
    app = await _app(raw)
    resp = await raw.post(f"/apps/{app}/machines", json=body)
    assert resp.status_code == 400
    assert wanted in resp.json()["error"]


async def test_query_parameters_are_checked(raw: httpx.AsyncClient) -> None:
    missing = await raw.get("/apps")
    assert (missing.status_code, missing.json()["error"]) == (
        400,
        "query parameter 'org_slug' is required",
    )
    app = await _app(raw)
    unknown = await raw.get(f"/apps/{app}/machines", params={"metadata.role": "x"})
    assert "unknown query parameter 'metadata.role'" in unknown.json()["error"]
    typed = await raw.get(f"/apps/{app}/machines", params={"include_deleted": "yes"})
    assert "must be true or false" in typed.json()["error"]
    m = await _machine(raw, app)
    state = await raw.get(f"/apps/{app}/machines/{m['id']}/wait", params={"state": "running"})
    assert "must be one of ['started', 'stopped', 'destroyed']" in state.json()["error"]


async def test_a_required_body_must_be_sent(raw: httpx.AsyncClient) -> None:
    app = await _app(raw)
    resp = await raw.post(f"/apps/{app}/machines")
    assert (resp.status_code, resp.json()["error"]) == (400, "a request body is required")


async def test_durations_are_go_duration_strings(raw: httpx.AsyncClient) -> None:
    app = await _app(raw)
    check = {"type": "http", "port": 8080, "path": "/healthz", "interval": "1h5m0.5s"}
    ok = await raw.post(
        f"/apps/{app}/machines", json={"config": {"image": IMAGE, "checks": {"h": check}}}
    )
    assert ok.status_code == 200, ok.text
    check["interval"] = "soon"
    bad = await raw.post(
        f"/apps/{app}/machines", json={"config": {"image": IMAGE, "checks": {"h": check}}}
    )
    assert bad.status_code == 400
    assert "does not match" in bad.json()["error"]


async def test_an_answer_that_does_not_match_the_file_is_refused_and_recorded(
    harness: FlyHarness, raw: httpx.AsyncClient
) -> None:
    app = await _app(raw)
    harness.api.apps[app].status = 7  # type: ignore[assignment]  # a bug in the fake
    resp = await raw.get(f"/apps/{app}")
    assert resp.status_code == 500
    assert harness.api.errors == ["Apps_show 200: status: 7 is not of type 'string'"]
    harness.api.errors.clear()


async def test_tokens(harness: FlyHarness, raw: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=harness.api.address + "/v1") as anonymous:
        resp = await anonymous.get("/apps", params={"org_slug": "personal"})
    assert resp.status_code == 401
    harness.api.readonly_tokens = ("read-only",)
    async with httpx.AsyncClient(
        base_url=harness.api.address + "/v1", headers={"Authorization": "Bearer read-only"}
    ) as reader:
        assert (await reader.get("/apps", params={"org_slug": "personal"})).status_code == 200
        write = await reader.post("/apps", json={"app_name": "nope-app", "org_slug": "personal"})
    assert write.status_code == 403


async def test_fly_rules_beyond_the_schema(raw: httpx.AsyncClient) -> None:
    app = await _app(raw)
    cases = {
        "guest.memory_mb 300": {"image": IMAGE, "guest": {"cpus": 1, "memory_mb": 300}},
        "failed to resolve image": {"image": "nowhere/missing:1"},
        "exactly one of raw_value or secret_name": {
            "image": IMAGE,
            "files": [{"guest_path": "/a", "raw_value": "eA==", "secret_name": "S"}],
        },
        "checks.h.type must be tcp or http": {
            "image": IMAGE,
            "checks": {"h": {"type": "exec", "port": 1}},
        },
        "volume 'vol_nope' not found": {
            "image": IMAGE,
            "mounts": [{"volume": "vol_nope", "path": "/d"}],
        },
    }
    for wanted, config in cases.items():
        resp = await raw.post(f"/apps/{app}/machines", json={"config": config})
        assert resp.status_code == 400, (wanted, resp.text)
        assert wanted in resp.json()["error"], resp.json()
    taken = await raw.post("/apps", json={"app_name": app, "org_slug": "personal"})
    assert (taken.status_code, taken.json()["error"]) == (400, "Name has already been taken")


async def test_machine_states_events_and_versions(raw: httpx.AsyncClient) -> None:
    app = await _app(raw)
    m = await _machine(raw, app, init={"cmd": ["sh", "-c", "trap 'exit 0' TERM; sleep infinity"]})
    path = f"/apps/{app}/machines/{m['id']}"
    first = (await raw.get(path)).json()
    assert first["state"] == "started"
    update = await raw.post(
        path,
        json={
            "config": {"image": IMAGE, "env": {"X": "1"}},
            "current_version": first["instance_id"],
        },
    )
    assert update.status_code == 200
    new_version = update.json()["instance_id"]
    assert new_version != first["instance_id"]
    waited = await raw.get(f"{path}/wait", params={"state": "started", "instance_id": new_version})
    assert waited.status_code == 200
    stale = await raw.post(
        path, json={"config": {"image": IMAGE}, "current_version": first["instance_id"]}
    )
    assert stale.status_code == 412
    versions = (await raw.get(f"{path}/versions")).json()
    assert [v["version"] for v in versions] == [new_version, first["instance_id"]]
    assert versions[0]["user_config"]["env"] == {"X": "1"}
    assert (await raw.post(f"{path}/stop")).status_code == 200
    assert (await raw.get(f"{path}/wait", params={"state": "stopped"})).status_code == 200
    events = (await raw.get(f"{path}/events")).json()
    exits = [e for e in events if e["type"] == "exit"]
    assert exits[0]["request"]["exit_event"]["requested_stop"] is True
    timed_out = await raw.get(f"{path}/wait", params={"state": "started", "timeout": 1})
    assert timed_out.status_code == 408
    running = await raw.delete(path)
    assert running.status_code == 200  # stopped: no force needed
    assert (await raw.get(f"{path}/wait", params={"state": "destroyed"})).status_code == 200
    assert (await raw.get(path)).json()["state"] == "destroyed"
    listed = (await raw.get(f"/apps/{app}/machines")).json()
    assert listed == []
    deleted = (await raw.get(f"/apps/{app}/machines", params={"include_deleted": "true"})).json()
    assert [d["id"] for d in deleted] == [m["id"]]


async def test_a_crashing_machine_restarts_on_failure_then_stops(raw: httpx.AsyncClient) -> None:
    app = await _app(raw)
    config = {
        "image": IMAGE,
        "init": {"cmd": ["sh", "-c", "exit 3"]},
        "restart": {"policy": "on-failure", "max_retries": 2},
    }
    m = (await raw.post(f"/apps/{app}/machines", json={"config": config})).json()
    path = f"/apps/{app}/machines/{m['id']}"
    for _ in range(200):
        if (await raw.get(path)).json()["state"] == "stopped":
            break
        await asyncio.sleep(0.02)
    exits = [e for e in (await raw.get(f"{path}/events")).json() if e["type"] == "exit"]
    assert [e["request"]["exit_event"]["restarting"] for e in reversed(exits)] == [
        True,
        True,
        False,
    ]
    assert {e["request"]["exit_event"]["exit_code"] for e in exits} == {3}


async def test_a_run_once_machine_destroys_itself(raw: httpx.AsyncClient) -> None:
    app = await _app(raw)
    config = {
        "image": IMAGE,
        "init": {"cmd": ["sh", "-c", "echo done"]},
        "restart": {"policy": "no"},
        "auto_destroy": True,
    }
    m = (await raw.post(f"/apps/{app}/machines", json={"config": config})).json()
    path = f"/apps/{app}/machines/{m['id']}"
    assert (await raw.get(f"{path}/wait", params={"state": "stopped"})).status_code == 200
    assert (await raw.get(f"{path}/wait", params={"state": "destroyed"})).status_code == 200
    gone = (await raw.get(path)).json()
    assert gone["state"] == "destroyed"
    exit_event = next(e for e in gone["events"] if e["type"] == "exit")["request"]["exit_event"]
    assert (exit_event["exit_code"], exit_event["restarting"]) == (0, False)


async def test_leases_guard_a_machine(raw: httpx.AsyncClient) -> None:
    app = await _app(raw)
    m = await _machine(raw, app)
    path = f"/apps/{app}/machines/{m['id']}"
    assert (await raw.get(f"{path}/lease")).status_code == 404
    taken = await raw.post(f"{path}/lease", json={"ttl": 30, "description": "mine"})
    nonce = taken.json()["nonce"]
    assert (await raw.post(f"{path}/lease", json={"ttl": 30})).status_code == 409
    assert (await raw.post(f"{path}/cordon")).status_code == 409
    assert (await raw.post(f"{path}/stop")).status_code == 409
    mine = {"fly-machine-lease-nonce": nonce}
    refreshed = await raw.post(
        f"{path}/lease", json={"ttl": 60, "description": "still"}, headers=mine
    )
    assert refreshed.json()["nonce"] == nonce
    assert refreshed.json()["description"] == "still"
    assert (await raw.post(f"{path}/cordon", headers=mine)).status_code == 200
    assert (await raw.delete(f"{path}/lease")).status_code == 409
    assert (await raw.delete(f"{path}/lease", headers=mine)).status_code == 200
    assert (await raw.get(f"{path}/lease")).status_code == 404
    assert (await raw.post(f"{path}/uncordon")).status_code == 200


async def test_exec_answers_stdout_stderr_and_exit_code(raw: httpx.AsyncClient) -> None:
    app = await _app(raw)
    m = await _machine(raw, app, env={"WHO": "fly"})
    path = f"/apps/{app}/machines/{m['id']}/exec"
    ok = await raw.post(path, json={"command": ["printenv", "WHO"]})
    assert ok.json() == {"stdout": "fly\n", "stderr": ""}
    failed = await raw.post(
        path, json={"command": ["sh", "-c", "echo e >&2; exit 4"], "timeout": 5}
    )
    assert failed.json() == {"stdout": "", "stderr": "e\n", "exit_code": 4}
    stdin = await raw.post(path, json={"command": ["cat"], "stdin": "x"})
    assert stdin.status_code == 400
    assert "'stdin' was unexpected" in stdin.json()["error"]


async def test_volumes_attach_to_one_machine_in_their_region(raw: httpx.AsyncClient) -> None:
    app = await _app(raw)
    vol = (await raw.post(f"/apps/{app}/volumes", json={"name": "data_0", "region": "ams"})).json()
    assert (vol["size_gb"], vol["state"]) == (1, "created")
    mount = [{"volume": vol["id"], "path": "/data"}]
    elsewhere = await raw.post(
        f"/apps/{app}/machines", json={"region": "fra", "config": {"image": IMAGE, "mounts": mount}}
    )
    assert "is in region ams" in elsewhere.json()["error"]
    m = await _machine(raw, app, mounts=mount)
    twice = await raw.post(
        f"/apps/{app}/machines", json={"config": {"image": IMAGE, "mounts": mount}}
    )
    assert f"is attached to {m['id']}" in twice.json()["error"]
    attached = await raw.delete(f"/apps/{app}/volumes/{vol['id']}")
    assert attached.status_code == 412
    await raw.delete(f"/apps/{app}/machines/{m['id']}", params={"force": "true"})
    await raw.get(f"/apps/{app}/machines/{m['id']}/wait", params={"state": "destroyed"})
    assert (await raw.delete(f"/apps/{app}/volumes/{vol['id']}")).status_code == 200


async def test_the_proxy_routes_to_started_uncordoned_machines(
    harness: FlyHarness, raw: httpx.AsyncClient
) -> None:
    app = await _app(raw)
    services = [{"protocol": "tcp", "internal_port": 8080, "ports": [{"port": 80}]}]
    cmd = {"cmd": ["sh", "-c", "trap 'exit 0' TERM; sleep infinity"]}
    m = await _machine(raw, app, services=services, env={"MESSAGE": "hi"}, init=cmd)
    where = harness.api.proxy.address(app, 80)
    assert where is not None
    async with httpx.AsyncClient() as client:
        url = f"http://{where[0]}:{where[1]}/"
        assert (await client.get(url)).text == "hi"
        await raw.post(f"/apps/{app}/machines/{m['id']}/cordon")
        with pytest.raises(httpx.HTTPError):
            await client.get(url)


async def test_internal_dns_names(harness: FlyHarness, raw: httpx.AsyncClient) -> None:
    app = await _app(raw)
    web = await _machine(raw, app, metadata={"fly_process_group": "web"})
    side = await _machine(
        raw,
        app,
        metadata={"fly_process_group": "side"},
        dns={"searches": [f"process.{app}.internal"]},
    )
    machines = {m.id: m for m in harness.api.live_machines(app)}
    asker = machines[side["id"]]
    assert harness.api.resolve(app, "web", asker) == [web["private_ip"]]
    assert harness.api.resolve(app, f"web.process.{app}.internal", asker) == [web["private_ip"]]
    assert harness.api.resolve(app, f"{web['id']}.vm.{app}.internal", asker) == [web["private_ip"]]
    assert harness.api.resolve(app, "web", machines[web["id"]]) == []  # no search domain
    assert sorted(harness.api.resolve(app, f"{app}.internal", asker)) == sorted(
        [web["private_ip"], side["private_ip"]]
    )


async def test_graphql_app_secrets(harness: FlyHarness) -> None:
    app = "secret-app"
    async with httpx.AsyncClient(
        base_url=harness.api.address + "/v1",
        headers={"Authorization": "Bearer fly-test-token-3c9e"},
    ) as raw:
        await _app(raw, app)
    set_doc = "mutation($input: SetSecretsInput!) { setSecrets(input: $input) { app { name } } }"
    async with httpx.AsyncClient(headers={"Authorization": "Bearer fly-test-token-3c9e"}) as gql:
        url = harness.api.address + "/graphql"
        ok = await gql.post(
            url,
            json={
                "query": set_doc,
                "variables": {"input": {"appId": app, "secrets": [{"key": "A_B", "value": "v"}]}},
            },
        )
        assert ok.json() == {"data": {"setSecrets": {"app": {"name": app}}}}
        assert harness.api.apps[app].secrets == {"A_B": "v"}
        typo = await gql.post(
            url,
            json={"query": set_doc, "variables": {"input": {"appId": app, "secret": []}}},
        )
        assert typo.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        missing = await gql.post(
            url,
            json={"query": set_doc, "variables": {"input": {"appId": "nope", "secrets": []}}},
        )
        assert missing.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
