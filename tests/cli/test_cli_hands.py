"""What docker compose and kubectl users reach for: options anywhere, every help example,
Compose files, ps, logs of every service, rollback --to, rollout status, refusals of
what the library cannot do, a failed deploy's evidence. On the fake provider."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from pathlib import Path

import click
import pytest
from fake_cli import Listing, run_cli

from ctrlplane.cli.main import cli as root
from ctrlplane.cli.output import endpoint_url, http_ports
from ctrlplane.cli.table import COMMANDS
from ctrlplane.provider import Endpoint, ProvisionRequest
from ctrlplane.testing import FakeBackend, FakeImage, FakeProvider
from ctrlplane.testing.images import serve_files

pytestmark = pytest.mark.usefixtures("isolated_config")
ROOT = Path(__file__).resolve().parents[2]

APP = """\
name: shop
services:
  - name: worker
    role: sidecar
    image: example/worker:1
    command: ["sh", "-c", "echo worker up; sleep infinity"]
  - name: web
    image: example/web:1
    command: ["sh", "-c", "echo web up $TOKEN; sleep infinity"]
    env: {GREETING: hello}
    ports: [{container: 8080}]
    health_check: {command: ["true"], interval: 0.1, timeout: 0.1, retries: 2}
"""


@pytest.fixture
def provider(fake: FakeProvider) -> Listing:
    return Listing(fake)


@pytest.fixture
def shop(capsys: pytest.CaptureFixture[str], provider: Listing, tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(APP)
    code, _, err = run_cli(capsys, provider, "up", "-f", str(path))
    assert code == 0, err
    return path


# -- options anywhere, summaries, examples -----------------------------------------------


def test_every_global_option_works_after_the_subcommand(
    capsys: pytest.CaptureFixture[str], provider: Listing, shop: Path, tmp_path: Path
) -> None:
    code, out, _ = run_cli(capsys, provider, "ls", "-o", "json")
    assert code == 0
    assert [s["name"] for s in json.loads(out)] == ["shop"]
    code, out, _ = run_cli(capsys, provider, "status", "shop", "--output", "json")
    assert json.loads(out)["name"] == "shop"
    code, out, _ = run_cli(capsys, provider, "ls", "--tenant", "other", "-o", "json")
    assert json.loads(out) == []
    config = tmp_path / "elsewhere.toml"
    config.write_text('default = "fake"\n')
    code, out, _ = run_cli(capsys, provider, "ls", "--config", str(config), "-o", "json")
    assert code == 0
    code, _, err = run_cli(capsys, provider, "ls", "--config", str(tmp_path / "none.toml"))
    assert code == 2
    assert "does not exist" in err
    code, _, err = run_cli(capsys, provider, "status", "missing", "-p", "nosuch")
    assert code == 3
    assert "nosuch" in err
    code, _, err = run_cli(capsys, provider, "status", "missing", "--debug")
    assert code == 3
    assert "Traceback" in err


def test_the_command_table_matches_each_command() -> None:
    ctx = click.Context(root, info_name="ctrlplane")
    for name, entry in COMMANDS.items():
        command = root.get_command(ctx, name)
        assert command is not None
        first = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
        assert first == entry.summary, name


def _examples() -> list[tuple[str, str]]:
    ctx = click.Context(root, info_name="ctrlplane")
    found = [("ctrlplane", root.help or "")]
    for name in root.list_commands(ctx):
        command = root.get_command(ctx, name)
        assert command is not None
        found.append((name, command.help or ""))
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command, info_name=name, parent=ctx)
            for sub in command.list_commands(sub_ctx):
                child = command.get_command(sub_ctx, sub)
                assert child is not None
                found.append((f"{name} {sub}", child.help or ""))
    out = []
    for name, text in found:
        for match in re.finditer(r"Example: (.+)", text):
            for part in match.group(1).split("&&"):
                out.append((name, part.strip()))
    return out


def test_every_help_example_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ``Example:`` of every --help, run in order against one fake engine (the
    examples' provider names stand for it; kubernetes renders offline)."""
    monkeypatch.chdir(ROOT)
    busybox = FakeImage("ctrlplane-example/busybox:latest", http=serve_files("/www"))
    fake = Listing(FakeProvider(FakeBackend([busybox]), time_scale=0.01))
    examples = _examples()
    assert len(examples) >= len(COMMANDS)
    examples.sort(key=lambda e: e[0] == "down")  # removing the instance comes last
    for name, example in examples:
        words = shlex.split(example)
        if words[0] == "eval":
            words = shlex.split(words[1].strip("$()"))
        assert words[0] == "ctrlplane", example
        args = words[1:]
        code, out, err = run_cli(capsys, fake, *args)  # a --provider in args wins
        allowed = {0}
        if name == "doctor":
            allowed = {0, 5}  # the other providers of this machine may be down
        assert code in allowed, f"{example}: exit {code}\n{out}\n{err}"


# -- Compose files -----------------------------------------------------------------------


def test_a_compose_file_is_validated_rendered_and_brought_up(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Listing
) -> None:
    compose = str(ROOT / "examples" / "compose.yaml")
    code, out, err = run_cli(capsys, provider, "validate", "-f", compose)
    assert code == 0, err
    assert "valid: Compose file as workload shop: migrate (init), db (sidecar), web (main)" in out
    assert "services.web.restart: not honoured" in out
    code, out, err = run_cli(capsys, provider, "up", "-f", compose)
    assert code == 0, err
    assert "note: " in err
    assert "restart: not honoured" in err
    (record,) = fake.backend.instances.values()
    assert {s.name: str(s.role) for s in record.services} == {
        "migrate": "init",
        "db": "sidecar",
        "web": "main",
    }
    web = record.spec("web")
    assert web.depends_on == ["db", "migrate"]
    assert web.health_check is not None
    assert web.health_check.command == ["sh", "-c", "test -f /tmp/ready || true"]
    assert web.resources.replicas == 2
    assert web.resources.memory_mb == 64
    assert len(record.units) == 2
    code, out, _ = run_cli(capsys, provider, "up", "-f", compose)
    assert "unchanged" in out


def test_compose_problems_name_their_path(
    capsys: pytest.CaptureFixture[str], provider: Listing, tmp_path: Path
) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text(
        "services:\n"
        "  web:\n    build: .\n    ports: ['8000-8010:80']\n    volumes: ['./src:/app']\n"
        "    depends_on: {db: {condition: service_healthy}}\n"
        "  db:\n    image: postgres:16\n"
    )
    code, _, err = run_cli(capsys, provider, "validate", "-f", str(bad))
    assert code == 2
    assert "services.web.image: ctrlplane runs images and does not build them" in err
    assert "services.web.ports[0]" in err
    assert "services.web.volumes[0]: bind mount" in err
    assert "condition service_healthy, but db has no healthcheck" in err


def test_a_file_can_come_from_standard_input(
    capsys: pytest.CaptureFixture[str], provider: Listing, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(APP))
    code, out, err = run_cli(capsys, provider, "validate", "-f", "-")
    assert code == 0, err
    assert "-: valid: workload shop" in out


# -- ps, logs, releases, rollback ----------------------------------------------------------


def test_ps_lists_one_row_per_unit(
    capsys: pytest.CaptureFixture[str], provider: Listing, shop: Path
) -> None:
    assert run_cli(capsys, provider, "scale", "shop", "--replicas", "2")[0] == 0
    code, out, _ = run_cli(capsys, provider, "ps", "shop")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "SERVICE",
        "REPLICA",
        "RELEASE",
        "IMAGE",
        "STATE",
        "HEALTH",
        "RESTARTS",
        "PORTS",
        "AGE",
    ]
    rows = [line.split()[:6] for line in lines[1:]]
    assert [r[:2] for r in rows] == [["worker", "0"], ["worker", "1"], ["web", "0"], ["web", "1"]]
    assert {r[4] for r in rows} == {"running"}
    assert [r[5] for r in rows if r[0] == "web"] == ["healthy", "healthy"]


def test_endpoints_that_speak_http_print_as_http() -> None:
    services = ProvisionRequest.model_validate(
        {
            "instance_id": "inst_01jd0000000000000000000001",
            "name": "site",
            "services": [
                {
                    "name": "web",
                    "image": "example/web:1",
                    "ports": [{"container": 8080}],
                    "health_check": {"path": "/", "port": 8080},
                },
                {
                    "name": "api",
                    "role": "sidecar",
                    "image": "example/api:1",
                    "ports": [{"container": 7000}, {"container": 9000}],
                    "health_check": {"path": "/healthz", "port": 7000},
                },
                {
                    "name": "db",
                    "role": "sidecar",
                    "image": "example/db:1",
                    "ports": [{"container": 5432}],
                    "health_check": {"port": 5432},
                },
            ],
        }
    ).services
    http = http_ports(services)

    def url(service: str, address: str, port: int, public: bool) -> str:
        ep = Endpoint(service_name=service, url=f"tcp://{address}:{port}", port=port, public=public)
        return endpoint_url(ep, http)

    # Internal endpoints name the container port: probed over HTTP, or not.
    assert url("web", "web", 8080, False) == "http://web:8080"
    assert url("api", "api", 7000, False) == "http://api:7000"
    assert url("api", "api", 9000, False) == "tcp://api:9000"
    assert url("db", "db", 5432, False) == "tcp://db:5432"  # a tcp probe
    # Public ones name a host port: HTTP when the service's only TCP port speaks it.
    assert url("web", "127.0.0.1", 41234, True) == "http://127.0.0.1:41234"
    assert url("api", "127.0.0.1", 41235, True) == "tcp://127.0.0.1:41235"
    assert url("db", "127.0.0.1", 41236, True) == "tcp://127.0.0.1:41236"


def test_ps_refuses_a_provider_that_cannot_list_units(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, shop: Path
) -> None:
    class NoUnits(Listing):
        def __getattr__(self, name: str) -> object:
            if name == "units":
                raise AttributeError(name)
            return super().__getattr__(name)

    code, _, err = run_cli(capsys, NoUnits(fake), "ps", "shop")
    assert code == 4
    assert "provider 'fake' does not support 'units'" in err


def test_logs_show_every_service_with_timestamps_and_tail(
    capsys: pytest.CaptureFixture[str], provider: Listing, shop: Path
) -> None:
    code, out, _ = run_cli(capsys, provider, "logs", "shop", "-n", "1", "--timestamps")
    assert code == 0
    lines = out.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["worker[0] worker up", "web[0] web up"]
    assert all(re.match(r"\d{4}-\d\d-\d\dT", line) for line in lines)
    code, out, _ = run_cli(capsys, provider, "logs", "shop", "-s", "web")
    assert out.splitlines() == ["web[0] web up"]


def test_releases_say_what_changed_and_rollback_takes_a_revision_or_prefix(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Listing, shop: Path
) -> None:
    assert run_cli(capsys, provider, "deploy", "shop", "-s", "web", "-e", "GREETING=hi")[0] == 0
    assert (
        run_cli(capsys, provider, "deploy", "shop", "-s", "web", "--image", "example/web:2")[0] == 0
    )
    code, out, _ = run_cli(capsys, provider, "releases", "shop")
    assert code == 0
    rows = out.splitlines()[1:]
    assert "web: image example/web:1 -> example/web:2" in rows[0]
    assert rows[0].startswith("*")
    assert "web: env ~GREETING" in rows[1]
    assert "initial release" in rows[2]
    code, _, err = run_cli(capsys, provider, "rollback", "shop", "--to", "1", "--timeout", "2m")
    assert code == 0, err
    (iid,) = fake.backend.instances
    history = asyncio.run(fake.releases(iid))
    first = history[-1]
    assert history[0].rollback_of == first.release_id
    assert history[0].service("web").env == {"GREETING": "hello"}
    second = history[2].release_id
    code, _, err = run_cli(capsys, provider, "rollback", "shop", "--to", second[4:-2])
    assert code == 0, err
    assert asyncio.run(fake.releases(iid))[0].rollback_of == second
    code, _, err = run_cli(capsys, provider, "rollback", "shop", "--to", "99")
    assert code == 3
    code, _, err = run_cli(capsys, provider, "rollback", "shop", "--to", "rel_zzzz")
    assert code == 3


def test_rollout_status_without_a_running_deploy_prints_the_live_release(
    capsys: pytest.CaptureFixture[str],
    fake: FakeProvider,
    provider: Listing,
    shop: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    code, out, _ = run_cli(capsys, provider, "rollout", "status", "shop")
    assert code == 0
    (iid,) = fake.backend.instances
    live = asyncio.run(fake.releases(iid))[0].release_id
    assert f"no rollout in progress: {iid} is running, live release {live}" in out


# -- what the library cannot do: refused before any work -----------------------------------


def test_refusals_name_the_provider(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Listing, shop: Path
) -> None:
    code, _, err = run_cli(capsys, provider, "restart", "shop", "-s", "web")
    assert code == 4
    assert "restarts whole instances" in err
    code, _, err = run_cli(capsys, provider, "scale", "shop", "-s", "worker", "--replicas", "2")
    assert code == 4
    assert "'worker' cannot be scaled on its own" in err
    assert run_cli(capsys, provider, "scale", "shop", "-s", "web", "--replicas", "2")[0] == 0
    code, _, err = run_cli(capsys, provider, "down", "shop", "--keep-volumes")
    assert code == 4
    assert "removes an instance's volumes" in err
    assert fake.backend.instances  # nothing was removed
    code, _, err = run_cli(
        capsys,
        provider,
        "deploy",
        "shop",
        "-s",
        "web",
        "-e",
        "A=1",
        "--strategy",
        "canary",
        "--canary-units",
        "2",
        "--canary-watch",
        "30s",
    )
    assert code == 4
    assert "canary" in err


def test_canary_flags_become_the_backend_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from ctrlplane.cli.context import CliState
    from ctrlplane.cli.deploy_cmd import canary_settings

    state = CliState(provider_name="docker")
    canary_settings(state, 3, 45.0)
    provider = state.provider()
    assert provider.config.canary_units == 3  # type: ignore[attr-defined]
    assert provider.config.canary_observation.total_seconds() == 45  # type: ignore[attr-defined]


def test_durations_are_accepted_and_checked(
    capsys: pytest.CaptureFixture[str], provider: Listing, shop: Path
) -> None:
    assert run_cli(capsys, provider, "stop", "shop", "--timeout", "1m30s")[0] == 0
    assert run_cli(capsys, provider, "start", "shop", "--timeout", "90")[0] == 0
    code, _, err = run_cli(capsys, provider, "stop", "shop", "--timeout", "soon")
    assert code == 2
    assert "'soon' is not a duration" in err


def test_progress_of_scale_stop_and_start(
    capsys: pytest.CaptureFixture[str], provider: Listing, shop: Path
) -> None:
    code, _, err = run_cli(capsys, provider, "scale", "shop", "--replicas", "2")
    assert code == 0
    assert "- scale replicas 2..." in err
    assert re.search(r"- scale: done \(\d+\.\ds\)", err)
    _, _, err = run_cli(capsys, provider, "stop", "shop")
    assert re.search(r"- stop: done", err)


# -- a failed deploy: reason once, probe evidence, the new unit's logs, redacted -------------


def test_a_failed_deploy_shows_its_reason_once_with_evidence_and_logs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fake_cli import run_with_secrets

    monkeypatch.setenv("CTRLPLANE_SECRET_TOKEN", "tok-s3cr3t-9876")
    backend = FakeBackend()
    spec = tmp_path / "app.yaml"
    spec.write_text(
        APP.replace("env: {GREETING: hello}", "env: {GREETING: hello}\n    secrets: [{key: token}]")
    )
    assert run_with_secrets(capsys, backend, "up", "-f", str(spec))[0] == 0
    broken = APP.replace('command: ["true"]', 'command: ["false"]').replace(
        "env: {GREETING: hello}", "env: {GREETING: hello}\n    secrets: [{key: token}]"
    )
    spec.write_text(broken)
    code, out, err = run_with_secrets(capsys, backend, "up", "-f", str(spec))
    assert code == 7, err
    assert "tok-s3cr3t-9876" not in out + err
    error = err[err.index("error: ") :]
    assert error.count("exit code 1") <= 2
    assert "failing probe: exec false of web[0]" in error
    assert "last log lines of web[0] (new release):" in error
    assert "web up [redacted]" in error
