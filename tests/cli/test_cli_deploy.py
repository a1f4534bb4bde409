"""``up`` with an ambiguous name, ``deploy`` (-f refusals, env merging), ``plan`` marks,
exit code 8, Ctrl-C during ``rollback``, and what ``exec -i/-t`` do: through the real
CLI entry point (``main``) with a :class:`~ctrlplane.testing.FakeProvider` as ``fake``."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fake_cli import IID, run_cli

from ctrlplane.cli import progress
from ctrlplane.cli.main import EXIT_CODE_MEANINGS, exit_code_for
from ctrlplane.errors import DeployFailed
from ctrlplane.provider import (
    DeployRequest,
    DeployResult,
    InstanceStatus,
    InstanceSummary,
    Release,
    ReleaseHistory,
)
from ctrlplane.provider.events import Subscriber
from ctrlplane.testing import FakeProvider
from ctrlplane.workload import parse_workload, read_workload_data

pytestmark = pytest.mark.usefixtures("isolated_config")
DOCS = Path(__file__).resolve().parents[2] / "docs"

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
    command: ["sh", "-c", "sleep infinity"]
    env: {GREETING: hello, MODE: prod}
    ports: [{container: 8080}]
    health_check: {command: ["true"], interval: 0.1, timeout: 0.1, retries: 3}
"""


@pytest.fixture
def workload(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(WORKLOAD)
    return path


def up(capsys: pytest.CaptureFixture[str], provider: object, file: Path) -> None:
    code, _, err = run_cli(
        capsys, provider, "-o", "json", "up", "-f", str(file), "--instance-id", IID
    )
    assert code == 0, err


def history(fake: FakeProvider) -> list[Release]:
    return asyncio.run(fake.releases(IID))


def live_env(fake: FakeProvider, service: str = "web") -> dict[str, str]:
    live = next(r for r in history(fake) if r.live)
    return dict(live.service(service).env)


class Wrapped:
    """A provider delegating to a fake, with some methods added, replaced or hidden.

    It lists instances (``FakeProvider`` has no ``list_instances``), so workload names
    resolve as on the real backends.
    """

    hidden: frozenset[str] = frozenset()

    def __init__(self, inner: FakeProvider) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in self.hidden:
            raise AttributeError(name)
        return getattr(self._inner, name)

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        return [
            InstanceSummary(
                instance_id=r.instance_id,
                tenant_id=r.tenant_id,
                name=r.name,
                state=r.state,
                release_id=next((x.release_id for x in r.releases if x.live), ""),
            )
            for r in self._inner.backend.instances.values()
            if tenant_id is None or r.tenant_id == tenant_id
        ]


@pytest.fixture
def provider(fake: FakeProvider) -> Wrapped:
    return Wrapped(fake)


# -- 1. up with an ambiguous workload name ---------------------------------------------


def test_up_refuses_an_ambiguous_name_instead_of_adding_a_duplicate(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Wrapped, workload: Path
) -> None:
    ids = []
    for _ in range(2):
        req = parse_workload(read_workload_data(workload), source="test")
        asyncio.run(fake.provision(req))
        ids.append(req.instance_id)
    code, out, err = run_cli(capsys, provider, "up", "-f", str(workload))
    assert code == 2, err
    assert out == ""
    assert "'web-app' matches 2 instances" in err
    assert all(i in err for i in ids)
    assert len(asyncio.run(provider.list_instances())) == 2  # nothing was added


# -- 2. deploy -f and plan: what a deploy cannot apply -------------------------------------


CHANGED_SHAPE = """\
name: web-app
services:
  - name: web
    image: example/app:2
    command: ["sh", "-c", "sleep infinity"]
    env: {GREETING: hello, MODE: prod}
    ports: [{container: 9090}]
  - name: cache
    role: sidecar
    image: example/cache:1
"""


def test_deploy_file_refuses_what_a_deploy_cannot_apply(
    capsys: pytest.CaptureFixture[str],
    fake: FakeProvider,
    provider: Wrapped,
    workload: Path,
    tmp_path: Path,
) -> None:
    up(capsys, provider, workload)
    changed = tmp_path / "changed.yaml"
    changed.write_text(CHANGED_SHAPE)
    code, out, err = run_cli(capsys, provider, "deploy", "web-app", "-f", str(changed))
    assert code == 2, err
    assert out == ""
    # Five: the recorded specs show web's depends_on changing too (prepare is gone).
    assert f"deploy -f {changed} cannot apply 5 difference(s)" in err
    assert 'web.depends_on: ["prepare"] (live) -> []' in err
    assert "cache: new service: a deploy cannot add a service" in err
    assert "prepare: not in" in err
    assert "cannot remove a service" in err
    assert "web.ports: 8080/tcp (live) -> 9090/tcp" in err
    assert "web.health_check: removed" in err
    assert f"ctrlplane down web-app && ctrlplane up -f {changed}" in err
    assert "ctrlplane scale web-app" in err
    assert len(history(fake)) == 1  # nothing was deployed (not even the new image)


def test_plan_marks_differences_a_deploy_cannot_apply(
    capsys: pytest.CaptureFixture[str],
    fake: FakeProvider,
    provider: Wrapped,
    workload: Path,
    tmp_path: Path,
) -> None:
    up(capsys, provider, workload)
    changed = tmp_path / "changed.yaml"
    changed.write_text(CHANGED_SHAPE)
    code, out, err = run_cli(capsys, provider, "plan", "-f", str(changed), "web-app")
    assert code == 2, err
    assert "+image: example/app:2" in out  # the deployable part is still shown
    assert "  cache: NOT DEPLOYABLE: cache: new service" in out
    assert "  prepare: NOT DEPLOYABLE: prepare: not in" in out
    assert "  web: NOT DEPLOYABLE: web.ports: 8080/tcp (live) -> 9090/tcp" in out
    assert "cannot apply 5 difference(s)" in err
    code, out, _ = run_cli(capsys, provider, "-o", "json", "plan", "-f", str(changed), "web-app")
    assert code == 2
    doc = json.loads(out)
    assert doc["deployable"] is False
    changes = {c["service"]: c for c in doc["services"]}
    assert changes["cache"]["change"] == "add"
    assert changes["prepare"]["change"] == "remove"
    assert [c["deployable"] for c in doc["services"]] == [False, False, False]


def test_deploy_file_applies_image_env_and_health_check_compared_with_the_whole_record(
    capsys: pytest.CaptureFixture[str],
    fake: FakeProvider,
    provider: Wrapped,
    workload: Path,
    tmp_path: Path,
) -> None:
    up(capsys, provider, workload)
    second = tmp_path / "second.yaml"
    second.write_text(
        WORKLOAD.replace(
            "image: example/app:1\n    depends_on", "image: example/app:2\n    depends_on"
        )
        .replace("GREETING: hello", "GREETING: hi")
        .replace("retries: 3", "retries: 4")
    )
    code, out, _ = run_cli(capsys, provider, "plan", "-f", str(second), "web-app")
    assert code == 0
    assert "1 service(s) would change: web" in out
    assert "NOT DEPLOYABLE" not in out
    # Releases record whole specs now: everything is compared, nothing is left out.
    assert "not compared" not in out
    code, out, err = run_cli(capsys, provider, "deploy", "web-app", "-f", str(second))
    assert code == 0, err
    assert "deployed rel_" in out
    assert "not compared" not in err
    web = next(r for r in history(fake) if r.live).service("web")
    assert web.image == "example/app:2"
    assert web.env == {"GREETING": "hi", "MODE": "prod"}
    assert web.health_check is not None
    assert web.health_check.retries == 4


def test_deploy_file_cannot_be_combined_with_service_options(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Wrapped, workload: Path
) -> None:
    up(capsys, provider, workload)
    code, _, err = run_cli(capsys, provider, "deploy", "web-app", "-f", str(workload), "-e", "A=1")
    assert code == 2
    assert "-f cannot be combined with --env" in err


# -- 3. deploy -e merges; --unset-env; --replace-env -------------------------------------


def test_deploy_env_merges_into_the_live_env(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Wrapped, workload: Path
) -> None:
    up(capsys, provider, workload)
    code, _, err = run_cli(
        capsys,
        provider,
        "deploy",
        "web-app",
        "-s",
        "web",
        "-e",
        "GREETING=hi",
        "--strategy",
        "blue-green",
    )
    assert code == 0, err
    assert live_env(fake) == {"GREETING": "hi", "MODE": "prod"}
    code, _, err = run_cli(
        capsys, provider, "deploy", "web-app", "-s", "web", "--unset-env", "MODE", "-e", "NEW=1"
    )
    assert code == 0, err
    assert live_env(fake) == {"GREETING": "hi", "NEW": "1"}
    code, _, err = run_cli(
        capsys, provider, "deploy", "web-app", "-s", "web", "--replace-env", "-e", "ONLY=1"
    )
    assert code == 0, err
    assert live_env(fake) == {"ONLY": "1"}
    assert next(r for r in history(fake) if r.live).service("web").image == "example/app:1"


def test_deploy_unset_env_of_a_missing_key_is_refused(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Wrapped, workload: Path
) -> None:
    up(capsys, provider, workload)
    code, _, err = run_cli(
        capsys, provider, "deploy", "web-app", "-s", "web", "--unset-env", "MODEE"
    )
    assert code == 2
    assert "'MODEE' is not set in the live env of 'web'" in err
    assert "GREETING, MODE" in err
    assert len(history(fake)) == 1
    code, _, err = run_cli(
        capsys, provider, "deploy", "web-app", "-s", "web", "--unset-env", "A", "--replace-env"
    )
    assert code == 2
    assert "exclude each other" in err


class NoHistory(Wrapped):
    hidden = frozenset({"releases"})


def test_deploy_env_without_a_release_history_refuses_to_merge(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Wrapped, workload: Path
) -> None:
    provider = NoHistory(fake)
    assert not isinstance(provider, ReleaseHistory)
    up(capsys, provider, workload)
    code, _, err = run_cli(capsys, provider, "deploy", IID, "-s", "web", "-e", "GREETING=hi")
    assert code == 4
    assert "cannot be kept or merged" in err
    assert "--replace-env" in err
    # an image-only deploy would drop the live env: refused the same way
    before = live_env(fake)
    code, _, err = run_cli(capsys, provider, "deploy", IID, "-s", "web", "--image", "example/app:1")
    assert code == 4
    assert "--replace-env" in err
    assert live_env(fake) == before
    code, _, err = run_cli(capsys, provider, "deploy", IID, "--replace-env", "-e", "GREETING=hi")
    assert code == 2
    assert "give --service and --image" in err
    code, _, err = run_cli(
        capsys,
        provider,
        "deploy",
        IID,
        "-s",
        "web",
        "--image",
        "example/app:1",
        "--replace-env",
        "-e",
        "GREETING=hi",
    )
    assert code == 0, err
    assert live_env(fake) == {"GREETING": "hi"}


# -- 4. exit code 8: the previous release could not be restored -----------------------


class FailingDeploy(Wrapped):
    restored = True

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        raise DeployFailed(
            req.instance_id,
            strategy=str(req.strategy),
            step="gate",
            reason="probe failed",
            rolled_back=self.restored,
        )


class UnrestoredDeploy(FailingDeploy):
    restored = False


@pytest.mark.parametrize(("kind", "code"), [(FailingDeploy, 7), (UnrestoredDeploy, 8)])
def test_a_deploy_that_could_not_restore_is_exit_8(
    capsys: pytest.CaptureFixture[str],
    fake: FakeProvider,
    provider: Wrapped,
    workload: Path,
    kind: type[FailingDeploy],
    code: int,
) -> None:
    up(capsys, provider, workload)
    got, _, err = run_cli(capsys, kind(fake), "deploy", IID, "-s", "web", "-e", "A=1")
    assert got == code, err
    assert err.startswith("error: rolling deploy of")


def test_exit_code_of_deploy_failed_follows_rolled_back() -> None:
    failed = DeployFailed("i", strategy="rolling", step="gate", reason="x", rolled_back=False)
    assert exit_code_for(failed) == 8
    assert exit_code_for(DeployFailed("i", strategy="rolling", step="gate", reason="x")) == 7


def test_exit_codes_are_documented_alike_everywhere() -> None:
    documented = dict(EXIT_CODE_MEANINGS)
    assert "could NOT be restored" in documented[8]
    guide = (DOCS / "cli.md").read_text()
    table = guide[guide.index("## Exit codes") :]
    assert [int(c) for c in re.findall(r"^\| (\d+) \|", table, re.M)] == list(documented)
    reference = (DOCS / "cli-reference.md").read_text()
    assert "| 8 | deploy or rollback failed and the previous release could NOT be restored" in (
        reference
    )
    import ctrlplane.cli.main as entry

    assert entry.__doc__ is not None
    assert [int(c) for c in re.findall(r"^(\d+) ", entry.__doc__, re.M)] == list(documented)


# -- 5. Ctrl-C during rollback; bounded state check -------------------------------------


class InterruptedRollback(Wrapped):
    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        raise KeyboardInterrupt


class HangingStatus(InterruptedRollback):
    async def status(self, instance_id: str) -> InstanceStatus:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


def test_ctrl_c_during_rollback_says_what_was_left(
    capsys: pytest.CaptureFixture[str], fake: FakeProvider, provider: Wrapped, workload: Path
) -> None:
    up(capsys, provider, workload)
    assert run_cli(capsys, provider, "deploy", IID, "-s", "web", "-e", "A=1")[0] == 0
    live = next(r for r in history(fake) if r.live)
    code, out, err = run_cli(capsys, InterruptedRollback(fake), "rollback", IID)
    assert code == 130
    assert out == ""
    assert f"interrupted; cleanup ran; instance {IID} is running" in err
    assert f"running release {live.release_id}" in err


def test_the_state_check_after_ctrl_c_is_bounded(
    capsys: pytest.CaptureFixture[str],
    fake: FakeProvider,
    provider: Wrapped,
    workload: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    up(capsys, provider, workload)
    assert run_cli(capsys, provider, "deploy", IID, "-s", "web", "-e", "A=1")[0] == 0
    monkeypatch.setattr(progress, "STATE_TIMEOUT", 0.2)
    code, _, err = run_cli(capsys, HangingStatus(fake), "rollback", IID)
    assert code == 130
    assert f"state of instance {IID} unknown: the backend did not answer within 0.2s" in err


# -- 6. exec -i / -t say what they do ----------------------------------------------------


def test_exec_help_describes_the_interactive_session(
    capsys: pytest.CaptureFixture[str],
    fake: FakeProvider,
    provider: Wrapped,
) -> None:
    code, out, _ = run_cli(capsys, provider, "exec", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "Forward standard input to the command as it comes" in text
    assert "with -i on a terminal, the local one goes raw" in text
    assert "With -it it is an interactive session" in text
    guide = " ".join((DOCS / "cli.md").read_text().split())
    assert "`-it` is an interactive session" in guide
    assert "the terminal is restored however the session ends" in guide


def test_exec_interactive_sends_all_of_stdin(
    capsys: pytest.CaptureFixture[str],
    fake: FakeProvider,
    provider: Wrapped,
    workload: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    up(capsys, provider, workload)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"line 1\nline 2\n")))
    code, out, err = run_cli(capsys, provider, "exec", "-i", IID, "-s", "web", "--", "cat")
    assert code == 0, err
    assert out == "line 1\nline 2\n"
    assert err == ""  # not a terminal: no hint
