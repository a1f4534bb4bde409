"""The CLI's live progress, ``plan``, ``doctor`` and Ctrl-C on the REAL engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

EXE = str(Path(sys.executable).with_name("ctrlplane"))

WORKLOAD = """\
name: {name}
services:
  - name: web
    image: ctrlplane-example/busybox:latest
    env: {{GREETING: {greeting}}}
    command: ["sh", "-c"]
    args:
      - |
        trap 'exit 0' TERM
        mkdir -p /www && echo "$GREETING" > /www/index.html
        httpd -f -p 8080 -h /www &
        wait
    ports: [{{container: 8080}}]
    health_check: {{path: /, port: 8080, interval: 0.3, timeout: 0.3, retries: 5}}
"""

SLOW = """\
name: {name}
services:
  - name: prepare
    role: init
    image: ctrlplane-example/busybox:latest
    command: ["sh", "-c", "sleep 60"]
  - name: web
    image: ctrlplane-example/busybox:latest
    depends_on: [prepare]
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
"""


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "CTRLPLANE_DOCKER_STOP_TIMEOUT": "1",
        "CTRLPLANE_DOCKER_SETTLE_TIME": "0.2",
        "CTRLPLANE_DOCKER_PULL_POLICY": "never",
        "CTRLPLANE_DOCKER_CANARY_OBSERVATION": "1",
        "CTRLPLANE_DOCKER_BLUE_GREEN_RETIRE_DELAY": "0.2",
        # The other backends: nothing listens there (doctor must not hang on them).
        "CTRLPLANE_K8S_KUBECONFIG": "/nonexistent/kubeconfig",
        "NOMAD_ADDR": "http://127.0.0.1:9",
    }


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=_env(), timeout=180, check=False
    )
    if check:
        assert proc.returncode == 0, f"{args}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_doctor_with_the_engine_reachable() -> None:
    entries = {e["name"]: e for e in json.loads(cli("-o", "json", "doctor").stdout)}
    docker = entries["docker"]
    assert docker["chosen"] is True
    assert docker["healthy"] is True
    assert docker["version"]
    assert docker["latency_ms"] > 0
    assert "deploy" in docker["capabilities"]
    assert "fix" not in docker
    assert entries["nomad"]["healthy"] is False  # the others do not decide the exit code
    table = cli("doctor").stdout
    assert "docker (chosen)  ok" in table
    assert "nomad: " in table


def test_doctor_with_an_unreachable_engine() -> None:
    env = {**_env(), "CTRLPLANE_DOCKER_DOCKER_HOST": "tcp://127.0.0.1:9"}
    proc = subprocess.run(
        [EXE, "doctor"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 5
    assert "fix: start the Docker engine" in proc.stdout


def test_plan_deploy_and_rollback_with_progress(tmp_path: Path, make_id: Callable[[], str]) -> None:
    iid = make_id()
    name = f"prog-{iid[-8:]}"
    first = tmp_path / "first.yaml"
    first.write_text(WORKLOAD.format(name=name, greeting="first"))
    second = tmp_path / "second.yaml"
    second.write_text(WORKLOAD.format(name=name, greeting="second"))
    cli("-o", "json", "up", "-f", str(first), "--instance-id", iid)
    try:
        same = cli("plan", "-f", str(first), name).stdout
        assert "web: unchanged" in same
        assert "no changes" in same
        plan = cli("plan", "-f", str(second), name).stdout
        assert "-env GREETING=first" in plan
        assert "+env GREETING=second" in plan
        assert "1 service(s) would change: web" in plan
        structured = json.loads(cli("-o", "json", "plan", "-f", str(second), name).stdout)
        [web] = structured["services"]
        assert web["env"]["changed"] == {"GREETING": ["first", "second"]}
        assert web["image"] is None

        deploy = cli("deploy", name, "-f", str(second), "--strategy", "blue-green")
        lines = deploy.stderr.splitlines()
        assert any(line.startswith("  started web[0] (rel_") for line in lines), deploy.stderr
        assert any(line.startswith("  probe web[0] http") for line in lines), deploy.stderr
        assert any(line.startswith("- traffic switched rel_") for line in lines), deploy.stderr
        assert "deployed rel_" in deploy.stdout

        rolling = cli("deploy", name, "-e", "GREETING=third", "--strategy", "rolling")
        lines = rolling.stderr.splitlines()
        assert "- replace-unit-0... web" in lines, rolling.stderr
        assert "- replace-unit-0: done" in lines, rolling.stderr
        assert any(line.startswith("  started web[0] (rel_") for line in lines), rolling.stderr

        # JSON mode: nothing extra on stderr, one document on stdout.
        quiet = cli("-o", "json", "deploy", name, "-e", "GREETING=fourth")
        assert quiet.stderr == ""
        assert json.loads(quiet.stdout)["instance_id"] == iid

        back = cli("rollback", name)
        assert any(line.startswith("  started web[0]") for line in back.stderr.splitlines())
        assert "rolled " in back.stdout
    finally:
        cli("down", iid)


def test_ctrl_c_during_up_says_what_was_left(tmp_path: Path, make_id: Callable[[], str]) -> None:
    iid = make_id()
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW.format(name=f"slow-{iid[-8:]}"))
    proc = subprocess.Popen(
        [EXE, "up", "-f", str(spec), "--instance-id", iid],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    flt = f"label=io.ctrlplane.instance={iid}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the init container runs
        out = subprocess.run(
            ["docker", "ps", "-q", "--filter", flt], capture_output=True, text=True, check=True
        ).stdout
        if out.strip():
            break
        time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError("the init container never started")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"interrupted; cleanup ran; instance {iid} does not exist" in err


NEVER_HEALTHY = WORKLOAD.replace(
    "health_check: {{path: /, port: 8080, interval: 0.3, timeout: 0.3, retries: 5}}",
    "health_check: {{path: /never-there, port: 8080, interval: 0.5, timeout: 0.3, retries: 200}}",
)
"""The workload of WORKLOAD whose new version never passes its gate (a deploy changes
only image, env and health check)."""


def test_ctrl_c_during_deploy_says_what_was_left(
    tmp_path: Path, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    name = f"intr-{iid[-8:]}"
    first = tmp_path / "first.yaml"
    first.write_text(WORKLOAD.format(name=name, greeting="first"))
    stuck = tmp_path / "stuck.yaml"
    stuck.write_text(NEVER_HEALTHY.format(name=name, greeting="never"))
    up = json.loads(cli("-o", "json", "up", "-f", str(first), "--instance-id", iid).stdout)
    assert up["instance_id"] == iid
    try:
        live = json.loads(cli("-o", "json", "releases", iid).stdout)["releases"][0]
        proc = subprocess.Popen(
            [EXE, "deploy", iid, "-f", str(stuck), "--strategy", "rolling"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        assert proc.stderr is not None
        seen: list[str] = []
        for line in proc.stderr:  # progress lines arrive live
            seen.append(line)
            if line.startswith("  probe web[0]"):
                break
        else:
            proc.kill()
            raise AssertionError("no probe line before the deploy ended: " + "".join(seen))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, "".join(seen) + err
        assert f"interrupted; cleanup ran; instance {iid} is running" in err
        assert f"running release {live['release_id']}" in err
    finally:
        cli("down", iid)
