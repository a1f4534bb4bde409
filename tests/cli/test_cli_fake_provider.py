"""``up`` with live progress and ``status --watch``, driven through the real CLI entry point
(``main``) with a :class:`~ctrlplane.testing.FakeProvider` registered as ``fake``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_cli import IID, run_cli

from ctrlplane.provider import ProvisionRequest, ProvisionResult
from ctrlplane.testing import FakeProvider

pytestmark = pytest.mark.usefixtures("isolated_config")

WORKLOAD = """\
name: web-app
services:
  - name: prepare
    role: init
    image: example/app:1
    command: ["sh", "-c", "echo ready"]
  - name: web
    image: example/app:1
    depends_on: [prepare]
    ports: [{container: 8080}]
"""


@pytest.fixture
def workload(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(WORKLOAD)
    return path


def test_up_shows_live_progress_then_status(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, workload: Path
) -> None:
    code, out, err = run_cli(capsys, fake, "up", "-f", str(workload), "--instance-id", IID)
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0] == f"provisioning web-app as {IID} on fake..."
    assert "- pull..." in lines
    assert "- pull: done" in lines
    started_units = [line.split(" (")[0] for line in lines if line.startswith("  started ")]
    assert started_units == ["  started prepare[0]", "  started web[0]"], err
    # The init's unit starts inside the init step, the main's inside the start step.
    init = lines[lines.index("- init...") : lines.index("- init: done")]
    assert any(line.startswith("  started prepare[0] (rel_") for line in init), err
    start = lines[lines.index("- start...") : lines.index("- start: done")]
    assert any(line.startswith("  started web[0] (rel_") for line in start), err
    # Steps come in pairs and in order: each started step finishes before the next.
    steps = [line for line in lines if line.startswith("- ")]
    started = [s.removesuffix("...") for s in steps if s.endswith("...")]
    finished = [s.removesuffix(": done") for s in steps if s.endswith(": done")]
    assert started == finished
    assert started[0] == "- pull"
    assert f"instance {IID} (web-app)" in out
    assert "state running" in out


def test_up_json_prints_one_document_and_no_progress(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, workload: Path
) -> None:
    code, out, err = run_cli(
        capsys, fake, "-o", "json", "up", "-f", str(workload), "--instance-id", IID
    )
    assert code == 0
    assert err == ""
    doc = json.loads(out)
    assert doc["instance_id"] == IID
    assert doc["status"]["state"] == "running"


def test_up_failure_shows_the_failed_step(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(WORKLOAD.replace('echo ready"', 'echo broken; exit 3"'))
    code, _, err = run_cli(capsys, fake, "up", "-f", str(bad), "--instance-id", IID)
    assert code == 1
    lines = err.splitlines()
    # The reason is said once, by the error line (the step line says only FAILED).
    assert "- init: FAILED" in lines, err
    assert lines[-1].startswith("error: ")
    assert "init" in lines[-1]
    assert err.count("exited with code 3") == 1


class OldProvider:
    """A third-party provider written before ``provision`` took ``events``."""

    def __init__(self, inner: FakeProvider) -> None:
        self._inner = inner

    async def provision(self, req: ProvisionRequest) -> ProvisionResult:
        return await self._inner.provision(req)

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_up_with_a_provider_that_takes_no_events(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, workload: Path
) -> None:
    code, out, err = run_cli(
        capsys, OldProvider(fake), "up", "-f", str(workload), "--instance-id", IID
    )
    assert code == 0, err
    assert "- pull" not in err  # no progress, but it works
    assert "state running" in out


def test_status_watch_redraws_until_count(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, workload: Path
) -> None:
    assert (
        run_cli(capsys, fake, "-o", "json", "up", "-f", str(workload), "--instance-id", IID)[0] == 0
    )
    code, out, _ = run_cli(
        capsys, fake, "status", IID, "--watch", "--interval", "0.1", "--count", "3"
    )
    assert code == 0
    frames = out.split("\n\n" + "every ")
    assert out.count(f"every 0.1s: status {IID}") == 3
    assert len(frames) == 3
    assert all("state running" in frame for frame in frames)


def test_status_watch_json_is_one_object_per_line(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, workload: Path
) -> None:
    run_cli(capsys, fake, "-o", "json", "up", "-f", str(workload), "--instance-id", IID)
    code, out, err = run_cli(
        capsys, fake, "-o", "json", "status", IID, "-w", "--interval", "0.1", "--count", "2"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    for line in lines:
        doc = json.loads(line)
        assert doc["instance_id"] == IID
        assert doc["status"]["state"] == "running"


def test_status_watch_sees_changes(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, workload: Path
) -> None:
    run_cli(capsys, fake, "-o", "json", "up", "-f", str(workload), "--instance-id", IID)
    run_cli(capsys, fake, "stop", IID)
    code, out, _ = run_cli(capsys, fake, "-o", "json", "status", IID, "-w", "--count", "1")
    assert code == 0
    assert json.loads(out)["status"]["state"] == "stopped"


def test_status_watch_of_a_missing_instance_exits_3(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider
) -> None:
    code, out, err = run_cli(capsys, fake, "status", IID, "--watch", "--count", "2")
    assert code == 3
    assert out == ""
    assert err.startswith("error: ")
