"""BusyboxServices: the builders real backends use, run here on the host's busybox."""

from __future__ import annotations

import pathlib
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from ctrlplane.provider import ProvisionRequest, ServiceRole
from ctrlplane.provider.validation import validate_request
from ctrlplane.testing.conformance import BusyboxServices

BUSYBOX = shutil.which("busybox")
needs_busybox = pytest.mark.skipif(BUSYBOX is None, reason="busybox is not installed")


class Services(BusyboxServices):
    log_tick = 0.05


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _script(spec_command: list[str]) -> str:
    assert spec_command[:2] == ["sh", "-c"]
    return spec_command[2]


def test_builders_make_valid_specs() -> None:
    b = Services()
    req = ProvisionRequest(
        instance_id="inst_01h455vb4pex5vsknk084sn02q",
        services=[
            b.http_service("web", port=8080, env={"MESSAGE": "hi"}, version=2),
            b.log_service("logs", lines=["a"], tick=True).model_copy(
                update={"role": ServiceRole.SIDECAR}
            ),
            b.exit_service("job", code=0).model_copy(update={"role": ServiceRole.INIT}),
            b.idle_service("idle").model_copy(update={"role": ServiceRole.SIDECAR}),
        ],
    )
    validate_request(req)
    assert req.services[0].image == "ctrlplane-conformance/busybox:2"
    assert [p.container for p in req.services[0].ports] == [8080]


@needs_busybox
def test_log_and_exit_scripts_print_and_exit() -> None:
    b = Services()
    spec = b.log_service("logs", lines=["it's one", "two"], stderr_lines=["err"], tick=True)
    proc = subprocess.Popen(
        [str(BUSYBOX), "sh", "-c", _script(spec.command)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=5)
    lines = out.decode().splitlines()
    assert lines[:3] == ["it's one", "two", "tick 1"]
    assert err == b"err\n"
    assert proc.returncode == 0
    job = b.exit_service("job", code=3, lines=["bye"])
    done = subprocess.run(
        [str(BUSYBOX), "sh", "-c", _script(job.command)], capture_output=True, timeout=5
    )
    assert (done.returncode, done.stdout) == (3, b"bye\n")


@needs_busybox
@pytest.mark.parametrize(("healthy", "expect"), [("1", 200), ("0", 404)])
def test_http_script_serves_message_and_health(
    tmp_path: pathlib.Path, healthy: str, expect: int
) -> None:
    port = _free_port()
    services = Services()
    services.www_root = str(tmp_path / "www")  # the host's /tmp is shared by the workers
    spec = services.http_service("web", port=port)
    env = {"MESSAGE": "hello there", "HEALTHY": healthy, "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([str(BUSYBOX), "sh", "-c", _script(spec.command)], env=env)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as resp:
                    assert resp.read() == b"hello there"
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == expect
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
