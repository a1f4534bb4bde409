"""The ``ctrlplane`` command end to end on the real engine, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("ctrlplane"))

WORKLOAD = """\
name: {name}
services:
  - name: web
    image: ctrlplane-example/busybox:latest
    env: {{GREETING: first}}
    command: ["sh", "-c"]
    args:
      - |
        trap 'exit 0' TERM
        mkdir -p /www && echo "$GREETING" > /www/index.html
        echo "web serving $GREETING"
        httpd -f -p 8080 -h /www &
        wait
    ports: [{{container: 8080}}]
    health_check: {{path: /, port: 8080, interval: 0.3, timeout: 0.3, retries: 5}}
"""


def cli(
    *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CTRLPLANE_DOCKER_STOP_TIMEOUT": "1",
        "CTRLPLANE_DOCKER_SETTLE_TIME": "0.2",
        "CTRLPLANE_DOCKER_PULL_POLICY": "never",
    }
    proc = subprocess.run(
        [EXE, *args], capture_output=True, text=True, input=stdin, env=env, timeout=180
    )
    if check:
        assert proc.returncode == 0, f"{args}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def fetch(url: str) -> str:
    assert url.startswith("tcp://127.0.0.1:")  # published on loopback only
    with urllib.request.urlopen(url.replace("tcp://", "http://"), timeout=10) as answer:
        body: bytes = answer.read()
        return body.decode().strip()


def public_url(status: dict[str, object]) -> str:
    endpoints = status["endpoints"]
    assert isinstance(endpoints, list)
    url: str = next(e["url"] for e in endpoints if e["public"])
    return url


def test_operator_workflow(tmp_path: Path, make_id: Callable[[], str]) -> None:
    iid = make_id()
    name = f"cli-{iid[-8:]}"
    spec = tmp_path / "app.yaml"
    spec.write_text(WORKLOAD.format(name=name))

    up = json.loads(cli("-o", "json", "up", "-f", str(spec), "--instance-id", iid).stdout)
    assert up["instance_id"] == iid
    assert up["status"]["state"] == "running"
    assert fetch(public_url(up["status"])) == "first"

    # Addressed by name; re-running up converges the same instance.
    again = json.loads(cli("-o", "json", "up", "-f", str(spec)).stdout)
    assert again["instance_id"] == iid
    listed = json.loads(cli("-o", "json", "ls").stdout)
    assert [s["instance_id"] for s in listed if s["name"] == name] == [iid]

    table = cli("status", name).stdout
    assert "web" in table
    assert "running" in table

    logs = cli("logs", name, "--tail", "5").stdout
    assert "web serving first" in logs

    failed = cli("exec", name, "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert failed.returncode == 3
    assert failed.stdout == "out\n"
    assert failed.stderr == "err\n"
    assert cli("exec", "-i", name, "--", "cat", stdin="piped").stdout == "piped"

    cli("deploy", name, "-e", "GREETING=second", "--strategy", "blue-green")
    status = json.loads(cli("-o", "json", "status", name).stdout)["status"]
    assert fetch(public_url(status)) == "second"
    releases = json.loads(cli("-o", "json", "releases", name).stdout)["releases"]
    assert len(releases) == 2
    assert releases[0]["live"]

    cli("rollback", name)
    status = json.loads(cli("-o", "json", "status", name).stdout)["status"]
    assert fetch(public_url(status)) == "first"

    cli("down", name)
    gone = cli("status", name, check=False)
    assert gone.returncode == 3
    assert "not found" in gone.stderr


def test_up_of_an_invalid_file_creates_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\nservices:\n  - {name: web, image: x, depends_on: [web]}\n")
    proc = cli("up", "-f", str(spec), check=False)
    assert proc.returncode == 2
    assert "services[0].depends_on[0]" in proc.stderr
    assert "bad" not in cli("ls").stdout


@pytest.mark.parametrize("args", [["status", "no-such-workload"], ["down", "no-such-workload"]])
def test_unknown_instance_exit_code(args: list[str]) -> None:
    proc = cli(*args, check=False)
    assert proc.returncode == 3
    assert proc.stderr.startswith("error: ")
