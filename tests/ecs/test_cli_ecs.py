"""The real ``ctrlplane`` command against the ECS backend on the fake AWS services (real
signed HTTP on 127.0.0.1): render, up, ls, status, logs, deploy, releases, rollback,
scale, stop/start, exec (refused, with its reason) and down.

The provider is configured the way an operator would: a ``ctrlplane.toml`` section of
``type = "ecs"`` (or ``CTRLPLANE_ECS_*`` variables for ``render``), credentials in the
standard AWS variables. The fake runs in this test's event loop; the CLI runs as a
subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio

from .fakes import running_fake
from .harness import EcsHarness, base_config

EXE = str(Path(sys.executable).with_name("ctrlplane"))

WORKLOAD = """\
name: cli-web
services:
  - name: web
    image: conformance/app:1
    command: ["sh", "-c", "echo hello from web; echo second line; httpd -f -p 8080"]
    ports: [{container: 8080}]
    env: {MESSAGE: one}
    health_check: {path: /healthz, port: 8080, interval: 5s, retries: 2}
"""

WITH_SECRET = WORKLOAD.replace(
    "    env: {MESSAGE: one}\n", "    env: {MESSAGE: one}\n    secrets: [{key: api-token}]\n"
)

SECRET_VALUE = "cli-secret-3d9a1f0b77"


@dataclass
class Cli:
    cwd: Path
    env: dict[str, str]

    async def run(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            EXE,
            *args,
            cwd=self.cwd,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def ok(self, *args: str) -> str:
        code, out, err = await self.run(*args)
        assert code == 0, f"{args}: exit {code}\n{out}\n{err}"
        return out


def _toml(config: dict[str, Any]) -> str:
    lines = ['default = "prod"', "", "[providers.prod]", 'type = "ecs"']
    for key, value in config.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


@pytest_asyncio.fixture
async def cli(tmp_path: Path) -> AsyncIterator[tuple[Cli, EcsHarness]]:
    async with running_fake() as harness:
        project = tmp_path / "project"
        (project / ".git").mkdir(parents=True)
        (project / "ctrlplane.toml").write_text(_toml(base_config(harness.aws.endpoint_url)))
        (project / "app.yaml").write_text(WORKLOAD)
        (project / "secret.yaml").write_text(WITH_SECRET)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CTRLPLANE_")}
        env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
        env["CTRLPLANE_SECRET_API_TOKEN"] = SECRET_VALUE  # render must not read it
        yield Cli(project, env), harness


async def test_render_prints_the_requests_with_secrets_as_references(
    cli: tuple[Cli, EcsHarness],
) -> None:
    runner, harness = cli
    env = dict(runner.env)
    for key, value in base_config("http://127.0.0.1:9").items():
        env[f"CTRLPLANE_ECS_{key.upper()}"] = (
            ",".join(value) if isinstance(value, list) else str(value)
        )
    bare = Cli(runner.cwd, env)
    (runner.cwd / "ctrlplane.toml").unlink()
    out = await bare.ok("--provider", "ecs", "render", "-f", "secret.yaml")
    assert "RegisterTaskDefinition" in out
    assert "CreateService" in out
    assert "arn:aws:secretsmanager:us-east-1:<account>:secret:ctrlplane/" in out
    assert "/web/api-token" in out
    assert SECRET_VALUE not in out
    assert harness.aws.door.calls == []  # render contacts nothing


async def test_the_cli_runs_a_workload_on_ecs_end_to_end(cli: tuple[Cli, EcsHarness]) -> None:
    runner, harness = cli
    await runner.ok("up", "-f", "app.yaml")
    listed = json.loads(await runner.ok("-o", "json", "ls"))
    assert [i["name"] for i in listed] == ["cli-web"]
    iid = listed[0]["instance_id"]
    status = json.loads(await runner.ok("-o", "json", "status", "cli-web"))["status"]
    assert status["state"] == "running"
    assert status["ready"]
    logs = await runner.ok("logs", "cli-web", "--tail", "1")
    assert "second line" in logs
    assert "hello from web" not in logs
    await runner.ok("deploy", "cli-web", "-e", "MESSAGE=two")
    releases = await runner.ok("-o", "json", "releases", "cli-web")
    assert len(json.loads(releases)) == 2
    await runner.ok("rollback", "cli-web")
    await runner.ok("scale", "cli-web", "--replicas", "2")
    assert len(await harness.running(iid)) == 2
    await runner.ok("stop", "cli-web")
    stopped = json.loads(await runner.ok("-o", "json", "status", "cli-web"))["status"]
    assert stopped["state"] == "stopped"
    await runner.ok("start", "cli-web")
    code, _, err = await runner.run("exec", "cli-web", "--", "true")
    assert code == 4, err
    assert "exit code is never reported" in err
    everything = "\n".join(
        json.dumps(c.body) for c in harness.aws.door.calls if c.service != "secretsmanager"
    )
    assert SECRET_VALUE not in everything
    await runner.ok("down", "cli-web")
    assert await harness.leftovers(iid) == []
