"""``render``, ``doctor`` (unreachable backends), ``plan``'s diff and the progress lines,
all without any engine or server: every backend address points at a closed port."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from fake_cli import SHIPPED_BACKENDS

from ctrlplane.cli.deploy_plan import blockers, live_facts
from ctrlplane.cli.doctor_cmd import fix_hint
from ctrlplane.cli.inspect_cmds import plan_changes
from ctrlplane.cli.progress import event_line, progress_subscriber
from ctrlplane.provider import Release, ServiceDeploySpec, ServiceSpec
from ctrlplane.provider.events import (
    ProbeObserved,
    ProgressEvent,
    RolledBack,
    StepFinished,
    StepStarted,
    TrafficSwitched,
    UnitRemoved,
    UnitStarted,
)
from ctrlplane.provider.health import ProbeResult

EXE = str(Path(sys.executable).with_name("ctrlplane"))
ROOT = Path(__file__).resolve().parents[2]
IID = "inst_01jd0000000000000000000000"
SECRET_VALUE = "hunter2-must-never-print"

WORKLOAD = """\
name: renderme
labels: {team: cli}
services:
  - name: web
    image: ctrlplane-example/busybox:latest
    env: {GREETING: hello}
    command: ["sh", "-c", "httpd -f -p 8080"]
    ports: [{container: 8080}]
    secrets:
      - {key: db-password, type: env, target: DB_PASSWORD}
      - {key: api-token, type: file, target: /run/secrets/token}
"""

# Every backend unreachable: a closed port on loopback, a kubeconfig naming one.
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.fixture
def offline(tmp_path: Path) -> dict[str, str]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CTRLPLANE_", "NOMAD_", "AWS_", "FLY_"))
    }
    env.update(
        CTRLPLANE_DOCKER_DOCKER_HOST="tcp://127.0.0.1:9",
        # no AWS call may leave loopback: no instance metadata, a dead local endpoint
        AWS_EC2_METADATA_DISABLED="true",
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        CTRLPLANE_ECS_ENDPOINT_URL="http://127.0.0.1:9",
        CTRLPLANE_K8S_KUBECONFIG=str(kubeconfig),
        NOMAD_ADDR="http://127.0.0.1:9",
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),  # no ctrlplane.toml of the developer's
        # A resolvable value: render must still never show it.
        CTRLPLANE_SECRET_DB_PASSWORD=SECRET_VALUE,
        CTRLPLANE_SECRET_API_TOKEN=SECRET_VALUE,
    )
    return env


@pytest.fixture
def workload(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(WORKLOAD)
    return path


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


# -- render ------------------------------------------------------------------------------


def test_render_docker_offline(offline: dict[str, str], workload: Path) -> None:
    proc = cli(offline, "-o", "json", "render", "-f", str(workload), "--instance-id", IID)
    assert proc.returncode == 0, proc.stderr
    assert SECRET_VALUE not in proc.stdout + proc.stderr
    objects = json.loads(proc.stdout)
    assert [o["Kind"] for o in objects] == ["network", "front", "holder", "container"]
    network, front, holder, container = objects
    assert network["Body"]["Labels"]["io.ctrlplane.instance"] == IID
    # the published port is held by the instance's front, not by the unit
    assert "8080/tcp" in front["Body"]["HostConfig"]["PortBindings"]
    assert not container["Body"]["HostConfig"].get("PortBindings")
    # the unit's network namespace (and the ports it exposes) belongs to its holder
    assert "8080/tcp" in holder["Body"]["ExposedPorts"]
    assert container["Body"]["HostConfig"]["NetworkMode"] == f"container:{holder['Name']}"
    body = container["Body"]
    assert body["Image"] == "ctrlplane-example/busybox:latest"
    assert body["Env"] == ["GREETING=hello"]  # secret env is added only at create time
    # Table mode prints the same objects as JSON (people read it the same way).
    human = cli(offline, "render", "-f", str(workload), "--instance-id", IID)
    assert human.returncode == 0, human.stderr
    assert json.loads(human.stdout) == objects


def test_render_kubernetes_offline_as_yaml(offline: dict[str, str], workload: Path) -> None:
    proc = cli(offline, "-p", "kubernetes", "render", "-f", str(workload), "--instance-id", IID)
    assert proc.returncode == 0, proc.stderr
    assert SECRET_VALUE not in proc.stdout + proc.stderr
    docs = list(yaml.safe_load_all(proc.stdout))
    kinds = [d["kind"] for d in docs]
    assert "Secret" in kinds
    assert "Service" in kinds
    assert kinds[-1] == "Deployment"
    secret = next(d for d in docs if d["kind"] == "Secret")

    values = {base64.b64decode(v).decode() for v in secret["data"].values()}
    assert values == {"[redacted]"}
    as_json = cli(
        offline,
        "-p",
        "kubernetes",
        "-o",
        "json",
        "render",
        "-f",
        str(workload),
        "--instance-id",
        IID,
    )
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == docs


def test_render_nomad_offline(offline: dict[str, str], workload: Path) -> None:
    proc = cli(
        offline, "-p", "nomad", "-o", "json", "render", "-f", str(workload), "--instance-id", IID
    )
    assert proc.returncode == 0, proc.stderr
    assert SECRET_VALUE not in proc.stdout + proc.stderr
    [obj] = json.loads(proc.stdout)
    job = obj["Job"]
    assert job["ID"] == IID
    assert job["Name"] == "renderme"
    [task] = job["TaskGroups"][0]["Tasks"]
    assert task["Config"]["image"] == "ctrlplane-example/busybox:latest"
    # Secrets are references to Nomad Variables, read by templates at run time.
    assert any("nomadVar" in t["EmbeddedTmpl"] for t in task["Templates"])


def test_render_refuses_what_the_backend_cannot_do(offline: dict[str, str], tmp_path: Path) -> None:
    # Nomad runs prestart tasks concurrently: an init that waits for another is refused.
    chained = tmp_path / "chained.yaml"
    chained.write_text(
        "name: chained\n"
        "services:\n"
        "  - {name: web, image: ctrlplane-example/busybox:latest, command: [sleep, '60']}\n"
        "  - {name: fetch, role: init, image: ctrlplane-example/busybox:latest,"
        " command: ['true']}\n"
        "  - {name: migrate, role: init, image: ctrlplane-example/busybox:latest,"
        " command: ['true'], depends_on: [fetch]}\n"
    )
    proc = cli(offline, "-p", "nomad", "render", "-f", str(chained))
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith("error:")
    assert "migrate" in proc.stderr


def test_render_invalid_file_exits_2(offline: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nservices: []\n")
    assert cli(offline, "render", "-f", str(bad)).returncode == 2


# -- doctor ------------------------------------------------------------------------------


def test_doctor_every_backend_unreachable(offline: dict[str, str]) -> None:
    proc = cli(offline, "-o", "json", "doctor")
    assert proc.returncode == 5, proc.stderr
    entries = {e["name"]: e for e in json.loads(proc.stdout)}
    assert set(entries) == SHIPPED_BACKENDS
    assert entries["docker"]["chosen"] is True
    for name, entry in entries.items():
        assert entry["healthy"] is False
        assert entry["fix"] == fix_hint(name)
        assert entry["capabilities"]
        assert entry["latency_ms"] >= 0
    human = cli(offline, "doctor")
    assert human.returncode == 5
    assert "PROVIDER" in human.stdout
    assert "unreachable" in human.stdout
    assert "fix: start the Docker engine" in human.stdout
    assert "CTRLPLANE_K8S_KUBECONFIG" in human.stdout
    assert "NOMAD_ADDR" in human.stdout


def test_doctor_exit_code_follows_the_chosen_provider(offline: dict[str, str]) -> None:
    proc = cli(offline, "-p", "nomad", "-o", "json", "doctor")
    assert proc.returncode == 5
    assert [e["name"] for e in json.loads(proc.stdout) if e["chosen"]] == ["nomad"]


# -- plan ----------------------------------------------------------------------------------


def _live() -> Release:
    return Release(
        release_id="rel_live",
        created_at=datetime.now(UTC),
        live=True,
        services=[
            ServiceDeploySpec(name="web", image="app:1", env={"A": "1", "B": "2"}),
            ServiceDeploySpec(name="worker", image="work:1"),
        ],
    )


def test_plan_changes_per_service() -> None:
    new = [
        ServiceSpec(name="web", image="app:2", env={"A": "1", "B": "3", "C": "4"}),
        ServiceSpec(name="cache", image="redis:7"),
    ]
    live = _live()
    blocked = blockers(live_facts(live, None), new, "app.yaml")
    changes = {c["service"]: c for c in plan_changes(live, new, blocked)}
    web = changes["web"]
    assert web["change"] == "update"
    assert web["image"] == ["app:1", "app:2"]
    assert web["env"] == {"added": {"C": "4"}, "removed": {}, "changed": {"B": ["2", "3"]}}
    assert web["deployable"] is True
    assert web["blockers"] == []
    # A service added or removed is shown, and marked as something a deploy cannot do.
    assert changes["cache"]["change"] == "add"
    assert changes["cache"]["deployable"] is False
    assert "cannot add" in changes["cache"]["blockers"][0]
    assert changes["worker"]["change"] == "remove"
    assert changes["worker"]["deployable"] is False
    assert "cannot remove" in changes["worker"]["blockers"][0]
    same = plan_changes(live, [ServiceSpec(name="web", image="app:1", env={"A": "1", "B": "2"})])
    assert same[0]["change"] == "unchanged"


# -- progress lines ----------------------------------------------------------------------


def test_event_lines_are_one_concise_line_each() -> None:
    probe = ProbeResult(
        service="web",
        replica=1,
        kind="http",
        target="http://web:8080/",
        attempt=2,
        healthy=False,
        observed="HTTP 503",
        at=datetime.now(UTC),
    )
    events: list[ProgressEvent] = [
        StepStarted(instance_id=IID, step="gate"),
        StepFinished(instance_id=IID, step="gate", ok=False, detail="probe failed"),
        UnitStarted(instance_id=IID, service="web", replica=1, release_id="rel_b"),
        UnitRemoved(instance_id=IID, service="web", replica=0, release_id="rel_a"),
        ProbeObserved(instance_id=IID, result=probe),
        TrafficSwitched(instance_id=IID, from_release="rel_a", to_release="rel_b"),
        RolledBack(instance_id=IID, to_release="rel_a", reason="gate failed"),
    ]
    lines = [event_line(e) for e in events]
    assert lines == [
        "- gate...",
        "- gate: FAILED",
        "  started web[1] (rel_b)",
        "  removed web[0] (rel_a)",
        "  probe web[1] http http://web:8080/ attempt 2: unhealthy (HTTP 503)",
        "- traffic switched rel_a -> rel_b",
        "- rolled back to rel_a",
    ]
    assert all("\n" not in line for line in lines)


def test_no_progress_subscriber_in_json_mode() -> None:
    assert progress_subscriber(True) is None
    assert progress_subscriber(False) is not None
