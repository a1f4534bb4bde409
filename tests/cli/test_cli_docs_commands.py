"""Every ``ctrlplane`` command a reader copies from the quick starts runs.

The commands of the bash blocks of README.md's "Quick start" and of docs/quickstart.md
(up to its cluster section, which needs a cluster) run in the order written, in a
project holding the repository's examples and the secret sources the docs name, against
one fake engine standing for the local Docker engine (built, as the built-in backends
are, with the CLI's secret resolver). ``deploy --detach`` and ``rollout
status`` start a second process, which cannot reach an in-memory fake: they are run end
to end by tests/cli/test_cli_detach.py (fake Kubernetes API server) and
tests/docker/test_cli_converge_and_compose.py (real engine) instead.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from fake_cli import run_with_secrets

from ctrlplane.testing import FakeBackend, FakeImage
from ctrlplane.testing.images import serve_files

pytestmark = pytest.mark.usefixtures("isolated_config")
ROOT = Path(__file__).resolve().parents[2]

APP = """\
name: app
services:
  - name: web
    image: ctrlplane-example/busybox:latest
    command: ["sh", "-c", "sleep infinity"]
    secrets: [{key: db/password, type: env}]
"""
"""The ``app.yaml`` of the quick start's secrets section."""

RUN_ELSEWHERE = ("--detach", "rollout status")


def _section(text: str, start: str, stop: str | None) -> str:
    begin = text.index(start)
    end = text.index(stop, begin + len(start)) if stop else len(text)
    return text[begin:end]


def _commands(text: str) -> list[str]:
    """The ``ctrlplane`` commands of the bash blocks of ``text``: comments dropped, ``&&``
    chains split, ``eval "$(...)"`` unwrapped; other programs (pip) left out."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            code = line.split(" #", 1)[0].strip()
            for part in code.split("&&"):
                part = part.strip()
                if part.startswith("eval "):
                    part = shlex.split(part)[1].strip("$()")
                words = shlex.split(part)
                while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                    words = words[1:]
                if words and words[0] == "ctrlplane":
                    found.append(part)
    return found


def _documented() -> list[tuple[str, str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    return [
        *(("README.md", c) for c in _commands(_section(readme, "## Quick start", "## "))),
        *(
            ("docs/quickstart.md", c)
            for c in _commands(_section(quickstart, "## 1. Install", "## 7. Use a cluster"))
        ),
    ]


def test_the_quick_starts_name_the_commands_a_user_reaches_for() -> None:
    commands = " ".join(c for _, c in _documented())
    for needed in ("up -f", "logs", "exec", "deploy", "rollback", "--to 1", "--secrets-file"):
        assert needed in commands


def test_every_quick_start_command_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "app.yaml").write_text(APP)
    (tmp_path / ".env.secrets").write_text("db/password=from-dotenv\n")
    (tmp_path / "secrets" / "db").mkdir(parents=True)
    (tmp_path / "secrets" / "db" / "password").write_text("from-dir")
    busybox = FakeImage("ctrlplane-example/busybox:latest", http=serve_files("/www"))
    backend = FakeBackend([busybox])  # each command builds its fake with the CLI's resolver
    ran = 0
    for doc, command in _documented():
        if any(flag in command for flag in RUN_ELSEWHERE):
            continue
        words = shlex.split(command)
        with monkeypatch.context() as env:
            while re.fullmatch(r"[A-Z_]+=.*", words[0]):
                name, _, value = words.pop(0).partition("=")
                env.setenv(name, value)
            args = words[1:]
            if "--watch" in args:
                args.append("--count=1")  # a watch ends with Ctrl-C
            code, out, err = run_with_secrets(capsys, backend, *args)
        allowed = {0, 5} if args == ["doctor"] else {0}  # doctor: this machine's backends
        assert code in allowed, f"{doc}: {command}: exit {code}\n{out}\n{err}"
        ran += 1
    assert ran >= 20
