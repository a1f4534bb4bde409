"""Answer-side helpers: worst-of aggregation and the request accessors."""

from __future__ import annotations

import pytest

from ctrlplane.errors import InvalidSpec
from ctrlplane.provider import InstanceState, LogOptions, ProvisionRequest, worst_state

S = InstanceState


@pytest.mark.parametrize(
    ("states", "worst"),
    [
        ([S.RUNNING, S.RUNNING], S.RUNNING),
        ([S.RUNNING, S.STARTING], S.STARTING),
        ([S.RUNNING, S.STOPPED], S.STOPPED),
        ([S.STOPPED, S.STARTING, S.RUNNING], S.STARTING),
        ([S.PROVISIONING, S.STARTING], S.PROVISIONING),
        ([S.RUNNING, S.STOPPING], S.STOPPING),
        ([S.DESTROYED, S.DESTROYING], S.DESTROYING),
        ([S.RUNNING, S.FAILED, S.DESTROYING, S.STARTING], S.FAILED),
        ([], S.STOPPED),
    ],
)
def test_worst_state(states: list[InstanceState], worst: InstanceState) -> None:
    assert worst_state(states) is worst


def test_failed_is_the_worst_of_all() -> None:
    assert max(InstanceState, key=lambda s: s.severity) is S.FAILED
    assert min(InstanceState, key=lambda s: s.severity) is S.RUNNING
    assert len({s.severity for s in InstanceState}) == len(InstanceState)


def test_request_accessors() -> None:
    req = ProvisionRequest.model_validate(
        {
            "instance_id": "inst_01h455vb4pex5vsknk084sn02q",
            "services": [
                {"name": "seed", "image": "busybox", "role": "init"},
                {"name": "web", "image": "nginx"},
            ],
        }
    )
    assert req.main.name == "web"
    assert req.service("seed").role == "init"
    with pytest.raises(KeyError):
        req.service("db")


def test_log_options_replica_must_not_be_negative() -> None:
    with pytest.raises(InvalidSpec) as info:
        LogOptions(replica=-1)
    assert [p.path for p in info.value.problems] == ["replica"]
    assert LogOptions(replica=2).replica == 2
