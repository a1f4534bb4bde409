"""Shell completion, the generated CLI reference, ``--help`` examples and a fast start-up
(no backend client imported by commands that do not need one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from ctrlplane.cli.main import cli as root
from ctrlplane.cli.reference import reference_markdown

EXE = str(Path(sys.executable).with_name("ctrlplane"))
ROOT = Path(__file__).resolve().parents[2]
BACKEND_CLIENTS = {"aiodocker", "aiohttp", "lightkube", "httpx", "httpx_ws"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CTRLPLANE_", "NOMAD_"))}
    clean["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    return clean


def complete(env: dict[str, str], cwd: Path, words: str) -> list[str]:
    """What bash completion offers for the command line ``words`` (cursor at the end)."""
    parts = words.split(" ")
    proc = subprocess.run(
        [EXE],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=True,
        env={
            **env,
            "_CTRLPLANE_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
        },
    )
    return [line.split(",", 1)[1] for line in proc.stdout.splitlines()]


# -- completion ---------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script(env: dict[str, str], tmp_path: Path, shell: str) -> None:
    proc = subprocess.run(
        [EXE, "completion", shell], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "_CTRLPLANE_COMPLETE" in proc.stdout
    assert f"{shell}_complete" in proc.stdout


def test_completion_of_an_unknown_shell_is_a_usage_error(env: dict[str, str]) -> None:
    proc = subprocess.run(
        [EXE, "completion", "tcsh"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in proc.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_loads_the_script(env: dict[str, str]) -> None:
    env = {**env, "PATH": f"{Path(EXE).parent}{os.pathsep}{env.get('PATH', '')}"}
    proc = subprocess.run(
        ["bash", "-c", 'eval "$(ctrlplane completion bash)" && complete -p ctrlplane'],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ctrlplane" in proc.stdout


def test_commands_and_options_complete(env: dict[str, str], tmp_path: Path) -> None:
    assert {"start", "status", "stop"} <= set(complete(env, tmp_path, "ctrlplane st"))
    assert "--watch" in complete(env, tmp_path, "ctrlplane status x --w")
    assert complete(env, tmp_path, "ctrlplane completion ") == ["bash", "zsh", "fish"]


def test_provider_names_complete_from_entry_points_and_config(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / ".git").mkdir()
    assert complete(env, tmp_path, "ctrlplane --provider ") == [
        "docker",
        "fly",
        "kubernetes",
        "nomad",
    ]
    (tmp_path / "ctrlplane.toml").write_text(
        '[providers.staging]\ntype = "kubernetes"\n[providers.stage2]\ntype = "nomad"\n'
    )
    assert complete(env, tmp_path, "ctrlplane -p sta") == ["stage2", "staging"]
    # A broken file never breaks completion: the installed names still come.
    (tmp_path / "ctrlplane.toml").write_text("[providers.x\n")
    assert complete(env, tmp_path, "ctrlplane --provider d") == ["docker"]


# -- reference and help -------------------------------------------------------------------


def test_cli_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "cli-reference.md").read_text(encoding="utf-8")
    assert committed == reference_markdown(), (
        "docs/cli-reference.md is out of date; run: "
        "python -m ctrlplane.cli.reference > docs/cli-reference.md"
    )


def test_reference_check_mode(tmp_path: Path) -> None:
    stale = tmp_path / "ref.md"
    stale.write_text("# old\n")
    cmd = [sys.executable, "-m", "ctrlplane.cli.reference", "--check", str(stale)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "out of date" in proc.stderr
    stale.write_text(reference_markdown())
    assert subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def test_every_command_is_in_the_reference_with_an_example() -> None:
    text = reference_markdown()
    ctx = click.Context(root, info_name="ctrlplane")
    names = root.list_commands(ctx)
    # Every command issue 8 asks for, and completion.
    assert set(names) == {
        *("up", "down", "ls", "status", "start", "stop", "restart", "deploy", "releases"),
        *("rollback", "scale", "logs", "exec", "render", "plan", "validate", "providers"),
        *("doctor", "completion"),
    }
    for name in names:
        command = root.get_command(ctx, name)
        assert command is not None
        assert f"## `ctrlplane {name}`" in text
        assert "Example: ctrlplane " in (command.help or "") or "Example: eval" in (
            command.help or ""
        ), f"{name} --help has no example"


def test_help_of_every_command_shows_its_example(env: dict[str, str]) -> None:
    for name in ("status", "up", "completion", "providers"):
        proc = subprocess.run(
            [EXE, name, "--help"], capture_output=True, text=True, env=env, check=True
        )
        assert "Example:" in proc.stdout, name


# -- start-up stays fast ------------------------------------------------------------------

PROBE = """
import json, sys
from ctrlplane.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
names = {names!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in names)), file=sys.stderr)
"""


def imported_by(env: dict[str, str], cwd: Path, *args: str) -> list[str]:
    code = PROBE.format(names=BACKEND_CLIENTS)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=True,
    )
    return list(json.loads(proc.stderr.splitlines()[-1]))


def test_start_up_imports_no_backend_client(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "ctrlplane.toml").write_text(
        'default = "k8s"\n[providers.k8s]\ntype = "kubernetes"\n'
        '[providers.eu]\ntype = "nomad"\naddress = "http://127.0.0.1:9"\n'
    )
    example = str(ROOT / "examples" / "hello-web.yaml")
    assert imported_by(env, tmp_path, "--help") == []
    assert imported_by(env, tmp_path, "validate", "-f", example) == []
    assert imported_by(env, tmp_path, "completion", "bash") == []
    assert imported_by(env, tmp_path, "status", "--help") == []
    # A command imports only the backend it uses, even with others configured.
    used = imported_by(env, tmp_path, "-p", "eu", "render", "-f", example)
    assert "httpx" in used
    assert not [m for m in used if m.startswith(("lightkube", "aiodocker"))]
