"""``ctrlplane.toml``: where it is found, what it selects, how it is checked, and that its
secrets never print. Runs the installed ``ctrlplane`` script; no backend answers (every
address is a closed port), so what is observed is the CLI's own output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("ctrlplane"))
TOKEN = "nomad-secret-token-4f9a"
CLOSED = "http://127.0.0.1:9"


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment with no ctrlplane variables and an empty user config directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRLPLANE_", "NOMAD_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    env["CTRLPLANE_DOCKER_DOCKER_HOST"] = "tcp://127.0.0.1:9"
    return env


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False
    )


def chosen(env: dict[str, str], cwd: Path, *args: str) -> str:
    proc = cli(env, cwd, *args, "-o", "json", "providers")
    assert proc.returncode == 0, proc.stderr
    [name] = [row["name"] for row in json.loads(proc.stdout) if row["default"]]
    return str(name)


def doctor(env: dict[str, str], cwd: Path, *args: str) -> dict[str, dict[str, object]]:
    proc = cli(env, cwd, *args, "-o", "json", "doctor")
    assert proc.returncode in (0, 5), proc.stderr
    return {e["name"]: e for e in json.loads(proc.stdout)}


TWO_NOMADS = f"""\
default = "eu"

[providers.eu]
type = "nomad"
address = "http://127.0.0.1:19"
token = "{TOKEN}"
request_timeout = "2s"

[providers.us]
type = "nomad"
address = "http://127.0.0.1:29"
request_timeout = 2
"""


# -- where the file is found ---------------------------------------------------------------


def test_project_file_is_found_from_a_subdirectory(home: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    (project / ".git").mkdir()
    (project / "ctrlplane.toml").write_text(TWO_NOMADS)
    assert chosen(home, deep) == "eu"
    providers = cli(home, deep, "providers").stdout
    assert f"config file: {project / 'ctrlplane.toml'}" in providers


def test_search_stops_at_the_repository_root(home: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "ctrlplane.toml").write_text('default = "nomad"\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    assert chosen(home, repo) == "docker"  # the file above the repository is not used
    assert chosen(home, tmp_path) == "nomad"


def test_user_config_directory(home: dict[str, str], tmp_path: Path) -> None:
    user = Path(home["XDG_CONFIG_HOME"]) / "ctrlplane"
    user.mkdir(parents=True)
    (user / "ctrlplane.toml").write_text('default = "nomad"\n')
    work = tmp_path / "work"
    (work / ".git").mkdir(parents=True)
    assert chosen(home, work) == "nomad"
    # A project file wins over the user's.
    (work / "ctrlplane.toml").write_text('default = "kubernetes"\n')
    assert chosen(home, work) == "kubernetes"


def test_explicit_config_file(home: dict[str, str], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text('default = "nomad"\n')
    (tmp_path / ".git").mkdir()
    assert chosen(home, tmp_path, "--config", str(elsewhere)) == "nomad"
    assert chosen({**home, "CTRLPLANE_CONFIG": str(elsewhere)}, tmp_path) == "nomad"
    missing = cli(home, tmp_path, "--config", str(tmp_path / "nope.toml"), "providers")
    assert missing.returncode == 2
    assert "nope.toml does not exist" in missing.stderr


# -- what selects the provider --------------------------------------------------------------


def test_precedence_flag_then_env_then_file_then_docker(
    home: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / ".git").mkdir()
    assert chosen(home, tmp_path) == "docker"
    (tmp_path / "ctrlplane.toml").write_text(TWO_NOMADS)
    assert chosen(home, tmp_path) == "eu"
    env = {**home, "CTRLPLANE_PROVIDER": "us"}
    assert chosen(env, tmp_path) == "us"
    assert chosen(env, tmp_path, "--provider", "nomad") == "nomad"


def test_several_named_providers_of_one_type(home: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "ctrlplane.toml").write_text(TWO_NOMADS)
    entries = doctor(home, tmp_path)
    assert entries["eu"]["type"] == entries["us"]["type"] == "nomad"
    assert entries["eu"]["chosen"] is True
    assert "127.0.0.1:19" in str(entries["eu"]["message"])
    assert "127.0.0.1:29" in str(entries["us"]["message"])
    assert str(entries["eu"]["source"]).endswith("ctrlplane.toml [providers.eu]")
    assert "its settings are in" in str(entries["eu"]["fix"])
    assert entries["nomad"]["source"] == "installed"  # the installed one is still there


def test_setting_precedence_env_then_file_then_native(home: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "ctrlplane.toml").write_text(TWO_NOMADS)
    # NOMAD_ADDR is shell-wide: a file that names an address wins over it...
    native = {**home, "NOMAD_ADDR": "http://127.0.0.1:39"}
    assert "127.0.0.1:19" in str(doctor(native, tmp_path)["eu"]["message"])
    # ...but it still fills what the file leaves out (the installed provider).
    assert "127.0.0.1:39" in str(doctor(native, tmp_path)["nomad"]["message"])
    # CTRLPLANE_NOMAD_* variables win over the file.
    own = {**home, "CTRLPLANE_NOMAD_ADDRESS": "http://127.0.0.1:49"}
    assert "127.0.0.1:49" in str(doctor(own, tmp_path)["eu"]["message"])


# -- how it is checked ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ('defualt = "x"\n', "defualt", "unknown key"),
        ("default = 3\n", "default", "must be a string"),
        ('[providers.k8s]\ntype = "kubernetes"\nnamspace = "x"\n', "providers.k8s.namspace",
         "did you mean 'namespace'?"),
        ('[providers.k8s]\ntype = "kubernetes"\nrelease_history = "many"\n',
         "providers.k8s.release_history", "valid integer"),
        ('[providers.k8s]\ntype = "kubernetes"\nnamespace = "Not_DNS"\n',
         "providers.k8s.namespace", "DNS-1123"),
        ('[providers.k8s]\ntype = "kubernets"\n', "providers.k8s.type",
         "unknown provider type 'kubernets'"),
        ('[providers.kubernetes]\ntype = "nomad"\n', "providers.kubernetes.type", "rename"),
        ('default = "k8s"\n', "default", "names no provider"),
        ("[providers.k8s\n", "", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_file_is_exit_2_naming_file_and_field(
    home: dict[str, str], tmp_path: Path, text: str, field: str, says: str
) -> None:
    (tmp_path / ".git").mkdir()
    path = tmp_path / "ctrlplane.toml"
    path.write_text(text)
    proc = cli(home, tmp_path, "--provider", "k8s" if "k8s" in text else "kubernetes", "ls")
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"error: invalid config file {path}: {field}")
    assert says in line


def test_a_bad_section_does_not_break_other_providers(home: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "ctrlplane.toml").write_text('[providers.k8s]\ntype = "kubernetes"\nnope = 1\n')
    ok = cli(home, tmp_path, "-o", "json", "providers")
    assert ok.returncode == 0
    rows = {r["name"]: r for r in json.loads(ok.stdout)}
    assert rows["k8s"]["available"] is False
    assert "providers.k8s.nope" in rows["k8s"]["error"]
    assert rows["docker"]["available"] is True
    bad = cli(home, tmp_path, "-p", "k8s", "doctor")
    assert bad.returncode == 2
    assert "k8s (chosen)  invalid config" in bad.stdout


# -- secrets never print ----------------------------------------------------------------------


def test_tokens_are_redacted_everywhere(home: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "ctrlplane.toml").write_text(
        TWO_NOMADS
        + '\n[providers.docker]\nregistry_auth = {"r.example:5000" = '
        + f'{{username = "u", password = "{TOKEN}"}}}}\n'
    )
    outputs = []
    for args in (
        ["providers"],
        ["-o", "json", "providers"],
        ["doctor"],
        ["-o", "json", "doctor"],
        ["-p", "eu", "ls"],
        ["-p", "eu", "--debug", "status", "nothing"],
    ):
        proc = cli(home, tmp_path, *args)
        outputs.append(proc.stdout + proc.stderr)
    assert all(TOKEN not in text for text in outputs)
    rows = {r["name"]: r for r in json.loads(outputs[1])}
    assert rows["eu"]["settings"]["token"] == "[redacted]"
    assert rows["eu"]["settings"]["address"] == "http://127.0.0.1:19"
    assert rows["docker"]["settings"]["registry_auth"] == "[redacted]"
    assert "token=[redacted]" in outputs[0]
    # A type error in a token names the field, never the value.
    (tmp_path / "ctrlplane.toml").write_text(
        f'[providers.eu]\ntype = "nomad"\ntoken = ["{TOKEN}"]\n'
    )
    proc = cli(home, tmp_path, "-p", "eu", "ls")
    assert proc.returncode == 2
    assert "providers.eu.token" in proc.stderr
    assert TOKEN not in proc.stderr
