"""The real ``ctrlplane`` command on the Fly backend, against the fake Machines API (real
HTTP on 127.0.0.1): up, status, ls, exec, deploy, releases, rollback, scale, ps, render,
providers, doctor, logs (refused), down; and ``up`` of an instance whose provision was
interrupted.

The provider is configured the way an operator would: a ``ctrlplane.toml`` section of
type ``fly``, or environment variables only (``CTRLPLANE_PROVIDER=fly``,
``FLY_API_TOKEN``, ``CTRLPLANE_FLY_*``). The fake runs in this test's event loop; the CLI
runs as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from ctrlplane.provider.leases import Lease
from ctrlplane.workload import parse_workload, parse_workload_text

from .harness import TOKEN, FlyHarness

EXE = str(Path(sys.executable).with_name("ctrlplane"))
IMAGE = "conformance/app:1"

WORKLOAD = f"""\
name: cli-web
services:
  - name: web
    image: {IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 & wait $!"]
    env: {{MESSAGE: one}}
    ports: [{{container: 8080}}]
"""

SECRET_WORKLOAD = f"""\
name: with-secret
services:
  - name: web
    image: {IMAGE}
    secrets: [{{key: api-token}}]
"""

_SETTINGS = (
    "poll_interval",
    "start_settle",
    "provision_timeout",
    "deploy_timeout",
    "request_timeout",
    "lease_ttl",
    "lock_wait",
    "control_image",
    "regions",
    "org_slug",
)


@dataclass
class Target:
    """Where the CLI runs: its working directory and environment."""

    cwd: Path
    env: dict[str, str]
    name: str

    async def run(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            EXE,
            *args,
            cwd=self.cwd,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def ok(self, *args: str) -> str:
        code, out, err = await self.run(*args)
        assert code == 0, f"{args}: exit {code}\n{out}\n{err}"
        return out


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRLPLANE_", "FLY_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    return env


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "app.yaml").write_text(WORKLOAD)
    (project / "secret.yaml").write_text(SECRET_WORKLOAD)
    return project


def _settings(h: FlyHarness) -> dict[str, Any]:
    values = h.values()
    out = {k: values[k] for k in _SETTINGS}
    out["api_url"] = values["api_url"]
    out["graphql_url"] = values["graphql_url"]
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    return json.dumps(value)


@pytest_asyncio.fixture
async def fly_toml(tmp_path: Path) -> AsyncIterator[tuple[Target, FlyHarness]]:
    h = FlyHarness()
    await h.setup()
    try:
        project = _project(tmp_path)
        lines = ['default = "edge"', "", "[providers.edge]", 'type = "fly"', f'token = "{TOKEN}"']
        lines += [f"{k} = {_toml_value(v)}" for k, v in _settings(h).items()]
        (project / "ctrlplane.toml").write_text("\n".join(lines) + "\n")
        yield Target(project, _base_env(tmp_path), "edge"), h
    finally:
        await h.teardown()


@pytest_asyncio.fixture
async def fly_env(tmp_path: Path) -> AsyncIterator[tuple[Target, FlyHarness]]:
    """No config file: CTRLPLANE_PROVIDER, FLY_API_TOKEN and CTRLPLANE_FLY_* only."""
    h = FlyHarness()
    await h.setup()
    try:
        env = _base_env(tmp_path)
        env.update(CTRLPLANE_PROVIDER="fly", FLY_API_TOKEN=TOKEN)
        for key, value in _settings(h).items():
            shown = ",".join(value) if isinstance(value, list) else str(value)
            env[f"CTRLPLANE_FLY_{key.upper()}"] = shown
        yield Target(_project(tmp_path), env, "fly"), h
    finally:
        await h.teardown()


async def _lifecycle(target: Target, h: FlyHarness, *, full: bool = True) -> None:
    code, out, err = await target.run("up", "-f", "app.yaml")
    assert code == 0, err
    assert f"on {target.name}..." in err.splitlines()[0]
    assert "state running" in out
    iid = out.split()[1]

    doc = json.loads(await target.ok("-o", "json", "status", "cli-web"))
    assert doc["instance_id"] == iid
    assert doc["status"]["services"]["web"]["ready"] is True
    app = doc["status"]["metadata"]["app"]
    assert any(e["url"] == f"http://{app}.fly.dev:8080" for e in doc["status"]["endpoints"])
    listed = json.loads(await target.ok("-o", "json", "ls"))
    assert [s["instance_id"] for s in listed if s["name"] == "cli-web"] == [iid]
    again = json.loads(await target.ok("-o", "json", "up", "-f", "app.yaml"))
    assert again["instance_id"] == iid

    code, out, _ = await target.run("exec", "cli-web", "--", "sh", "-c", "echo in-machine; exit 3")
    assert (code, out) == (3, "in-machine\n")
    if full:
        await _operate(target, h, app)
    assert await target.ok("down", "cli-web") == f"removed {iid}\n"
    code, _, err = await target.run("status", iid)
    assert code == 3, err
    assert app not in h.api.apps


async def _operate(target: Target, h: FlyHarness, app: str) -> None:
    code, _, err = await target.run("logs", "cli-web")
    assert code == 4
    assert "no logs endpoint" in err

    await target.ok("deploy", "cli-web", "-e", "MESSAGE=two")
    history = json.loads(await target.ok("-o", "json", "releases", "cli-web"))["releases"]
    assert len(history) == 2
    web = [m for m in h.api.live_machines(app) if m.metadata.get("ctrlplane_role") == "main"]
    assert [m.config["env"]["MESSAGE"] for m in web] == ["two"]
    await target.ok("rollback", "cli-web")
    web = [m for m in h.api.live_machines(app) if m.metadata.get("ctrlplane_role") == "main"]
    assert [m.config["env"]["MESSAGE"] for m in web] == ["one"]
    await target.ok("scale", "cli-web", "--replicas", "2")
    status = json.loads(await target.ok("-o", "json", "status", "cli-web"))
    assert status["status"]["state"] == "running"
    assert (
        len([m for m in h.api.live_machines(app) if m.metadata.get("ctrlplane_role") == "main"])
        == 2
    )
    live = json.loads(await target.ok("-o", "json", "releases", "cli-web"))["releases"][0]
    units = json.loads(await target.ok("-o", "json", "ps", "cli-web"))["units"]
    assert [(u["service"], u["replica"], u["state"]) for u in units] == [
        ("web", 0, "running"),
        ("web", 1, "running"),
    ]
    assert {u["release_id"] for u in units} == {live["release_id"]}
    table = (await target.ok("ps", "cli-web")).splitlines()
    assert table[0].split()[:3] == ["SERVICE", "REPLICA", "RELEASE"]
    assert [line.split()[:5] for line in table[1:] if line.strip()] == [
        ["web", "0", live["release_id"], IMAGE, "running"],
        ["web", "1", live["release_id"], IMAGE, "running"],
    ]


async def test_fly_from_ctrlplane_toml(fly_toml: tuple[Target, FlyHarness]) -> None:
    target, h = fly_toml
    await _lifecycle(target, h)
    for args in (
        ("providers",),
        ("-o", "json", "providers"),
        ("doctor",),
        ("-o", "json", "doctor"),
    ):
        _, out, err = await target.run(*args)
        assert TOKEN not in out + err
    doctor = {e["name"]: e for e in json.loads(await target.ok("-o", "json", "doctor"))}
    assert doctor["edge"]["healthy"] is True
    rows = {r["name"]: r for r in json.loads(await target.ok("-o", "json", "providers"))}
    assert rows["edge"]["type"] == "fly"
    assert rows["edge"]["settings"]["token"] == "[redacted]"


async def test_fly_from_environment_variables(fly_env: tuple[Target, FlyHarness]) -> None:
    target, h = fly_env
    await _lifecycle(target, h, full=False)


async def test_render_prints_the_requests_without_secrets(
    fly_toml: tuple[Target, FlyHarness],
) -> None:
    target, h = fly_toml
    before = len(h.api.requests)
    rendered = json.loads(await target.ok("render", "-f", "secret.yaml"))
    assert len(h.api.requests) == before  # no call to Fly
    assert [r["method"] for r in rendered] == ["POST"] * 4
    secrets = rendered[2]["body"]["variables"]["input"]["secrets"]
    assert [s["value"] for s in secrets] == ["[redacted]"]
    machine = rendered[3]["body"]["config"]
    assert machine["processes"][0]["secrets"][0]["env_var"] == "API_TOKEN"
    assert TOKEN not in json.dumps(rendered)


async def test_up_of_an_interrupted_provision_provisions_it(
    fly_toml: tuple[Target, FlyHarness],
) -> None:
    # What a provision killed mid-way leaves on Fly: the app, a control Machine recording
    # the spec but no release, a workload Machine, and the control Machine's lease of a
    # provision whose holder died.
    target, h = fly_toml
    req = parse_workload(parse_workload_text(WORKLOAD, source="app.yaml"))
    app = h.app(req.instance_id)
    then = datetime.now(UTC) - timedelta(minutes=5)
    dead = Lease("gone-host/1/abcd", "provision", then, then, 2.0, {"phase": "start"})
    async with httpx.AsyncClient(
        base_url=h.api.address + "/v1", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as raw:
        await raw.post("/apps", json={"app_name": app, "org_slug": "personal"})
        meta = {
            "ctrlplane_instance": req.instance_id,
            "ctrlplane_role": "control",
            "ctrlplane_name": req.name,
            "ctrlplane_tenant": req.tenant_id,
            "ctrlplane_spec": req.model_dump_json(),
        }
        control = {
            "name": "ctrlplane-control",
            "skip_launch": True,
            "config": {"image": h.values()["control_image"], "metadata": meta},
        }
        made = (await raw.post(f"/apps/{app}/machines", json=control)).json()
        half = {"config": {"image": IMAGE, "metadata": {"ctrlplane_instance": req.instance_id}}}
        stray = (await raw.post(f"/apps/{app}/machines", json=half)).json()
        await raw.post(
            f"/apps/{app}/machines/{made['id']}/lease",
            json={"ttl": 600, "description": dead.to_json()},
        )
    before = json.loads(await target.ok("-o", "json", "status", req.instance_id))["status"]
    assert before["metadata"]["operation_state"] == "interrupted"

    code, out, err = await target.run("up", "-f", "app.yaml")
    assert code == 0, f"{out}\n{err}"
    assert "its provision was interrupted" in err
    assert out.startswith(f"instance {req.instance_id} (cli-web)")
    assert "state running" in out
    after = json.loads(await target.ok("-o", "json", "status", "cli-web"))["status"]
    assert after["ready"] is True
    assert "operation" not in after["metadata"]
    assert next(m for m in h.api.machines_of(app) if m.id == stray["id"]).gone
    assert len(json.loads(await target.ok("-o", "json", "releases", "cli-web"))["releases"]) == 1
    await target.ok("down", "cli-web")
