"""Capabilities as data, and the Provider protocols."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from ctrlplane.errors import NotSupported
from ctrlplane.provider import (
    Capability,
    DeployStrategy,
    HealthChecker,
    HealthStatus,
    Provider,
    has_capability,
    require_capability,
    strategy_capability,
)
from ctrlplane.provider.capabilities import METHOD_CAPABILITIES, require_all

MakeProvider = Callable[..., Provider]


def test_has_capability(make_provider: MakeProvider) -> None:
    p = make_provider("docker", [Capability.PROVISION, Capability.LOGS, Capability.ROLLING])
    assert has_capability(p, Capability.LOGS)
    assert has_capability(p, "strategy:rolling")  # the Go string works too
    assert not has_capability(p, Capability.EXEC)
    assert not has_capability(p, "strategy:canary")
    assert not has_capability(make_provider("empty"), Capability.PROVISION)


def test_require_capability_names_provider_and_capability(make_provider: MakeProvider) -> None:
    p = make_provider("nomad", [Capability.DEPLOY])
    require_capability(p, Capability.DEPLOY)
    with pytest.raises(NotSupported) as info:
        require_capability(p, Capability.CANARY, detail="no canary on Nomad < 1.4")
    exc = info.value
    assert exc.provider == "nomad"
    assert exc.capability == "strategy:canary"
    assert "'nomad'" in str(exc)
    assert "'strategy:canary'" in str(exc)
    assert "no canary on Nomad < 1.4" in str(exc)


def test_require_all_stops_at_the_first_missing(make_provider: MakeProvider) -> None:
    p = make_provider("k8s", [Capability.DEPLOY, Capability.ROLLING])
    require_all(p, [Capability.DEPLOY, Capability.ROLLING])
    with pytest.raises(NotSupported) as info:
        require_all(p, [Capability.DEPLOY, Capability.BLUE_GREEN, Capability.CANARY])
    assert info.value.capability == "strategy:blue-green"


@pytest.mark.parametrize(
    ("strategy", "capability"),
    [
        ("", Capability.ROLLING),
        ("rolling", Capability.ROLLING),
        (DeployStrategy.BLUE_GREEN, Capability.BLUE_GREEN),
        ("canary", Capability.CANARY),
    ],
)
def test_strategy_capability(strategy: str, capability: Capability) -> None:
    assert strategy_capability(strategy) is capability


def test_strategy_capability_refuses_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="big-bang"):
        strategy_capability("big-bang")


def test_gated_methods() -> None:
    assert METHOD_CAPABILITIES == {
        "provision": Capability.PROVISION,
        "deploy": Capability.DEPLOY,
        "rollback": Capability.DEPLOY,
        "scale": Capability.SCALE,
        "logs": Capability.LOGS,
        "exec": Capability.EXEC,
    }


def test_provider_protocol_is_runtime_checkable(make_provider: MakeProvider) -> None:
    assert isinstance(make_provider("x"), Provider)
    assert not isinstance(object(), Provider)

    class Partial:
        def info(self) -> None: ...

        def capabilities(self) -> list[Capability]:
            return []

    assert not isinstance(Partial(), Provider)


async def test_stub_refuses_operations_naming_itself(make_provider: MakeProvider) -> None:
    p = make_provider("stub")
    with pytest.raises(NotSupported, match="'stub'"):
        await p.status("inst_01h455vb4pex5vsknk084sn02q")
    with pytest.raises(NotSupported, match="'logs'"):
        await p.logs("inst_01h455vb4pex5vsknk084sn02q")


async def test_health_checker_is_a_separate_optional_protocol(make_provider: MakeProvider) -> None:
    class Pinging:
        async def health_check(self) -> HealthStatus:
            return HealthStatus(healthy=True, checked_at=datetime.now(UTC))

    assert isinstance(Pinging(), HealthChecker)
    assert not isinstance(make_provider("x"), HealthChecker)
    assert (await Pinging().health_check()).healthy
