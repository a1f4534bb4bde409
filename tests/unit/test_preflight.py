"""The one preflight: capabilities with reasons, validation, backend refusals, narrowing."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from ctrlplane.errors import InvalidSpec, NotSupported
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider import (
    Capability,
    DeployRequest,
    ExecRequest,
    ProvisionRequest,
    ResourceSpec,
    ServiceDeploySpec,
    ServiceSpec,
    VolumeSpec,
)
from ctrlplane.provider.preflight import NoLimits, Preflight, Refusal

IID = new_id(INSTANCE_PREFIX)

ALL = (Capability.PROVISION, Capability.DEPLOY, Capability.ROLLING, Capability.SCALE)


def _req(**svc: object) -> ProvisionRequest:
    return ProvisionRequest(
        instance_id=IID, name="app", services=[ServiceSpec(name="web", image="web:1", **svc)]
    )


class _NoFixedPorts(NoLimits):
    def provision(self, req: ProvisionRequest) -> Iterable[Refusal]:
        for i, svc in enumerate(req.services):
            for j, port in enumerate(svc.ports):
                if port.host:
                    yield Refusal(
                        Capability.PROVISION,
                        "no fixed host ports",
                        f"services[{i}].ports[{j}].host",
                    )

    def deploy(self, req: DeployRequest) -> Iterable[Refusal]:
        if len(req.services) > 1:
            yield Refusal(Capability.DEPLOY, "one service per deploy")


def test_each_method_needs_its_capability_named_in_the_error() -> None:
    checks = Preflight("demo", [Capability.PROVISION])
    with pytest.raises(NotSupported) as caught:
        checks.scale(ResourceSpec(replicas=2))
    assert caught.value.capability == "scale"
    assert "demo" in str(caught.value)
    with pytest.raises(NotSupported, match="'exec'"):
        checks.exec(ExecRequest(command=["true"]))
    with pytest.raises(NotSupported, match="'logs'"):
        checks.logs()
    with pytest.raises(NotSupported, match="'deploy'"):
        checks.rollback()


def test_the_strategy_and_implied_capabilities_are_checked() -> None:
    checks = Preflight("demo", ALL)
    canary = DeployRequest(
        instance_id=IID, services=[ServiceDeploySpec(name="web", image="w")], strategy="canary"
    )
    with pytest.raises(NotSupported) as caught:
        checks.deploy(canary)
    assert caught.value.capability == "strategy:canary"
    with pytest.raises(NotSupported, match="volumes"):
        checks.provision(_req(volumes=[VolumeSpec(name="data", mount_path="/data")]))


def test_validation_runs_before_backend_refusals() -> None:
    checks = Preflight("demo", ALL, limits=_NoFixedPorts())
    with pytest.raises(InvalidSpec, match="services"):
        checks.provision(ProvisionRequest(instance_id=IID, name="app", services=[]))
    with pytest.raises(InvalidSpec) as caught:
        checks.provision(_req(ports=[{"container": 80, "host": 8080}]))
    assert [p.path for p in caught.value.problems] == ["services[0].ports[0].host"]
    two = DeployRequest(
        instance_id=IID,
        services=[ServiceDeploySpec(name="a", image="a"), ServiceDeploySpec(name="b", image="b")],
    )
    with pytest.raises(NotSupported, match="one service per deploy"):
        checks.deploy(two)


def test_exec_needs_an_argv() -> None:
    checks = Preflight("demo", [Capability.EXEC])
    with pytest.raises(InvalidSpec, match="command"):
        checks.exec(ExecRequest(command=[]))


def test_a_provider_can_be_narrowed_never_widened() -> None:
    narrow = Preflight("demo", ALL, narrowed_to=[Capability.PROVISION])
    assert narrow.declared == (Capability.PROVISION,)
    with pytest.raises(NotSupported):
        narrow.scale(ResourceSpec(replicas=2))
    with pytest.raises(ValueError, match="widened"):
        Preflight("demo", [Capability.PROVISION], narrowed_to=[Capability.EXEC])
