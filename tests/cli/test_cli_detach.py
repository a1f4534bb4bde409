"""``deploy --detach`` then ``rollout status``, end to end: the real ``ctrlplane`` command
(and the background deploy it starts, another process) against the fake Kubernetes API
server, configured by a ``ctrlplane.toml``.

The background deploy runs on its own; ``rollout status`` prints its progress as it
comes and exits with its exit code: 0 when it deployed, 7 when the new release failed
its health gate and the previous one was restored. A background deploy that crashes is
recorded as failed (in process, on the in-memory fake).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NoReturn

import pytest
import pytest_asyncio
from cli_process import Target, base_env
from fake_cli import Listing, run_cli
from tests.kubernetes.fake_apiserver import running_fake

from ctrlplane.cli.detach import RESULT_ENV
from ctrlplane.testing import FakeBackend, FakeImage, FakeProvider
from ctrlplane.testing.conformance.fake_harness import conformance_http

IMAGE = "conformance/app:1"

WORKLOAD = f"""\
name: roll
services:
  - name: web
    image: {IMAGE}
    env: {{MESSAGE: one}}
    ports: [{{container: 8080}}]
    health_check: {{path: /healthz, port: 8080, interval: 0.1, timeout: 0.1, retries: 2}}
"""

TOML = """\
default = "staging"

[providers.staging]
type = "kubernetes"
kubeconfig = "{kubeconfig}"
namespace = "default"
poll_interval = 0.02
provision_timeout = "15s"
deprovision_timeout = "15s"
progress_deadline = "15s"
request_timeout = 10
"""


@pytest_asyncio.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Target]:
    """A project on the fake API server, with ``roll`` up."""
    images = [FakeImage(name=IMAGE, http=conformance_http)]
    async with running_fake(tmp_path, images, version=(1, 33)) as fake:
        project = tmp_path / "project"
        (project / ".git").mkdir(parents=True)
        (project / "ctrlplane.toml").write_text(TOML.format(kubeconfig=fake.kubeconfig))
        (project / "app.yaml").write_text(WORKLOAD)
        target = Target(project, base_env(tmp_path), "staging")
        await target.ok("up", "-f", "app.yaml")
        yield target
        await target.ok("down", "roll")
        assert not fake.cluster.errors, fake.cluster.errors


def _rollouts(target: Target) -> Path:
    return Path(target.env["XDG_STATE_HOME"]) / "ctrlplane" / "rollouts"


async def _releases(target: Target) -> list[dict[str, object]]:
    doc = json.loads(await target.ok("-o", "json", "releases", "roll"))
    releases = doc["releases"]
    assert isinstance(releases, list)
    return releases


async def test_a_detached_deploy_runs_in_the_background_and_rollout_status_follows_it(
    cluster: Target,
) -> None:
    (first,) = await _releases(cluster)
    # A canary watched for 5 s: the background deploy still runs while we look at it.
    out = await cluster.ok(
        "deploy", "roll", "-e", "MESSAGE=two", "--strategy", "canary", "--canary-watch", "5s",
        "--detach",
    )  # fmt: skip
    lines = out.splitlines()
    assert lines[0].startswith("deploying to inst_")
    assert "in the background (pid " in lines[0]
    assert lines[1] == "follow it: ctrlplane rollout status roll"
    iid = lines[0].split()[2]
    assert not (_rollouts(cluster) / f"{iid}.result.json").exists()  # not ended yet

    # A second deploy of the instance while the first runs is refused (busy, exit 9).
    code, _, err = await cluster.run("deploy", "roll", "-e", "MESSAGE=three", "--detach")
    assert code == 9, err
    assert "detached deploy" in err

    code, out, err = await cluster.run("rollout", "status", "roll")
    assert code == 0, err
    releases = await _releases(cluster)
    assert len(releases) == 2
    live = releases[0]
    assert live["live"] is True
    assert live["release_id"] != first["release_id"]
    assert out == f"rollout of {iid} deployed; live release {live['release_id']}\n"
    assert "canary" in err  # the background deploy's progress, as it came

    # It is over: following again says so.
    code, out, _ = await cluster.run("rollout", "status", "roll")
    assert code == 0
    assert out.startswith(f"no rollout in progress: {iid} is running, live release")
    status = json.loads(await cluster.ok("-o", "json", "status", "roll"))
    assert status["status"]["state"] == "running"


async def test_a_failed_detached_deploy_is_reported_failed(cluster: Target) -> None:
    (first,) = await _releases(cluster)
    doc = json.loads(
        await cluster.ok("-o", "json", "deploy", "roll", "-e", "HEALTHY=0", "--detach")
    )
    assert doc["detached"] is True
    iid = doc["instance_id"]

    code, out, err = await cluster.run("rollout", "status", "roll")
    assert code == 7, out + err
    assert out == f"rollout of {iid} failed (exit 7); live release {first['release_id']}\n"
    assert "error: " in err
    assert "failed the readiness probe; the previous release was restored" in err

    # The same, as JSON: the exit code and the error line of the background deploy.
    await cluster.ok("deploy", "roll", "-e", "HEALTHY=0", "--detach")
    code, out, _ = await cluster.run("-o", "json", "rollout", "status", "roll")
    assert code == 7
    result = json.loads(out)
    assert result["exit_code"] == 7
    assert result["detached"] is True
    assert result["live_release"] == first["release_id"]
    assert result["error"].startswith("error: ")
    assert [r["release_id"] for r in await _releases(cluster) if r["live"]] == [first["release_id"]]


def test_a_detached_deploy_that_crashes_records_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug in the background deploy (an exception no error type covers) is recorded as
    exit 1 with its message, never as a success; the traceback still reaches the log."""

    class Broken(FakeProvider):
        async def deploy(self, *args: object, **kwargs: object) -> NoReturn:
            raise RuntimeError("boom in the backend")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    provider = Listing(Broken(FakeBackend(), time_scale=0.01))
    app = tmp_path / "app.yaml"
    app.write_text("name: crash\nservices:\n  - {name: web, image: example/web:1}\n")
    assert run_cli(capsys, provider, "up", "-f", str(app))[0] == 0
    result = tmp_path / "result.json"
    monkeypatch.setenv(RESULT_ENV, str(result))
    with pytest.raises(RuntimeError, match="boom in the backend"):
        run_cli(capsys, provider, "deploy", "crash", "-e", "A=1")
    recorded = json.loads(result.read_text())
    assert recorded["exit_code"] == 1
    assert recorded["error"] == "error: unexpected RuntimeError: boom in the backend"
