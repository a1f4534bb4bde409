"""The CLI on the fake Kubernetes API server (and the in-memory fake).

``ps`` prints one row per container of the instance's pods.

``up`` of an instance whose provision was interrupted (its process killed mid-way: the
instance exists, its operation lease expired, its provision never finished) provisions
it: the backend's repair undoes the half-made instance first, then the file is
provisioned, and ``up`` ends with the workload running and a clean status. On the
in-memory fake (the half-made instance has no recorded release) and on the fake
Kubernetes API server, where the first ``ctrlplane up`` itself is killed with SIGKILL
(there the half-made instance has recorded its first release)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from cli_process import EXE, Target, base_env
from fake_cli import Listing, run_cli
from tests.kubernetes.fake_apiserver import FakeCluster, running_fake

from ctrlplane.provider.leases import Lease
from ctrlplane.testing import FakeImage, FakeProvider
from ctrlplane.testing.conformance.fake_harness import conformance_http

IMAGE = "conformance/app:1"

APP = """\
name: shop
services:
  - name: web
    image: example/web:1
    command: ["sh", "-c", "echo web started; sleep infinity"]
    ports: [{container: 8080}]
"""


@pytest.mark.usefixtures("isolated_config")
def test_up_provisions_an_instance_whose_provision_never_recorded_a_release(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, tmp_path: Path
) -> None:
    app = tmp_path / "app.yaml"
    app.write_text(APP)
    provider = Listing(fake)
    code, _, err = run_cli(capsys, provider, "up", "-f", str(app))
    assert code == 0, err
    (iid,) = fake.backend.instances
    # What a provision killed mid-way leaves: the instance, no release, an expired lease.
    half_made = fake.backend.instances[iid]
    half_made.releases.clear()
    past = datetime.now(UTC) - timedelta(minutes=5)
    dead = Lease("host/1/dead", "provision", past, past, 30.0, {"phase": "start"})
    asyncio.run(fake.backend.leases.create(iid, dead))
    status = asyncio.run(fake.status(iid))
    assert status.metadata["operation_state"] == "interrupted"

    code, out, err = run_cli(capsys, provider, "-o", "json", "up", "-f", str(app))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["instance_id"] == iid
    assert doc["action"] == "provisioned"
    assert doc["status"]["state"] == "running"
    assert doc["status"]["ready"] is True
    assert "operation" not in doc["status"].get("metadata", {})
    assert not doc["status"].get("message")
    history = asyncio.run(fake.releases(iid))
    assert len(history) == 1
    assert history[0].live

    code, out, err = run_cli(capsys, provider, "up", "-f", str(app))
    assert code == 0, err
    assert "unchanged" in out, "the provisioned instance converges as usual"


K8S_APP = f"""\
name: shop
services:
  - name: setup
    role: init
    image: {IMAGE}
    command: ["sh", "-c", "sleep 4"]  # the first up is killed meanwhile
  - name: web
    image: {IMAGE}
    command: ["sh", "-c", "echo web started; sleep infinity"]
    ports: [{{container: 8080}}]
"""


@pytest_asyncio.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[FakeCluster, Target]]:
    images = [FakeImage(name=IMAGE, http=conformance_http)]
    async with running_fake(tmp_path, images, version=(1, 33)) as fake:
        project = tmp_path / "project"
        (project / ".git").mkdir(parents=True)
        (project / "app.yaml").write_text(K8S_APP)
        (project / "ctrlplane.toml").write_text(
            f"""\
default = "staging"

[providers.staging]
type = "kubernetes"
kubeconfig = "{fake.kubeconfig}"
namespace = "default"
poll_interval = 0.02
provision_timeout = "30s"
deprovision_timeout = "15s"
request_timeout = 10
lease_ttl = 1
stability_window = 0.1
"""
        )
        yield fake, Target(project, base_env(tmp_path), "staging")
        assert not fake.cluster.errors, fake.cluster.errors


def _lease_phase(fake: FakeCluster) -> str:
    for (kind, _, _), obj in list(fake.cluster.store.objects.items()):
        if kind == "Lease":
            record = json.loads(obj["metadata"]["annotations"]["ctrlplane.io/operation"])
            return str(record["intent"].get("phase", ""))
    return ""


async def test_up_after_a_killed_up_on_kubernetes_repairs_and_provisions(
    cluster: tuple[FakeCluster, Target],
) -> None:
    fake, target = cluster
    first = await asyncio.create_subprocess_exec(
        EXE,
        "up",
        "-f",
        "app.yaml",
        cwd=target.cwd,
        env=target.env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            while _lease_phase(fake) != "start":  # applied; waiting for the slow init
                assert first.returncode is None, "the first up ended before it was killed"
                await asyncio.sleep(0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    doc = json.loads(await target.ok("-o", "json", "ls"))
    (summary,) = doc
    iid = summary["instance_id"]
    interrupted_release = summary["release_id"]
    await asyncio.sleep(1.2)  # its lease (1 s) expires: the provision is interrupted
    before = json.loads(await target.ok("-o", "json", "status", iid))["status"]
    assert before["metadata"]["operation_state"] == "interrupted"

    code, out, err = await target.run("up", "-f", "app.yaml")
    assert code == 0, f"{out}\n{err}"
    assert "interrupted" in err
    assert out.startswith(f"instance {iid} (shop)")
    assert "state running" in out
    after = json.loads(await target.ok("-o", "json", "status", iid))["status"]
    assert after["state"] == "running"
    assert after["ready"] is True
    assert "operation" not in after["metadata"], after
    assert not after.get("message")
    releases = json.loads(await target.ok("-o", "json", "releases", iid))["releases"]
    ids = [r["release_id"] for r in releases]
    assert len(ids) == 1
    assert ids != [interrupted_release], "the half-made instance was replaced"
    await target.ok("down", iid)


PS_APP = f"""\
name: shop
services:
  - name: web
    image: {IMAGE}
    ports: [{{container: 8080}}]
    health_check: {{path: /healthz, port: 8080}}
    resources: {{replicas: 2}}
  - name: side
    role: sidecar
    image: {IMAGE}
    command: ["sh", "-c", "sleep infinity"]
"""


async def test_ps_on_kubernetes_prints_one_row_per_container(
    cluster: tuple[FakeCluster, Target],
) -> None:
    _, target = cluster
    (target.cwd / "ps.yaml").write_text(PS_APP)
    await target.ok("up", "-f", "ps.yaml")
    doc = json.loads(await target.ok("-o", "json", "ps", "shop"))
    (release,) = json.loads(await target.ok("-o", "json", "releases", "shop"))["releases"]
    units = doc["units"]
    assert [(u["service"], u["replica"]) for u in units] == [
        ("web", 0),
        ("web", 1),
        ("side", 0),
        ("side", 1),
    ]
    assert {u["release_id"] for u in units} == {release["release_id"]}
    table = await target.ok("ps", "shop")
    header, *rows = [line.split() for line in table.splitlines() if line.strip()]
    assert header[:7] == ["SERVICE", "REPLICA", "RELEASE", "IMAGE", "STATE", "HEALTH", "RESTARTS"]
    assert [r[:7] for r in rows] == [
        ["web", "0", release["release_id"], IMAGE, "running", "healthy", "0"],
        ["web", "1", release["release_id"], IMAGE, "running", "healthy", "0"],
        ["side", "0", release["release_id"], IMAGE, "running", "-", "0"],
        ["side", "1", release["release_id"], IMAGE, "running", "-", "0"],
    ]
    assert all(r[7] == "8080/tcp" for r in rows[:2]), rows
    only = await target.ok("ps", "shop", "-s", "side")
    assert [line.split()[0] for line in only.splitlines()[1:] if line.strip()] == ["side", "side"]
    await target.ok("down", "shop")
