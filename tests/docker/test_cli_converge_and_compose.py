"""The ``ctrlplane`` command on the REAL engine, as a compose or kubectl user drives it:

- ``up`` -> edit the file -> ``up`` converges the same instance (env, image, replicas) and
  says what it deployed; ``rollback --to 1`` brings the first release back;
- secrets from the CLI's sources (a dotenv file given by flag, a directory named in
  ``ctrlplane.toml``) reach the service, as env and as a file, and appear in no output;
- a Compose file of three services, with ``depends_on`` conditions and healthchecks, comes
  up healthy, and ``logs`` shows every service in time order;
- ``deploy --detach`` then ``rollout status`` follows the background deploy to its exit
  code, for a deploy that succeeds and for one that fails its health gate.

Every instance is minted by ``make_id`` (nothing may be left behind) and removed with
``ctrlplane down``. Test commands trap SIGTERM so that stops are quick.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("ctrlplane"))
IMAGE = "ctrlplane-example/busybox:latest"
IMAGE_2 = "ctrlplane-conformance/busybox:2"
"""Another reference of the same local image (scripts/build-images.sh tags it)."""

WEB = """\
name: {name}
services:
  - name: web
    image: {image}
    env: {{GREETING: {greeting}}}
    command: ["sh", "-c"]
    args:
      - |
        trap 'exit 0' TERM
        mkdir -p /www && echo "$GREETING" > /www/index.html
        [ "$HEALTHY" = 0 ] || echo ok > /www/healthz
        echo "web serving $GREETING"
        httpd -f -p 8080 -h /www &
        wait
    ports: [{{container: 8080}}]
    resources: {{replicas: {replicas}}}
    health_check: {{path: /healthz, port: 8080, interval: 0.3, timeout: 0.3, retries: 5}}
"""

SECRETS = {
    "db/password": "hunter2-s3cr3t-value",
    "tls/cert": "-----BEGIN CERT----- c3VwZXJzZWNyZXQ= -----END CERT-----",
}

WITH_SECRETS = """\
name: {name}
services:
  - name: app
    image: ctrlplane-example/busybox:latest
    env: {{MODE: first}}
    command: ["sh", "-c", "trap 'exit 0' TERM; echo app started in $MODE mode; sleep 600 & wait"]
    secrets:
      - {{key: db/password, type: env}}
      - {{key: tls/cert, type: file, target: /etc/tls/cert.pem}}
"""

COMPOSE = """\
name: {name}
services:
  db:
    image: ctrlplane-example/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; echo db up; touch /tmp/ready; sleep 600 & wait"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      timeout: 1s
      retries: 5
  api:
    image: ctrlplane-example/busybox:latest
    command:
      - sh
      - -c
      - |
        trap 'exit 0' TERM
        mkdir -p /api && echo "api ok" > /api/index.html
        echo api up
        httpd -f -p 8081 -h /api & wait
    depends_on:
      db: {{condition: service_healthy}}
    healthcheck:
      test: wget -q -O /dev/null http://localhost:8081/
      interval: 1s
      timeout: 1s
      retries: 5
  web:
    image: ctrlplane-example/busybox:latest
    command:
      - sh
      - -c
      - |
        trap 'exit 0' TERM
        mkdir -p /www
        wget -q -O /www/index.html http://api:8081/ || exit 1
        echo "web up, api said: $(cat /www/index.html)"
        httpd -f -p 8080 -h /www & wait
    environment:
      GREETING: hello
    ports: ["8080"]
    depends_on:
      api: {{condition: service_healthy}}
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O /dev/null http://localhost:8080/"]
      interval: 1s
      timeout: 1s
      retries: 5
    restart: unless-stopped
"""


@dataclass
class Cli:
    """Runs ``ctrlplane`` in a project directory with an environment of its own (fast
    Docker settings, config and state under the test's directory); keeps every output."""

    cwd: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [EXE, *args],
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=self.env,
            timeout=180,
            check=False,
        )
        self.outputs += [proc.stdout, proc.stderr]
        if check:
            assert proc.returncode == 0, (
                f"{args}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> dict[str, object]:
        doc = json.loads(self("-o", "json", *args).stdout)
        assert isinstance(doc, dict)
        return doc


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)  # the project root: ctrlplane.toml is looked for here
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRLPLANE_", "NOMAD_"))}
    env.update(
        CTRLPLANE_DOCKER_STOP_TIMEOUT="1",
        CTRLPLANE_DOCKER_SETTLE_TIME="0.2",
        CTRLPLANE_DOCKER_PULL_POLICY="never",
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
    )
    return Cli(project, env)


@pytest.fixture
def instance(make_id: Callable[[], str], cli: Cli) -> Iterator[str]:
    """A fresh instance ID; the instance is taken down after the test (``down`` must work)."""
    iid = make_id()
    yield iid
    cli("down", iid, check=False)


def _status(cli: Cli, ref: str) -> dict[str, object]:
    status = cli.json("status", ref)["status"]
    assert isinstance(status, dict)
    return status


def _public_url(status: dict[str, object]) -> str:
    endpoints = status["endpoints"]
    assert isinstance(endpoints, list)
    url = next(e["url"] for e in endpoints if e["public"])
    assert isinstance(url, str)
    assert url.startswith("tcp://127.0.0.1:")
    return url.replace("tcp://", "http://")


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return str(answer.read().decode().strip())


def _images_of(instance_id: str, service: str) -> list[str]:
    """The images of the service's running containers (one per replica)."""
    out = subprocess.run(
        [
            "docker",
            "ps",
            "--filter",
            f"label=io.ctrlplane.instance={instance_id}",
            "--filter",
            f"label=io.ctrlplane.service={service}",
            "--format",
            "{{.Image}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(out.split())


def _releases(cli: Cli, ref: str) -> list[dict[str, object]]:
    releases = cli.json("releases", ref)["releases"]
    assert isinstance(releases, list)
    return releases


# -- up converges an edited file; rollback --to 1 -----------------------------------------


def test_up_converges_an_edited_file_and_rollback_to_1_restores_the_first(
    cli: Cli, instance: str
) -> None:
    name = f"conv-{instance[-8:]}"
    app = cli.cwd / "app.yaml"
    app.write_text(WEB.format(name=name, image=IMAGE, greeting="first", replicas=1))

    up = cli("up", "-f", "app.yaml", "--instance-id", instance)
    assert f"instance {instance} ({name})" in up.stdout
    assert "http://127.0.0.1:" in up.stdout  # the public endpoint speaks HTTP (probed so)
    url = _public_url(_status(cli, name))
    assert _fetch(url) == "first"

    again = cli("up", "-f", "app.yaml")
    live = _releases(cli, name)[0]["release_id"]
    assert f"unchanged: the instance matches the file (live release {live})" in again.stdout

    # Edit env, image and replicas: the next up deploys and scales the same instance.
    app.write_text(WEB.format(name=name, image=IMAGE_2, greeting="second", replicas=2))
    plan = cli("plan", "-f", "app.yaml", name)
    assert "GREETING" in plan.stdout
    assert _images_of(instance, "web") == [IMAGE]  # plan changed nothing
    converged = cli("up", "-f", "app.yaml")
    releases = _releases(cli, name)
    assert len(releases) == 2
    lines = converged.stdout.splitlines()
    assert (
        f"deployed {releases[0]['release_id']} (rolling): web: image {IMAGE} -> {IMAGE_2}, "
        "env ~GREETING"
    ) in lines
    assert "scaled web: replicas 1 -> 2" in lines
    assert f"converging {name} ({instance}) on docker..." in converged.stderr
    assert _images_of(instance, "web") == [IMAGE_2, IMAGE_2]
    assert _fetch(_public_url(_status(cli, name))) == "second"
    assert cli("exec", name, "--", "printenv", "GREETING").stdout == "second\n"

    # rollback --to 1: the first release (revision 1) comes back.
    rolled = cli("rollback", name, "--to", "1")
    assert rolled.returncode == 0
    history = _releases(cli, name)
    assert len(history) == 3
    assert history[0]["live"] is True
    assert history[0]["rollback_of"] == releases[1]["release_id"]
    assert set(_images_of(instance, "web")) == {IMAGE}
    assert _fetch(_public_url(_status(cli, name))) == "first"
    assert cli("exec", name, "--", "printenv", "GREETING").stdout == "first\n"

    assert cli("down", name).stdout == f"removed {instance}\n"


# -- secrets from the CLI's sources -----------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _secret_sources(cli: Cli, how: str) -> list[str]:
    """Put the values where ``how`` says; the extra arguments the commands then take."""
    if how == "dotenv file flag":
        dotenv = cli.cwd / "secrets.env"  # the key, or its variable form
        dotenv.write_text(
            f'db/password={SECRETS["db/password"]}\nTLS_CERT="{SECRETS["tls/cert"]}"\n'
        )
        return ["--secrets-file", str(dotenv)]
    folder = cli.cwd / "secrets"
    for key, value in SECRETS.items():
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_text(value)
    (cli.cwd / "ctrlplane.toml").write_text('[secrets]\ndir = "secrets"\n')
    return []


@pytest.mark.parametrize("how", ["dotenv file flag", "directory in ctrlplane.toml"])
def test_env_and_file_secrets_reach_the_service_and_no_output(
    cli: Cli, instance: str, how: str
) -> None:
    name = f"sec-{instance[-8:]}"
    (cli.cwd / "app.yaml").write_text(WITH_SECRETS.format(name=name))
    extra = _secret_sources(cli, how)
    check = 'printf %s "$DB_PASSWORD" | md5sum; md5sum < /etc/tls/cert.pem'
    expected = f"{_md5(SECRETS['db/password'])}  -\n{_md5(SECRETS['tls/cert'])}  -\n"

    cli("up", "-f", "app.yaml", "--instance-id", instance, *extra)
    # The values reached the service (compared by digest: no output ever holds them).
    assert cli("exec", name, "--", "sh", "-c", check).stdout == expected

    # A deploy starts new units: they get the values too (resolved again).
    cli("deploy", name, "-e", "MODE=second", *extra)
    assert cli("exec", name, "--", "sh", "-c", check).stdout == expected
    assert cli("exec", name, "--", "printenv", "MODE").stdout == "second\n"

    # Everything a user looks at: none of it shows a value.
    cli("status", name)
    cli("-o", "json", "status", name)
    cli("-o", "json", "releases", name)
    cli("releases", name)
    cli("render", "-f", "app.yaml", *extra)
    cli("plan", "-f", "app.yaml", name, *extra)
    assert "app started in second mode" in cli("logs", name).stdout
    cli("-o", "json", "logs", name)
    cli("rollback", name, *extra)
    assert cli("exec", name, "--", "printenv", "MODE").stdout == "first\n"
    cli("down", name)
    shown = "\n".join(cli.outputs)
    for value in SECRETS.values():
        assert value not in shown
        assert base64.b64encode(value.encode()).decode() not in shown


# -- a Compose file of three services; logs of them all ----------------------------------


def test_a_compose_file_of_three_services_comes_up_healthy_and_logs_show_them_all(
    cli: Cli, instance: str
) -> None:
    name = f"compose-{instance[-8:]}"
    (cli.cwd / "compose.yaml").write_text(COMPOSE.format(name=name))
    assert cli("validate", "-f", "compose.yaml").returncode == 0

    up = cli("up", "-f", "compose.yaml", "--instance-id", instance)
    assert "note: compose.yaml: services.web.restart: not honoured" in up.stderr
    table = up.stdout.splitlines()
    header = table.index("SERVICE  STATE    READY  RESTARTS  MESSAGE")
    rows = {line.split()[0]: line.split()[1:4] for line in table[header + 1 : header + 4]}
    assert rows == {s: ["running", "yes", "0"] for s in ("api", "db", "web")}

    status = _status(cli, name)
    assert status["state"] == "running"
    services = status["services"]
    assert isinstance(services, dict)
    states = {n: (s["state"], s["ready"]) for n, s in services.items()}
    assert states == dict.fromkeys(("db", "api", "web"), ("running", True))
    # web fetched api's page at start-up: api was up (and healthy) before web started.
    assert _fetch(_public_url(status)) == "api ok"

    # logs: every service by default, merged in time order (db, then api, then web).
    lines = cli("logs", name).stdout.splitlines()
    assert lines == ["db[0] db up", "api[0] api up", "web[0] web up, api said: api ok"]
    records = [json.loads(line) for line in cli("-o", "json", "logs", name).stdout.splitlines()]
    assert [r["service"] for r in records] == ["db", "api", "web"]
    assert cli("logs", name, "-s", "web", "-s", "db").stdout.splitlines() == [
        "db[0] db up",
        "web[0] web up, api said: api ok",
    ]
    stamped = cli("logs", name, "--timestamps", "-n", "1").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == lines

    cli("down", name)


# -- deploy --detach, rollout status ----------------------------------------------------


def test_a_detached_deploy_is_followed_by_rollout_status_to_its_exit_code(
    cli: Cli, instance: str
) -> None:
    name = f"detach-{instance[-8:]}"
    (cli.cwd / "app.yaml").write_text(
        WEB.format(name=name, image=IMAGE, greeting="one", replicas=1)
    )
    cli("up", "-f", "app.yaml", "--instance-id", instance)
    (first,) = _releases(cli, name)

    started = cli("deploy", name, "-e", "GREETING=two", "--detach")
    assert started.stdout.startswith(f"deploying to {instance} in the background (pid ")
    followed = cli("rollout", "status", name)
    live = _releases(cli, name)[0]
    assert followed.stdout == f"rollout of {instance} deployed; live release {live['release_id']}\n"
    assert "probe web[0]" in followed.stderr  # the background deploy's progress
    assert _fetch(_public_url(_status(cli, name))) == "two"

    cli("deploy", name, "-e", "HEALTHY=0", "--detach")
    failed = cli("rollout", "status", name, check=False)
    assert failed.returncode == 7, failed.stdout + failed.stderr
    assert failed.stdout == (
        f"rollout of {instance} failed (exit 7); live release {live['release_id']}\n"
    )
    assert "the previous release was restored" in failed.stderr
    assert _fetch(_public_url(_status(cli, name))) == "two"
    assert first["release_id"] != live["release_id"]

    cli("down", name)
