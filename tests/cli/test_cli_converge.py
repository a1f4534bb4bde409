"""``up -f`` converges like ``kubectl apply``; ``plan`` shows the same diff; secrets come
from the CLI's sources. Driven through the real entry point on the fake provider."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fake_cli import Listing, run_cli, run_with_secrets

from ctrlplane.testing import FakeBackend, FakeProvider

pytestmark = pytest.mark.usefixtures("isolated_config")

APP = """\
name: shop
services:
  - name: web
    image: example/web:1
    command: ["sh", "-c", "echo web started $GREETING; sleep infinity"]
    env: {{GREETING: {greeting}, MODE: prod}}
    resources: {{replicas: {replicas}}}
    ports: [{{container: 8080}}]
    health_check: {{command: ["true"], interval: 0.1, timeout: 0.1, retries: 3}}
"""


def write(
    path: Path, greeting: str = "hello", replicas: int = 1, image: str = "example/web:1"
) -> Path:
    path.write_text(
        APP.format(greeting=greeting, replicas=replicas).replace("example/web:1", image)
    )
    return path


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return write(tmp_path / "app.yaml")


@pytest.fixture
def provider(fake: FakeProvider) -> Listing:
    return Listing(fake)


def live(fake: FakeProvider) -> object:
    (iid,) = fake.backend.instances
    history = asyncio.run(fake.releases(iid))
    return next(r for r in history if r.live)


def test_up_again_with_an_edited_file_deploys_and_scales_what_changed(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Listing, app: Path
) -> None:
    code, _, err = run_cli(capsys, provider, "up", "-f", str(app))
    assert code == 0, err
    (iid,) = fake.backend.instances

    code, out, err = run_cli(capsys, provider, "up", "-f", str(app))
    assert code == 0, err
    assert "unchanged: the instance matches the file" in out
    assert len(asyncio.run(fake.releases(iid))) == 1  # nothing deployed

    write(app, greeting="bonjour", replicas=3, image="example/web:2")
    code, out, err = run_cli(capsys, provider, "up", "-f", str(app))
    assert code == 0, err
    assert list(fake.backend.instances) == [iid]  # the same instance converged
    deployed = next(line for line in out.splitlines() if line.startswith("deployed rel_"))
    assert "(rolling): web: image example/web:1 -> example/web:2, env ~GREETING" in deployed
    assert "replicas" not in deployed  # a deploy does not scale: said once, below
    assert "scaled web: replicas 1 -> 3" in out
    release = live(fake)
    web = release.service("web")  # type: ignore[attr-defined]
    assert web.image == "example/web:2"
    assert web.env["GREETING"] == "bonjour"
    assert len(fake.backend.instances[iid].units) == 3

    write(app, greeting="bonjour", replicas=1, image="example/web:2")
    code, out, err = run_cli(capsys, provider, "-o", "json", "up", "-f", str(app))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["action"] == "converged"
    assert doc["changes"]["scale"]["replicas"] == 1
    assert len(fake.backend.instances[iid].units) == 1


def test_up_with_a_strategy_uses_it(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Listing, app: Path
) -> None:
    assert run_cli(capsys, provider, "up", "-f", str(app))[0] == 0
    write(app, greeting="hi")
    code, out, err = run_cli(capsys, provider, "up", "-f", str(app), "--strategy", "blue-green")
    assert code == 0, err
    assert "(blue-green): web: env ~GREETING" in out
    assert live(fake).strategy == "blue-green"  # type: ignore[attr-defined]


def test_up_refuses_what_needs_recreating_and_recreate_applies_it(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Listing, app: Path
) -> None:
    assert run_cli(capsys, provider, "up", "-f", str(app))[0] == 0
    (iid,) = fake.backend.instances
    app.write_text(
        app.read_text()
        .replace("container: 8080", "container: 9090")
        .replace("echo web started", "echo web now")
    )
    code, out, err = run_cli(capsys, provider, "up", "-f", str(app))
    assert code == 2, err
    assert out == ""
    assert f"up -f {app} cannot apply 2 difference(s)" in err
    assert "web.ports: 8080/tcp (live) -> 9090/tcp: a deploy cannot change ports" in err
    assert "web.command:" in err
    assert f"ctrlplane up -f {app} --recreate" in err
    assert len(asyncio.run(fake.releases(iid))) == 1  # nothing changed

    code, out, _ = run_cli(capsys, provider, "plan", "-f", str(app))
    assert code == 2
    assert "  web: NOT DEPLOYABLE: web.ports: 8080/tcp (live) -> 9090/tcp" in out

    code, out, err = run_cli(capsys, provider, "up", "-f", str(app), "--recreate")
    assert code == 0, err
    assert list(fake.backend.instances) == [iid]  # the same ID, provisioned again
    assert "re-created: web.command" in out
    assert "web.ports: 8080/tcp (live) -> 9090/tcp" in out
    spec = live(fake).specs[0]  # type: ignore[attr-defined]
    assert [p.container for p in spec.ports] == [9090]


def test_plan_shows_what_up_would_do(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Listing, app: Path
) -> None:
    assert run_cli(capsys, provider, "up", "-f", str(app))[0] == 0
    code, out, _ = run_cli(capsys, provider, "plan", "-f", str(app))
    assert code == 0
    assert "no changes" in out
    write(app, greeting="hey", replicas=2)
    code, out, _ = run_cli(capsys, provider, "plan", "-f", str(app), "shop")
    assert code == 0
    assert "-env GREETING=hello" in out
    assert "+env GREETING=hey" in out
    assert "  web: scale replicas 1 -> 2" in out
    code, out, _ = run_cli(capsys, provider, "plan", "-f", str(app), "-o", "json")
    doc = json.loads(out)
    (web,) = doc["services"]
    assert web["env"]["changed"] == {"GREETING": ["hello", "hey"]}
    assert web["scale"] == {"replicas": [1, 2]}
    assert doc["not_compared"] == {}
    assert len(fake.backend.instances[next(iter(fake.backend.instances))].units) == 1


def test_deploy_file_refuses_a_replica_change(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Listing, app: Path
) -> None:
    assert run_cli(capsys, provider, "up", "-f", str(app))[0] == 0
    write(app, replicas=2)
    code, _, err = run_cli(capsys, provider, "deploy", "shop", "-f", str(app))
    assert code == 2
    assert "web.resources.replicas: 1 (live) -> 2: a deploy does not scale" in err


# -- secrets -------------------------------------------------------------------------

SECRET_APP = """\
name: vault
services:
  - name: web
    image: example/web:1
    command: ["sh", "-c", "sleep infinity"]
    secrets:
      - {key: db/password, type: env}
      - {key: tls/cert, type: file, target: /etc/tls/cert.pem}
"""


@pytest.mark.parametrize("source", ["dotenv", "dir", "env", "toml"])
def test_up_resolves_env_and_file_secrets_from_the_cli_sources(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    backend = FakeBackend()
    spec = tmp_path / "app.yaml"
    spec.write_text(SECRET_APP)
    flags: list[str] = []
    if source == "dotenv":
        (tmp_path / "prod.env").write_text('DB_PASSWORD=s3cr3t-pw\ntls/cert="CERT-DATA"\n')
        flags = ["--secrets-file", str(tmp_path / "prod.env")]
    elif source == "dir":
        (tmp_path / "sec" / "db").mkdir(parents=True)
        (tmp_path / "sec" / "tls").mkdir()
        (tmp_path / "sec" / "db" / "password").write_text("s3cr3t-pw")
        (tmp_path / "sec" / "tls" / "cert").write_text("CERT-DATA")
        flags = ["--secrets-dir", str(tmp_path / "sec")]
    elif source == "env":
        monkeypatch.setenv("APP_SECRET_DB_PASSWORD", "s3cr3t-pw")
        monkeypatch.setenv("APP_SECRET_TLS_CERT", "CERT-DATA")
        flags = ["--secrets-env-prefix", "APP_SECRET_"]
    else:
        (tmp_path / "ctrlplane.toml").write_text('[secrets]\ndotenv = "prod.env"\n')
        (tmp_path / "prod.env").write_text("DB_PASSWORD=s3cr3t-pw\nTLS_CERT=CERT-DATA\n")
    code, out, err = run_with_secrets(capsys, backend, "up", "-f", str(spec), *flags)
    assert code == 0, err
    assert "s3cr3t-pw" not in out + err
    (record,) = backend.instances.values()
    container = record.units[0].containers["web"]
    assert container.env["DB_PASSWORD"] == "s3cr3t-pw"
    assert container.files.read("/etc/tls/cert.pem") == b"CERT-DATA"


def test_a_missing_secret_names_every_place_looked_in(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "app.yaml"
    spec.write_text(SECRET_APP)
    (tmp_path / "prod.env").write_text("OTHER=1\n")
    code, _, err = run_with_secrets(
        capsys, FakeBackend(), "up", "-f", str(spec), "--secrets-file", str(tmp_path / "prod.env")
    )
    assert code == 1
    assert "secret 'db/password' not found" in err
    assert "prod.env" in err
    assert "$CTRLPLANE_SECRET_DB_PASSWORD" in err


def test_a_secrets_file_that_does_not_exist_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "app.yaml"
    spec.write_text(SECRET_APP)
    code, _, err = run_with_secrets(
        capsys, FakeBackend(), "up", "-f", str(spec), "--secrets-file", str(tmp_path / "nope")
    )
    assert code == 2
    assert "does not exist" in err
