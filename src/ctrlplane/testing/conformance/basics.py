"""Contract: metadata, health, unknown instances, and undeclared capabilities."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from ctrlplane.errors import InstanceNotFound, NotSupported
from ctrlplane.ids import INSTANCE_PREFIX, RELEASE_PREFIX, new_id
from ctrlplane.provider.capabilities import METHOD_CAPABILITIES, Capability, strategy_capability
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.protocol import HealthChecker, Provider
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    LogOptions,
    ResourceSpec,
    ServiceDeploySpec,
)
from ctrlplane.testing.conformance.context import SuiteContext

__all__ = ["BasicsContract"]

_METHODS = [
    "status",
    "start",
    "stop",
    "restart",
    "deploy",
    "rollback",
    "scale",
    "resources",
    "logs",
    "exec",
]


async def _call(provider: Provider, method: str, iid: str, strategy: DeployStrategy) -> None:
    """Call ``method`` on ``iid`` with a valid argument of the right shape."""
    if method == "deploy":
        await provider.deploy(
            DeployRequest(
                instance_id=iid,
                services=[ServiceDeploySpec(name="app", image="img:2")],
                strategy=strategy,
            )
        )
    elif method == "rollback":
        await provider.rollback(iid, new_id(RELEASE_PREFIX))
    elif method == "scale":
        await provider.scale(iid, ResourceSpec(replicas=2))
    elif method == "logs":
        await provider.logs(iid, LogOptions()).collect()
    elif method == "exec":
        await provider.exec(iid, ExecRequest(command=["true"]))
    else:
        await getattr(provider, method)(iid)


class BasicsContract:
    """``info``, ``capabilities``, ``health_check``; errors for unknown IDs and capabilities."""

    async def test_info_names_the_provider(self, suite: SuiteContext) -> None:
        info = suite.provider.info()
        assert info.name, "info().name must not be empty"

    async def test_capabilities_are_known_and_unique(self, suite: SuiteContext) -> None:
        caps = [str(c) for c in suite.provider.capabilities()]
        known = {c.value for c in Capability}
        assert set(caps) <= known, f"unknown capabilities: {set(caps) - known}"
        assert len(caps) == len(set(caps)), f"duplicates in {caps}"

    async def test_health_check_reports_a_reachable_backend(self, suite: SuiteContext) -> None:
        if not isinstance(suite.provider, HealthChecker):
            pytest.skip("provider does not implement the optional HealthChecker")
        async with asyncio.timeout(suite.harness.timeout):
            health = await suite.provider.health_check()
        assert health.healthy, health.message
        assert health.checked_at is not None

    @pytest.mark.parametrize("method", _METHODS)
    async def test_unknown_instance_raises_instance_not_found(
        self, suite: SuiteContext, method: str
    ) -> None:
        needed = METHOD_CAPABILITIES.get(method)
        if needed is not None:
            suite.require(needed)
        strategy = suite.strategy() if method == "deploy" else DeployStrategy.ROLLING
        with pytest.raises(InstanceNotFound):
            await _call(suite.provider, method, new_id(INSTANCE_PREFIX), strategy)

    async def test_deprovision_of_unknown_instance_is_a_no_op(self, suite: SuiteContext) -> None:
        await suite.provider.deprovision(new_id(INSTANCE_PREFIX))

    @pytest.mark.parametrize(
        "capability",
        [
            Capability.PROVISION,
            Capability.DEPLOY,
            Capability.SCALE,
            Capability.LOGS,
            Capability.EXEC,
            Capability.ROLLING,
            Capability.BLUE_GREEN,
            Capability.CANARY,
        ],
    )
    async def test_undeclared_capability_raises_not_supported_before_work(
        self, suite: SuiteContext, capability: Capability
    ) -> None:
        if suite.has(capability):
            pytest.skip(f"provider declares {capability.value!r}")
        iid = new_id(INSTANCE_PREFIX)
        before: dict[str, set[str]] = {}
        if suite.has(Capability.PROVISION):
            req, _ = await suite.provision(suite.harness.idle_service("app"))
            iid = req.instance_id
            before = await suite.images(iid)
        call: Awaitable[object]
        if capability is Capability.PROVISION:
            req = suite.request(suite.harness.idle_service("app"))
            iid = req.instance_id
            call = suite.provider.provision(req)
        else:
            method = {
                Capability.DEPLOY: "deploy",
                Capability.SCALE: "scale",
                Capability.LOGS: "logs",
                Capability.EXEC: "exec",
            }.get(capability, "deploy")
            strategy = next(
                (s for s in DeployStrategy if strategy_capability(s) is capability),
                DeployStrategy.ROLLING,
            )
            call = _call(suite.provider, method, iid, strategy)
        with pytest.raises(NotSupported) as caught:
            await call
        assert caught.value.capability in {capability.value, Capability.DEPLOY.value}
        assert suite.provider.info().name in str(caught.value)
        if capability is Capability.PROVISION:
            await suite.assert_gone(iid)
        else:
            assert await suite.images(iid) == before, "a refused call changed the instance"
