"""The CLI commands that need no backend: --version, validate, providers, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ctrlplane import __version__
from ctrlplane.cli.main import exit_code_for, main
from ctrlplane.errors import (
    BackendUnavailable,
    CtrlplaneError,
    DeployFailed,
    InstanceNotFound,
    InvalidSpec,
    NotSupported,
    OperationTimeout,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run the installed console script, as an operator would."""
    exe = Path(sys.executable).with_name("ctrlplane")
    proc = subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=60, check=False
    )
    return proc.returncode, proc.stdout, proc.stderr


def call_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version_of_console_script() -> None:
    code, out, _ = run_cli("--version")
    assert code == 0
    assert __version__ in out


def test_examples_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(EXAMPLES) >= 2
    code, out, err = call_main(capsys, "validate", *[a for f in EXAMPLES for a in ("-f", str(f))])
    assert code == 0, err
    assert out.count("valid") == len(EXAMPLES)


def test_validate_reports_every_problem_with_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: broken\n"
        "services:\n"
        "  - {name: Web, image: x, depends_on: [db]}\n"
        "  - {name: a, image: x, depends_on: [b], role: sidecar}\n"
        "  - {name: b, image: x, depends_on: [a], role: sidecar}\n"
    )
    code, _, err = call_main(capsys, "validate", "-f", str(bad))
    assert code == 2
    assert "services[0].name" in err
    assert "services[0].depends_on[0]" in err
    assert "'db'" in err
    assert "dependency cycle: a -> b -> a" in err


def test_validate_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "services": []}))
    code, out, _ = call_main(
        capsys, "-o", "json", "validate", "-f", str(bad), "-f", str(EXAMPLES[0])
    )
    assert code == 2
    report = json.loads(out)
    assert report[0]["valid"] is False
    assert report[0]["problems"] == [
        {"path": "services", "message": "at least one service is required"}
    ]
    assert report[1]["valid"] is True


def test_validate_unreadable_and_malformed_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nservices: [\n")
    code, _, err = call_main(capsys, "validate", "-f", str(broken))
    assert code == 2
    assert "line" in err
    code, _, err = call_main(capsys, "validate", "-f", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "missing.yaml" in err


def test_providers_json_lists_names_and_capabilities(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call_main(capsys, "-o", "json", "providers")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)
    for row in rows:
        assert set(row) >= {"name", "default", "available", "capabilities"}


def test_unknown_provider_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call_main(capsys, "--provider", "nope", "status", "hello")
    assert code == 3
    assert err.startswith("error: ctrlplane: provider not registered: 'nope'")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidSpec("bad"), 2),
        (InstanceNotFound("inst_x"), 3),
        (NotSupported("p", "exec"), 4),
        (BackendUnavailable("down"), 5),
        (OperationTimeout("up", 1.0), 6),
        (DeployFailed("i", strategy="rolling", step="gate", reason="probe"), 7),
        (CtrlplaneError("other"), 1),
    ],
)
def test_exit_codes(error: CtrlplaneError, code: int) -> None:
    assert exit_code_for(error) == code


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"name: caf\xe9\nservices: []\n", "not UTF-8"),
        (b"name: x\nservices: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nests deeper"),
        (
            b"name: x\nservices:\n  - name: web\n    image: img\n"
            b"    health_check: {port: 80, interval: 9e999999}\n",
            "out of range",
        ),
    ],
)
def test_bad_files_are_one_line_and_exit_2_never_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    for command in ("validate", "render"):
        code, _, err = call_main(capsys, command, "-f", str(bad))
        assert code == 2, (command, err)
        assert expected in err, (command, err)
        assert "Traceback" not in err
