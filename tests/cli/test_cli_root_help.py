"""``ctrlplane --help`` is printed without importing click (issue 16, start-up), and is
the page click itself lays out, at every terminal width."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("ctrlplane"))
CLICK_PAGE = "from ctrlplane.cli.root import cli; cli(['--help'], prog_name='ctrlplane')"


def run(argv: list[str], columns: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRLPLANE_")}
    env["COLUMNS"] = str(columns)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=True)
    assert done.stderr == ""
    return done.stdout


@pytest.mark.parametrize("columns", [20, 52, 66, 79, 80, 81, 200])
def test_the_help_page_is_the_one_click_lays_out(columns: int) -> None:
    click_page = run([sys.executable, "-c", CLICK_PAGE], columns)
    assert "Commands:" in click_page
    assert "--secrets-env-prefix" in click_page
    for flag in ("--help", "-h"):
        assert run([EXE, flag], columns) == click_page, flag


def test_the_help_page_imports_no_click() -> None:
    probe = (
        "import json, sys\n"
        "from ctrlplane.cli.main import main\n"
        "main(sys.argv[1:])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'click')),"
        " file=sys.stderr)\n"
    )
    for args, expect_click in ((["--help"], False), (["ls", "--help"], True)):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60
        )
        assert "Usage: ctrlplane" in done.stdout
        loaded = json.loads(done.stderr.splitlines()[-1]) if done.returncode == 0 else ["exit"]
        assert bool(loaded) is expect_click, (args, loaded, done.stderr[-500:])
