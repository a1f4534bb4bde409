"""Contract: operations an operator can trust under the conditions real operators meet.

- Two operators at once: concurrent deploy ‖ deploy, deploy ‖ scale and deploy ‖ rollback
  from two provider objects are serialised (or refused with ``InstanceBusy``); afterwards
  every unit runs the live release.
- A crash is a crash: a main that exits at once fails provision, every time.
- Secrets stay secret when things fail: an exec probe that prints a secret, a canary that
  crashes printing one during its observation, a restart whose main crashes printing one:
  the value never shows in the error, its evidence, the progress events, the status or
  the library's logs.
- No call hangs: against an endpoint that accepts connections and never answers, every
  method returns or raises (``BackendUnavailable`` / ``OperationTimeout``) in bounded time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ctrlplane.errors import (
    BackendUnavailable,
    CtrlplaneError,
    DeployFailed,
    InstanceBusy,
    NotSupported,
    OperationTimeout,
    ProvisionFailed,
)
from ctrlplane.ids import INSTANCE_PREFIX, RELEASE_PREFIX, new_id
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.events import ProgressEvent
from ctrlplane.provider.protocol import HealthChecker, InstanceLister, Provider
from ctrlplane.provider.releases import ReleaseHistory
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    HealthCheckSpec,
    LogOptions,
    ResourceSpec,
    SecretRef,
    ServiceDeploySpec,
    VolumeSpec,
)
from ctrlplane.secrets import MappingResolver
from ctrlplane.testing.conformance.context import SuiteContext, assert_running

__all__ = ["TrustContract"]

SENTINEL = "sentinel-5ec2e7-7a1b9d44c0"
"""A secret value that must never appear outside the service that references it."""

EXIT_AT_ONCE_RUNS = 20


def _assert_hidden(texts: dict[str, str]) -> None:
    for where, text in texts.items():
        assert SENTINEL not in text, f"the secret value appears in {where}"


def _crashing_env(**extra: str) -> dict[str, str]:
    return {"CRASH_PRINT": "API_TOKEN", **extra}


async def _black_hole() -> tuple[asyncio.Server, list[asyncio.StreamWriter]]:
    """A server on 127.0.0.1 that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # keep it open, say nothing

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, held


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
        _assert_hidden(texts)

    async def test_a_canary_crashing_with_a_secret_never_shows_it(
        self, suite: SuiteContext, caplog: pytest.LogCaptureFixture
    ) -> None:
        suite.require(Capability.PROVISION, Capability.DEPLOY, Capability.CANARY)
        caplog.set_level(logging.DEBUG, logger="ctrlplane")
        h = suite.harness
        assert h.canary_observation > h.crash_delay, (
            "the harness must observe canaries longer than crash_delay"
        )
        provider = suite.fresh(secrets=MappingResolver({"api-token": SENTINEL}))
        web = h.http_service("web", port=h.http_port, env={"MESSAGE": "v1"}).model_copy(
            update={
                "secrets": [SecretRef(key="api-token")],
                "health_check": suite.health_check(h.http_port),
            }
        )
        req, _ = await suite.provision(web, replicas=2, provider=provider)
        iid = req.instance_id
        crash = _crashing_env(MESSAGE="v2", CRASH_AFTER=f"{h.crash_delay:g}")
        deploy = DeployRequest(
            instance_id=iid,
            services=[ServiceDeploySpec(name="web", image=h.image(2), env=crash)],
            strategy="canary",
        )
        seen: list[ProgressEvent] = []
        with pytest.raises(DeployFailed) as caught:
            async with asyncio.timeout(2 * h.timeout):
                await provider.deploy(deploy, events=seen.append)
        failure = caught.value
        _assert_hidden(
            {
                "the DeployFailed message": str(failure),
                "the probe evidence": " ".join(str(e) for e in failure.evidence),
                "the progress events": " ".join(e.model_dump_json() for e in seen),
                "the status": (await suite.status(iid, provider)).model_dump_json(),
                "the library's logs": caplog.text,
            }
        )

    async def test_a_restart_whose_main_crashes_with_a_secret_fails_without_showing_it(
        self, suite: SuiteContext, caplog: pytest.LogCaptureFixture
    ) -> None:
        suite.require(Capability.PROVISION, Capability.VOLUMES)
        caplog.set_level(logging.DEBUG, logger="ctrlplane")
        h = suite.harness
        provider = suite.fresh(secrets=MappingResolver({"api-token": SENTINEL}))
        web = h.http_service(
            "web", port=h.http_port, env=_crashing_env(MESSAGE="v1", CRASH_MARKER="/data/seen")
        ).model_copy(
            update={
                "secrets": [SecretRef(key="api-token")],
                "volumes": [VolumeSpec(name="data", mount_path="/data")],
            }
        )
        req, _ = await suite.provision(web, provider=provider)
        iid = req.instance_id
        try:
            async with asyncio.timeout(2 * h.timeout):
                await provider.restart(iid)
        except CtrlplaneError as exc:
            error = str(exc)
        else:
            pytest.fail("a restart whose main exits at once must fail, not report success")
        _assert_hidden(
            {
                "the restart's error": error,
                "the status": (await suite.status(iid, provider)).model_dump_json(),
                "the library's logs": caplog.text,
            }
        )

    async def test_no_call_hangs_on_an_endpoint_that_never_answers(
        self, suite: SuiteContext
    ) -> None:
        server, held = await _black_hole()
        try:
            host, port = server.sockets[0].getsockname()[:2]
            provider = suite.harness.black_hole_provider(f"{host}:{port}")
            if provider is None:
                pytest.skip("the backend has no network endpoint")
            await _every_call_returns(suite, provider)
        finally:
            for writer in held:
                writer.close()
            server.close()
            await server.wait_closed()


async def _every_call_returns(suite: SuiteContext, provider: Provider) -> None:
    """Each method of ``provider`` (pointed at a black hole) ends within the harness's
    limit: ``health_check`` unhealthy, the others ``BackendUnavailable`` or
    ``OperationTimeout``."""
    h = suite.harness
    limit = h.black_hole_limit
    iid = new_id(INSTANCE_PREFIX)
    req = suite.request(h.idle_service("app"))
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "provision": lambda: provider.provision(req),
        "deprovision": lambda: provider.deprovision(iid),
        "status": lambda: provider.status(iid),
        "start": lambda: provider.start(iid),
        "stop": lambda: provider.stop(iid),
        "restart": lambda: provider.restart(iid),
        "resources": lambda: provider.resources(iid),
        "deploy": lambda: provider.deploy(
            DeployRequest(instance_id=iid, services=[ServiceDeploySpec(name="app", image="i:2")])
        ),
        "rollback": lambda: provider.rollback(iid, new_id(RELEASE_PREFIX)),
        "scale": lambda: provider.scale(iid, ResourceSpec(replicas=2)),
        "logs": lambda: provider.logs(iid, LogOptions()).collect(),
        "exec": lambda: provider.exec(iid, ExecRequest(command=["true"])),
    }
    if isinstance(provider, InstanceLister):
        calls["list_instances"] = lambda: provider.list_instances()
    if isinstance(provider, ReleaseHistory):
        calls["releases"] = lambda: provider.releases(iid)
    slow: list[str] = []
    for name, call in calls.items():
        began = time.monotonic()
        try:
            async with asyncio.timeout(limit + 5):
                await call()
        except (BackendUnavailable, OperationTimeout, NotSupported):
            pass
        except TimeoutError:
            slow.append(f"{name} hung past {limit + 5:g}s")
            continue
        else:
            pytest.fail(f"{name} reported success against an endpoint that never answers")
        if time.monotonic() - began > limit + 1:
            slow.append(f"{name} took {time.monotonic() - began:.1f}s")
    if isinstance(provider, HealthChecker):
        async with asyncio.timeout(limit + 5):
            health = await provider.health_check()
        assert not health.healthy, health
    assert not slow, f"calls that did not end within {limit:g}s: {slow}"
