"""The error a provision raises when the engine is lost while several steps run at once.

Provision starts the fronts, the units' namespace holders and their inits together; a
lost engine fails all of them at once, in an order that depends on timing. The error
must name every step that stopped, not whichever noticed first."""

from __future__ import annotations

from ctrlplane.errors import BackendUnavailable, ProvisionFailed
from ctrlplane.provider.deadlines import Deadline
from ctrlplane.provider.docker.provisioning import _provision_error
from ctrlplane.provider.events import StepTracker
from ctrlplane.provider.failures import RolloutFailed

IID = "inst_01m98jt079e8rtbg253bk5jdfd"


def _lost(step: str) -> RolloutFailed:
    err = RolloutFailed(step, "the engine stopped answering")
    err.__cause__ = BackendUnavailable("cannot reach the Docker engine", backend="docker")
    return err


def _tracker() -> StepTracker:
    steps = StepTracker(IID, None)
    steps.current = "start replica units"
    return steps


def test_a_lost_engine_names_every_step_that_stopped_in_either_order() -> None:
    deadline = Deadline(60, "provision")
    holder, init = "namespace holder of unit 0", "init service prepare"
    for order in ([holder, init], [init, holder]):
        group = ExceptionGroup("unit 0", [_lost(step) for step in order])
        err = _provision_error(deadline, IID, ExceptionGroup("steps", [group]), _tracker(), "")
        assert isinstance(err, BackendUnavailable), err
        text = str(err)
        assert "cannot reach the Docker engine" in text, text
        assert holder in text, text
        assert init in text, text


def test_a_step_failing_alone_is_named_and_a_lost_engine_without_a_step_names_the_open_one() -> (
    None
):
    deadline = Deadline(60, "provision")
    err = _provision_error(deadline, IID, _lost("init service prepare"), _tracker(), "")
    assert str(err).endswith("stopped at init service prepare"), err
    bare = BackendUnavailable("cannot reach the Docker engine", backend="docker")
    err = _provision_error(deadline, IID, bare, _tracker(), "")
    assert str(err).endswith("stopped at step start replica units"), err
    failed = _provision_error(
        deadline, IID, RolloutFailed("init service prepare", "exit 1"), _tracker(), ""
    )
    assert isinstance(failed, ProvisionFailed)
    assert failed.step == "init service prepare"
