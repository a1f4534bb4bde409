"""Contract: operations an operator can trust under the conditions real operators meet.

- Two operators at once: concurrent deploy ‖ deploy, deploy ‖ scale and deploy ‖ rollback
  from two provider objects are serialised (or refused with ``InstanceBusy``); afterwards
  every unit runs the live release.
- A crash is a crash: a main that exits at once fails provision, every time.
- Secrets stay secret when things fail: an exec probe that prints a secret never shows it
  in the error, its evidence, the progress events, the status or the library's logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import pytest

from ctrlplane.errors import DeployFailed, InstanceBusy, NotSupported, ProvisionFailed
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.events import ProgressEvent
from ctrlplane.provider.protocol import Provider
from ctrlplane.provider.releases import ReleaseHistory
from ctrlplane.provider.spec import (
    DeployRequest,
    HealthCheckSpec,
    ResourceSpec,
    SecretRef,
    ServiceDeploySpec,
)
from ctrlplane.secrets import MappingResolver
from ctrlplane.testing.conformance.context import SuiteContext, assert_running

__all__ = ["TrustContract"]

SENTINEL = "sentinel-5ec2e7-7a1b9d44c0"
"""A secret value that must never appear outside the service that references it."""

EXIT_AT_ONCE_RUNS = 20


def _histories(provider: Provider) -> ReleaseHistory:
    if not isinstance(provider, ReleaseHistory):
        pytest.skip("provider does not implement the optional ReleaseHistory")
    return provider


async def _outcome(call: Awaitable[Any]) -> str:
    """``ok`` or ``busy``; any other error fails the test."""
    try:
        await call
    except InstanceBusy:
        return "busy"
    return "ok"


class TrustContract:
    """Concurrency, crashes at start, secrets in failures."""

    @pytest.mark.parametrize("other", ["deploy", "scale", "rollback"])
    async def test_concurrent_mutations_leave_one_live_release_everywhere(
        self, suite: SuiteContext, other: str
    ) -> None:
        suite.require(Capability.PROVISION, Capability.DEPLOY, Capability.ROLLING)
        if other == "scale":
            suite.require(Capability.SCALE)
        h = suite.harness
        histories = _histories(suite.provider)
        web = h.http_service("web", port=h.http_port, env={"MESSAGE": "v1"}).model_copy(
            update={"health_check": suite.health_check(h.http_port)}
        )
        req, _ = await suite.provision(web, replicas=2)
        iid = req.instance_id
        first = (await histories.releases(iid))[0].release_id
        if other == "rollback":
            second = DeployRequest(
                instance_id=iid,
                services=[ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "v2"})],
            )
            async with asyncio.timeout(h.timeout):
                await suite.provider.deploy(second)
        one, two = suite.fresh(), suite.fresh()
        deploy = DeployRequest(
            instance_id=iid,
            services=[ServiceDeploySpec(name="web", image=h.image(3), env={"MESSAGE": "v3"})],
        )
        if other == "deploy":
            rival: Awaitable[Any] = two.deploy(
                DeployRequest(
                    instance_id=iid,
                    services=[
                        ServiceDeploySpec(name="web", image=h.image(4), env={"MESSAGE": "v4"})
                    ],
                )
            )
        elif other == "scale":
            rival = two.scale(iid, ResourceSpec(replicas=3))
        else:
            rival = two.rollback(iid, first)
        async with asyncio.timeout(2 * h.timeout):
            outcomes = await asyncio.gather(_outcome(one.deploy(deploy)), _outcome(rival))
        assert "ok" in outcomes, f"both operations were refused: {outcomes}"

        live = (await histories.releases(iid))[0]
        image = live.service("web").image
        message = live.service("web").env.get("MESSAGE", "")
        replicas = 3 if other == "scale" and outcomes[1] == "ok" else 2

        async def one_release_everywhere() -> bool:
            units = [u for u in await h.running(iid) if u.service == "web"]
            assert {u.image for u in units} == {image}, f"units {units} vs live {live.release_id}"
            assert len({u.replica for u in units}) == replicas, f"running {units}"
            assert_running(await suite.status(iid))
            for _ in range(2 * replicas):  # every replica answers with the live release
                assert await suite.message(iid) == message
            return True

        await suite.eventually(one_release_everywhere, "one live release on every unit")

    async def test_a_main_that_exits_at_once_fails_provision_every_time(
        self, suite: SuiteContext
    ) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        for run in range(EXIT_AT_ONCE_RUNS):
            main = h.exit_service("app", code=3, lines=[f"run {run}: failing at once"])
            req = suite.request(main)
            with pytest.raises(ProvisionFailed) as caught:
                async with asyncio.timeout(h.timeout):
                    await suite.provider.provision(req)
            assert caught.value.step, caught.value
            await suite.assert_gone(req.instance_id)

    async def test_exec_probe_output_never_shows_a_secret(
        self, suite: SuiteContext, caplog: pytest.LogCaptureFixture
    ) -> None:
        suite.require(Capability.PROVISION, Capability.DEPLOY, Capability.ROLLING)
        caplog.set_level(logging.DEBUG, logger="ctrlplane")
        h = suite.harness
        provider = suite.fresh(secrets=MappingResolver({"api-token": SENTINEL}))
        web = h.http_service("web", port=h.http_port, env={"MESSAGE": "v1"}).model_copy(
            update={
                "secrets": [SecretRef(key="api-token")],
                "health_check": suite.health_check(h.http_port),
            }
        )
        req, _ = await suite.provision(web, provider=provider)
        iid = req.instance_id
        leaky = HealthCheckSpec(
            command=["sh", "-c", "echo token=$API_TOKEN; echo $API_TOKEN >&2; exit 1"],
            interval=suite.health_check(h.http_port).interval,
            timeout=suite.health_check(h.http_port).timeout,
            retries=h.probe_retries,
        )
        deploy = DeployRequest(
            instance_id=iid,
            services=[
                ServiceDeploySpec(
                    name="web", image=h.image(2), env={"MESSAGE": "v2"}, health_check=leaky
                )
            ],
        )
        seen: list[ProgressEvent] = []
        try:
            async with asyncio.timeout(2 * h.timeout):
                await provider.deploy(deploy, events=seen.append)
        except NotSupported as exc:
            pytest.skip(f"the provider refuses exec health checks: {exc}")
        except DeployFailed as exc:
            failure: DeployFailed = exc
        else:
            pytest.fail("a deploy whose exec probe exits 1 must fail")
        assert failure.evidence, "the failed gate carries the probe results"
        texts = {
            "the DeployFailed message": str(failure),
            "the DeployFailed reason": failure.reason,
            "the probe evidence": " ".join(str(e) for e in failure.evidence),
            "the progress events": " ".join(e.model_dump_json() for e in seen),
            "the status": (await suite.status(iid, provider)).model_dump_json(),
            "the library's logs": caplog.text,
        }
        for where, text in texts.items():
            assert SENTINEL not in text, f"the secret value appears in {where}"
