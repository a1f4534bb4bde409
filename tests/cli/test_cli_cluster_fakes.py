"""The real ``ctrlplane`` command against the fake Kubernetes API server and the fake Nomad
agent (real HTTP on 127.0.0.1): up, status (once and --watch), ls, logs, exec, down.

The provider is selected and configured the way an operator would: a ``ctrlplane.toml``
in the project directory (a named provider of each type), or environment variables only.
The fakes run in this test's event loop; the CLI runs as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from cli_process import Target, base_env
from tests.kubernetes.fake_apiserver import running_fake
from tests.nomad.harness import NAMESPACE, TOKEN, NomadHarness

from ctrlplane.testing import FakeImage
from ctrlplane.testing.conformance.fake_harness import conformance_http

IMAGE = "conformance/app:1"

WORKLOAD = f"""\
name: cli-web
services:
  - name: web
    image: {IMAGE}
    command: ["sh", "-c", "echo hello from web; echo second line; sleep infinity"]
    ports: [{{container: 8080}}]
"""


def _project(tmp_path: Path, toml: str) -> Path:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "ctrlplane.toml").write_text(toml)
    (project / "app.yaml").write_text(WORKLOAD)
    return project


@pytest_asyncio.fixture
async def kubernetes_toml(tmp_path: Path) -> AsyncIterator[Target]:
    images = [FakeImage(name=IMAGE, http=conformance_http)]
    async with running_fake(tmp_path, images, version=(1, 33)) as fake:
        toml = f"""\
default = "staging"

[providers.staging]
type = "kubernetes"
kubeconfig = "{fake.kubeconfig}"
namespace = "default"
poll_interval = 0.02
provision_timeout = "15s"
deprovision_timeout = "15s"
request_timeout = 10
"""
        yield Target(_project(tmp_path, toml), base_env(tmp_path), "staging")
        assert not fake.cluster.errors, fake.cluster.errors


def _nomad_settings(h: NomadHarness) -> dict[str, str]:
    return {
        "address": h.agent.address,
        "namespace": NAMESPACE,
        "region": "global",
        "min_healthy_time": "0s",
        "healthy_deadline": "10s",
        "poll_interval": "0.02s",
        "provision_timeout": "12s",
        "deploy_timeout": "12s",
    }


@pytest_asyncio.fixture
async def nomad_toml(tmp_path: Path) -> AsyncIterator[Target]:
    h = NomadHarness()
    await h.setup()
    try:
        lines = ['default = "eu"', "", "[providers.eu]", 'type = "nomad"', f'token = "{TOKEN}"']
        lines += [f'{k} = "{v}"' for k, v in _nomad_settings(h).items()]
        yield Target(_project(tmp_path, "\n".join(lines) + "\n"), base_env(tmp_path), "eu")
    finally:
        await h.teardown()


@pytest_asyncio.fixture
async def nomad_env(tmp_path: Path) -> AsyncIterator[Target]:
    """No config file at all: CTRLPLANE_PROVIDER, NOMAD_* and CTRLPLANE_NOMAD_* only."""
    h = NomadHarness()
    await h.setup()
    try:
        env = base_env(tmp_path)
        settings = _nomad_settings(h)
        env.update(CTRLPLANE_PROVIDER="nomad", NOMAD_ADDR=settings.pop("address"))
        env["NOMAD_TOKEN"] = TOKEN
        env.update({f"CTRLPLANE_NOMAD_{k.upper()}": v for k, v in settings.items()})
        project = tmp_path / "project"
        (project / ".git").mkdir(parents=True)
        (project / "app.yaml").write_text(WORKLOAD)
        yield Target(project, env, "nomad")
    finally:
        await h.teardown()


async def _lifecycle(target: Target) -> None:
    # up: progress header on stderr, status and endpoints on stdout.
    code, out, err = await target.run("up", "-f", "app.yaml")
    assert code == 0, err
    assert err.startswith("provisioning cli-web as inst_")
    assert f"on {target.name}..." in err.splitlines()[0]
    assert "(cli-web)" in out
    assert "state running" in out
    iid = out.split()[1]

    # status by name, as JSON and as a table.
    doc = json.loads(await target.ok("-o", "json", "status", "cli-web"))
    assert doc["instance_id"] == iid
    assert doc["status"]["state"] == "running"
    assert doc["status"]["services"]["web"]["ready"] is True
    table = await target.ok("status", "cli-web")
    assert "web" in table
    assert "running" in table

    # status --watch: one JSON object per line.
    watched = await target.ok(
        "-o", "json", "status", "cli-web", "--watch", "--interval", "0.2", "--count", "2"
    )
    lines = watched.splitlines()
    assert len(lines) == 2
    assert all(json.loads(line)["status"]["state"] == "running" for line in lines)

    # ls shows it; a re-run of up converges the same instance.
    listed = json.loads(await target.ok("-o", "json", "ls"))
    assert [s["instance_id"] for s in listed if s["name"] == "cli-web"] == [iid]
    again = json.loads(await target.ok("-o", "json", "up", "-f", "app.yaml"))
    assert again["instance_id"] == iid

    # logs: the lines the service printed, prefixed by service and replica.
    logs = await target.ok("logs", "cli-web", "--tail", "10")
    assert "web[0] hello from web" in logs.splitlines()
    assert "web[0] second line" in logs.splitlines()
    records = [
        json.loads(line) for line in (await target.ok("-o", "json", "logs", iid)).splitlines()
    ]
    assert [r["line"] for r in records][:2] == ["hello from web", "second line"]

    # exec: output passed through, exit code becomes ours.
    code, out, _ = await target.run("exec", "cli-web", "--", "sh", "-c", "echo in-pod; exit 3")
    assert code == 3
    assert out == "in-pod\n"

    # down, then the instance is gone (exit 3 on status).
    assert await target.ok("down", "cli-web") == f"removed {iid}\n"
    code, _, err = await target.run("status", iid)
    assert code == 3, err
    assert err.startswith("error: ")
    assert json.loads(await target.ok("-o", "json", "ls")) == []


async def test_kubernetes_from_ctrlplane_toml(kubernetes_toml: Target) -> None:
    await _lifecycle(kubernetes_toml)


async def test_nomad_from_ctrlplane_toml(nomad_toml: Target) -> None:
    await _lifecycle(nomad_toml)
    # The token came from the file: it is never printed.
    for args in (("providers",), ("-o", "json", "providers"), ("doctor",)):
        _, out, err = await nomad_toml.run(*args)
        assert TOKEN not in out + err
    assert "eu (chosen)  ok" in (await nomad_toml.ok("doctor"))


async def test_nomad_from_environment_variables(nomad_env: Target) -> None:
    await _lifecycle(nomad_env)


async def test_kubernetes_doctor_and_providers_see_the_fake(kubernetes_toml: Target) -> None:
    entries = {e["name"]: e for e in json.loads(await kubernetes_toml.ok("-o", "json", "doctor"))}
    assert entries["staging"]["healthy"] is True
    assert entries["staging"]["chosen"] is True
    rows = {r["name"]: r for r in json.loads(await kubernetes_toml.ok("-o", "json", "providers"))}
    assert rows["staging"]["type"] == "kubernetes"
    assert rows["staging"]["settings"]["namespace"] == "default"


TWO_SERVICES = f"""\
name: pair
services:
  - name: web
    image: {IMAGE}
    command: ["sh", "-c", "echo web one; sleep 10; echo web two; sleep infinity"]
  - name: side
    role: sidecar
    image: {IMAGE}
    command: ["sh", "-c", "sleep 5; echo side one; sleep infinity"]
"""


async def test_logs_of_several_services_in_time_order(kubernetes_toml: Target) -> None:
    # Kubernetes: log lines carry the kubelet's timestamps (Nomad's API has none).
    (kubernetes_toml.cwd / "pair.yaml").write_text(TWO_SERVICES)
    await kubernetes_toml.ok("up", "-f", "pair.yaml")
    try:
        expected = ["web[0] web one", "side[0] side one", "web[0] web two"]
        await asyncio.sleep(0.6)  # the fake runs sleeps 20x faster: "web two" is written
        for _ in range(50):  # (or soon will be)
            out = await kubernetes_toml.ok("logs", "pair", "-s", "web", "-s", "side")
            if len(out.splitlines()) >= 3:
                break
            await asyncio.sleep(0.1)
        assert out.splitlines() == expected
        as_json = await kubernetes_toml.ok("-o", "json", "logs", "pair", "-s", "side", "-s", "web")
        assert [json.loads(line)["service"] for line in as_json.splitlines()] == [
            "web",
            "side",
            "web",
        ]
    finally:
        await kubernetes_toml.ok("down", "pair")
