"""Contract: scale (replicas and limits) and resource usage."""

from __future__ import annotations

import asyncio

import pytest

from ctrlplane.errors import InvalidSpec
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.spec import ResourceSpec
from ctrlplane.testing.conformance.context import SuiteContext, assert_running

__all__ = ["ScalingContract"]


class ScalingContract:
    """``scale`` and ``resources``."""

    async def test_scale_up_and_down_changes_running_replicas(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION, Capability.SCALE)
        h = suite.harness
        req, _ = await suite.provision(h.http_service("web", port=h.http_port))
        iid = req.instance_id
        for count in (3, 1):
            async with asyncio.timeout(h.timeout):
                await suite.provider.scale(iid, ResourceSpec(replicas=count))

            async def scaled(count: int = count) -> bool:
                assert await suite.replicas(iid, "web") == count
                status = await suite.status(iid)
                assert_running(status)
                return True

            await suite.eventually(scaled, f"{count} running replicas")

    async def test_scale_changes_limits_and_keeps_replicas(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION, Capability.SCALE)
        h = suite.harness
        req, _ = await suite.provision(h.idle_service("app"))
        iid = req.instance_id
        memory = h.scale_memory_mb
        async with asyncio.timeout(h.timeout):
            await suite.provider.scale(iid, ResourceSpec(memory_mb=memory, cpu_millis=250))

        async def limited() -> bool:
            usage = await suite.provider.resources(iid)
            assert usage.memory_limit_mb == memory, usage
            return await suite.replicas(iid, "app") == 1

        await suite.eventually(limited, f"a {memory} MB memory limit on one replica")

    @pytest.mark.parametrize(
        "spec", [ResourceSpec(replicas=-1), ResourceSpec(memory_mb=-5), ResourceSpec()], ids=str
    )
    async def test_invalid_scale_changes_nothing(
        self, suite: SuiteContext, spec: ResourceSpec
    ) -> None:
        suite.require(Capability.PROVISION, Capability.SCALE)
        req, _ = await suite.provision(suite.harness.idle_service("app"), replicas=2)
        with pytest.raises(InvalidSpec):
            await suite.provider.scale(req.instance_id, spec)
        assert await suite.replicas(req.instance_id, "app") == 2

    async def test_resources_report_memory_of_a_running_workload(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION)
        req, _ = await suite.provision(suite.harness.idle_service("app"))

        async def measured() -> bool:
            usage = await suite.provider.resources(req.instance_id)
            assert usage.memory_used_mb > 0, usage
            assert usage.memory_limit_mb >= usage.memory_used_mb, usage
            return True

        await suite.eventually(measured, "non-zero memory use")
