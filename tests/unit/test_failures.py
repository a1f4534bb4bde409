"""How the core reads a failure: a lost engine behind a failed step is still a lost engine."""

from __future__ import annotations

from ctrlplane.errors import BackendError, BackendUnavailable, DeployFailed
from ctrlplane.provider.failures import RolloutFailed, engine_lost

IID = "inst_01h455vb4pex5vsknk084sn02q"


def test_a_lost_engine_is_found_behind_a_failed_step() -> None:
    lost = BackendUnavailable("engine gone", backend="docker")
    failed = RolloutFailed("start web", str(lost))
    failed.__cause__ = lost
    assert engine_lost(ExceptionGroup("x", [failed])) is lost
    deploy = DeployFailed(IID, strategy="rolling", step="s", reason="r")
    assert engine_lost(deploy) is None
    assert engine_lost(BackendError("no", backend="docker")) is None


def test_a_cause_cycle_ends_the_search() -> None:
    a = BackendError("a", backend="docker")
    b = BackendError("b", backend="docker")
    a.__cause__, b.__cause__ = b, a
    assert engine_lost(a) is None
