"""The one redactor: secret values (and their encodings) never leave in a text."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime

import pytest

from ctrlplane.errors import DeployFailed, ProvisionFailed
from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.events import ProbeObserved, ProgressEvent, RolledBack, StepFinished
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.liblog import library_logger
from ctrlplane.provider.redaction import MASK, Redactor
from ctrlplane.provider.results import InstanceStatus, ServiceStatus

SECRET = b"hunter2-sentinel"


def _probe(observed: str) -> ProbeResult:
    return ProbeResult(
        service="web",
        kind="exec",
        target="sh -c env",
        attempt=1,
        healthy=False,
        observed=observed,
        at=datetime.now(UTC),
    )


def test_every_form_of_a_value_is_replaced() -> None:
    red = Redactor([SECRET, "line-one-secret\nline-two-secret\n"])
    b64 = base64.b64encode(SECRET).decode()
    text = f"raw {SECRET.decode()} b64 {b64} bare {b64.rstrip('=')} second line-two-secret"
    out = red.text(text)
    assert "hunter2" not in out
    assert b64.rstrip("=") not in out
    assert "line-two-secret" not in out
    assert out.count(MASK) == 4


def test_short_values_are_not_replaced() -> None:
    assert Redactor([b"ab"]).text("abcabc") == "abcabc"
    assert not Redactor([b"ab"])


async def test_events_errors_and_status_are_scrubbed() -> None:
    red = Redactor([SECRET])
    seen: list[ProgressEvent] = []
    sub = red.subscriber(seen.append)
    assert sub is not None
    await sub(StepFinished(instance_id="i", step="gate", ok=False, detail=f"saw {SECRET.decode()}"))
    await sub(ProbeObserved(instance_id="i", result=_probe(f"exit 1: {SECRET.decode()}")))
    await sub(RolledBack(instance_id="i", to_release="rel", reason=SECRET.decode()))
    assert "hunter2" not in "".join(e.model_dump_json() for e in seen)

    cause = RuntimeError(f"container said {SECRET.decode()}")
    err = DeployFailed(
        "i",
        strategy="canary",
        step="observe",
        reason=f"crashed: {SECRET.decode()}",
        evidence=[_probe(SECRET.decode())],
    )
    err.__cause__ = cause
    err.add_note(f"note {SECRET.decode()}")
    red.error(err)
    assert "hunter2" not in str(err)
    assert "hunter2" not in err.reason
    assert "hunter2" not in str(err.evidence[0])
    assert "hunter2" not in str(cause)
    assert "hunter2" not in "".join(err.__notes__)
    failed = red.error(ProvisionFailed("i", "init", f"last lines: {SECRET.decode()}"))
    assert "hunter2" not in str(failed)

    status = InstanceStatus(
        state=InstanceState.FAILED,
        ready=False,
        message=SECRET.decode(),
        services={
            "web": ServiceStatus(state=InstanceState.FAILED, ready=False, message=SECRET.decode())
        },
    )
    assert "hunter2" not in red.status(status).model_dump_json()


def test_the_library_log_is_scrubbed_while_a_redactor_is_active(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = library_logger("ctrlplane.test")
    red = Redactor([SECRET])
    with caplog.at_level(logging.DEBUG, logger="ctrlplane.test"), red.active():
        log.warning("value %s", SECRET.decode())
        try:
            raise ValueError(SECRET.decode())
        except ValueError:
            log.exception("failed")
    assert "hunter2" not in caplog.text
    assert MASK in caplog.text
