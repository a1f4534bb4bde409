"""Contract: rolling, blue-green and canary deploys, gated by health checks.

For each declared strategy: a good release goes live on every replica; a release whose
new version fails its probe is rolled back automatically (``DeployFailed`` with the
strategy, the step and probe evidence) and the old release keeps serving; a deploy
cancelled mid-way restores the previous release.
"""

from __future__ import annotations

import asyncio

import pytest

from ctrlplane.errors import DeployFailed
from ctrlplane.provider.capabilities import Capability, strategy_capability
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.releases import ReleaseHistory
from ctrlplane.provider.spec import DeployRequest, ServiceDeploySpec
from ctrlplane.testing.conformance.context import SuiteContext, assert_running

__all__ = ["StrategiesContract"]

_STRATEGIES = pytest.mark.parametrize("strategy", list(DeployStrategy), ids=str)


async def _gated_web(suite: SuiteContext, strategy: DeployStrategy, replicas: int = 2) -> str:
    suite.require(Capability.PROVISION, Capability.DEPLOY, strategy_capability(strategy))
    h = suite.harness
    web = h.http_service("web", port=h.http_port, env={"MESSAGE": "old"}).model_copy(
        update={"health_check": suite.health_check(h.http_port)}
    )
    req, _ = await suite.provision(web, replicas=replicas)
    return req.instance_id


async def _serves_only(suite: SuiteContext, iid: str, image: str, message: str, n: int) -> None:
    async def check() -> bool:
        units = [u for u in await suite.harness.running(iid) if u.service == "web"]
        assert {u.image for u in units} == {image}, f"running {units}"
        assert len({u.replica for u in units}) == n, f"running {units}"
        status = await suite.status(iid)
        assert_running(status)
        return await suite.message(iid) == message

    await suite.eventually(check, f"{n} replicas of {image} serving {message!r}")


class StrategiesContract:
    """``deploy`` with each declared strategy."""

    @_STRATEGIES
    async def test_good_release_goes_live(
        self, suite: SuiteContext, strategy: DeployStrategy
    ) -> None:
        iid = await _gated_web(suite, strategy)
        h = suite.harness
        req = DeployRequest(
            instance_id=iid,
            services=[ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "new"})],
            strategy=strategy,
        )
        async with asyncio.timeout(h.timeout):
            result = await suite.provider.deploy(req)
        assert result.release_id
        await _serves_only(suite, iid, h.image(2), "new", 2)

    @_STRATEGIES
    async def test_failing_probe_rolls_back_and_old_release_keeps_serving(
        self, suite: SuiteContext, strategy: DeployStrategy
    ) -> None:
        iid = await _gated_web(suite, strategy)
        h = suite.harness
        live_before = None
        if isinstance(suite.provider, ReleaseHistory):
            live_before = (await suite.provider.releases(iid))[0].release_id
        bad = ServiceDeploySpec(
            name="web", image=h.image(3), env={"MESSAGE": "bad", "HEALTHY": "0"}
        )
        req = DeployRequest(instance_id=iid, services=[bad], strategy=strategy)
        with pytest.raises(DeployFailed) as caught:
            async with asyncio.timeout(h.timeout):
                await suite.provider.deploy(req)
        failure = caught.value
        assert failure.strategy == strategy.value
        assert failure.step
        assert failure.evidence, "a failed gate must carry the probe results"
        assert failure.rolled_back
        await _serves_only(suite, iid, h.image(1), "old", 2)
        if isinstance(suite.provider, ReleaseHistory):
            history = await suite.provider.releases(iid)
            assert history[0].release_id == live_before
            assert history[0].live

    @_STRATEGIES
    async def test_cancelled_deploy_restores_previous_release(
        self, suite: SuiteContext, strategy: DeployStrategy
    ) -> None:
        iid = await _gated_web(suite, strategy)
        h = suite.harness
        never = ServiceDeploySpec(
            name="web",
            image=h.image(4),
            env={"MESSAGE": "never", "HEALTHY": "0"},
            health_check=suite.health_check(h.http_port, retries=100_000),
        )
        req = DeployRequest(instance_id=iid, services=[never], strategy=strategy)
        task = asyncio.create_task(suite.provider.deploy(req))

        async def new_unit_started() -> bool:
            if task.done():
                pytest.fail("the deploy ended although its gate cannot pass")
            return any(u.image == h.image(4) for u in await h.running(iid))

        try:
            await suite.eventually(new_unit_started, "the deploy to start a new unit")
        finally:
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _serves_only(suite, iid, h.image(1), "old", 2)
