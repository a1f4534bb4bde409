"""The one exception tree: what callers can catch, and what the messages say."""

from __future__ import annotations

import pytest

from ctrlplane import errors
from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    CtrlplaneError,
    DeployFailed,
    InstanceNotFound,
    InvalidSpec,
    MissingExtra,
    NotSupported,
    OperationTimeout,
    PermissionDenied,
    Problem,
    ProviderConflict,
    ProviderNotFound,
    ProvisionFailed,
    ReleaseNotFound,
    SecretNotFound,
)


@pytest.mark.parametrize(
    ("exc", "also"),
    [
        (InvalidSpec("bad"), ValueError),
        (ProviderNotFound("x"), KeyError),
        (ProviderConflict("x"), ValueError),
        (MissingExtra("docker", "aiodocker"), ImportError),
        (NotSupported("p", "exec"), CtrlplaneError),
        (InstanceNotFound("inst_x"), LookupError),
        (ReleaseNotFound("inst_x", "rel_y"), LookupError),
        (SecretNotFound("db/password"), LookupError),
        (BackendError("boom"), CtrlplaneError),
        (BackendUnavailable("down"), BackendError),
        (PermissionDenied("no"), BackendError),
        (ProvisionFailed("inst_x", "create network", "refused"), CtrlplaneError),
        (DeployFailed("inst_x", strategy="canary", step="gate", reason="5xx"), CtrlplaneError),
        (OperationTimeout("provision", 30), TimeoutError),
    ],
)
def test_every_error_is_a_ctrlplane_error_and_its_builtin(exc: Exception, also: type) -> None:
    assert isinstance(exc, CtrlplaneError)
    assert isinstance(exc, also)


def test_every_exported_exception_derives_from_the_root() -> None:
    exported = [getattr(errors, name) for name in errors.__all__]
    classes = [c for c in exported if isinstance(c, type) and issubclass(c, BaseException)]
    assert len(classes) >= 15
    for cls in classes:
        assert issubclass(cls, CtrlplaneError), cls


def test_provider_not_found_keeps_the_go_message_unquoted() -> None:
    exc = ProviderNotFound("nomad", known=["docker", "kubernetes"])
    text = str(exc)
    assert text.startswith("ctrlplane: provider not registered")
    assert not text.startswith(("'", '"'))
    assert "'nomad'" in text
    assert "docker, kubernetes" in text
    assert exc.name == "nomad"
    with pytest.raises(KeyError):
        raise exc
    assert "none are registered" in str(ProviderNotFound("x"))


def test_not_supported_names_provider_and_capability() -> None:
    exc = NotSupported("docker", "strategy:canary", detail="single host")
    assert (exc.provider, exc.capability) == ("docker", "strategy:canary")
    assert "'docker'" in str(exc)
    assert "'strategy:canary'" in str(exc)
    assert "single host" in str(exc)


def test_invalid_spec_lists_every_problem_with_its_path() -> None:
    exc = InvalidSpec(
        [Problem("services[2].depends_on[0]", "no service named 'db'"), Problem("", "empty")]
    )
    assert [p.path for p in exc.problems] == ["services[2].depends_on[0]", ""]
    text = str(exc)
    assert "2 problems" in text
    assert "services[2].depends_on[0]: no service named 'db'" in text
    one = InvalidSpec([Problem("services", "at least one service is required")], subject="x")
    assert str(one) == "invalid x: services: at least one service is required"


def test_invalid_spec_from_a_message() -> None:
    exc = InvalidSpec("cannot read file", subject="workload file")
    assert exc.problems == [Problem("", "cannot read file")]
    assert str(exc) == "invalid workload file: cannot read file"


def test_missing_extra_names_the_pip_command() -> None:
    exc = MissingExtra("docker", "aiodocker")
    assert "pip install 'ctrlplane[docker]'" in str(exc)
    assert "aiodocker" in str(exc)


def test_operation_timeout_says_what_and_how_long() -> None:
    exc = OperationTimeout("provision inst_x", 2.5, detail="web not healthy")
    assert str(exc) == "provision inst_x did not finish within 2.5s: web not healthy"
    assert exc.timeout == 2.5


def test_deploy_failed_carries_evidence_and_rollback_state() -> None:
    exc = DeployFailed(
        "inst_x", strategy="rolling", step="health gate", reason="3 probes failed", evidence=[1, 2]
    )
    assert exc.evidence == [1, 2]
    assert exc.rolled_back is True
    assert "previous release was restored" in str(exc)
    partial = DeployFailed("inst_x", strategy="canary", step="s", reason="r", rolled_back=False)
    assert "partly updated" in str(partial)


def test_other_messages_name_their_subject() -> None:
    assert "'inst_x'" in str(InstanceNotFound("inst_x", provider="docker"))
    assert "'docker'" in str(InstanceNotFound("inst_x", provider="docker"))
    assert "rel_a, rel_b" in str(ReleaseNotFound("inst_x", "rel_c", known=["rel_a", "rel_b"]))
    assert "create network" in str(ProvisionFailed("inst_x", "create network", "refused"))
    assert "replace=True" in str(ProviderConflict("docker"))
    assert BackendUnavailable("down", backend="docker", status=503).status == 503
