"""Contract: provision and deprovision (validation first, idempotency, no leftovers, order)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from ctrlplane.errors import CtrlplaneError, InvalidSpec, ProvisionFailed
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.events import ProgressEvent, UnitStarted
from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import LogOptions, PortSpec, SecretRef, ServiceSpec
from ctrlplane.secrets import MappingResolver
from ctrlplane.testing.conformance.context import SuiteContext, assert_running
from ctrlplane.testing.conformance.harness import ConformanceHarness
from ctrlplane.testing.conformance.progress import check_step_pairs

__all__ = ["ProvisioningContract"]

_Broken = Callable[[ConformanceHarness], list[ServiceSpec]]


def _dup_names(h: ConformanceHarness) -> list[ServiceSpec]:
    return [
        h.idle_service("app"),
        h.idle_service("app").model_copy(update={"role": ServiceRole.SIDECAR}),
    ]


def _cycle(h: ConformanceHarness) -> list[ServiceSpec]:
    return [
        h.idle_service("app").model_copy(update={"depends_on": ["side"]}),
        h.idle_service("side").model_copy(
            update={"role": ServiceRole.SIDECAR, "depends_on": ["app"]}
        ),
    ]


def _two_mains(h: ConformanceHarness) -> list[ServiceSpec]:
    return [h.idle_service("app"), h.idle_service("other")]


def _unknown_dependency(h: ConformanceHarness) -> list[ServiceSpec]:
    return [h.idle_service("app").model_copy(update={"depends_on": ["ghost"]})]


def _bad_port(h: ConformanceHarness) -> list[ServiceSpec]:
    return [h.idle_service("app").model_copy(update={"ports": [PortSpec(container=70000)]})]


def _bad_name(h: ConformanceHarness) -> list[ServiceSpec]:
    return [h.idle_service("App_1")]


async def _lines(suite: SuiteContext, iid: str, service: str) -> list[LogRecord]:
    async with asyncio.timeout(suite.harness.timeout):
        return await suite.provider.logs(iid, LogOptions(service_name=service)).collect()


async def _first_lines(suite: SuiteContext, iid: str, service: str) -> list[LogRecord]:
    """The log of ``service`` once it has at least one line."""
    return await suite.eventually(lambda: _lines(suite, iid, service), f"{service}'s log")


class ProvisioningContract:
    """``provision`` and ``deprovision``."""

    @pytest.mark.parametrize(
        "broken", [_dup_names, _cycle, _two_mains, _unknown_dependency, _bad_port, _bad_name]
    )
    async def test_invalid_request_is_refused_before_any_side_effect(
        self, suite: SuiteContext, broken: _Broken
    ) -> None:
        suite.require(Capability.PROVISION)
        req = suite.request(*broken(suite.harness))
        with pytest.raises(InvalidSpec) as caught:
            await suite.provider.provision(req)
        assert caught.value.problems
        assert all(p.path for p in caught.value.problems)
        await suite.assert_gone(req.instance_id)

    async def test_provision_returns_refs_and_endpoints(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        side = h.idle_service("side").model_copy(update={"role": ServiceRole.SIDECAR})
        req, result = await suite.provision(h.http_service("web", port=h.http_port), side)
        assert result.provider_ref
        assert set(result.service_refs) == {"web", "side"}
        assert any(e.service_name == "web" for e in result.endpoints), result.endpoints
        status = await suite.status(req.instance_id)
        assert_running(status)

    async def test_provision_reports_steps_and_units(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        seen: list[ProgressEvent] = []
        req = suite.request(h.idle_service("app"), replicas=2)
        async with asyncio.timeout(h.timeout):
            await suite.provider.provision(req, events=seen.append)
        finished = check_step_pairs(seen)
        assert finished, f"no steps reported: {seen}"
        assert all(f.ok for f in finished), finished
        assert all(e.instance_id == req.instance_id for e in seen)
        started = {(e.service, e.replica) for e in seen if isinstance(e, UnitStarted)}
        assert started == {("app", 0), ("app", 1)}, started
        again: list[ProgressEvent] = []
        async with asyncio.timeout(h.timeout):
            await suite.fresh().provision(req, events=again.append)
        assert not [e for e in again if isinstance(e, UnitStarted)], again

    async def test_failed_provision_reports_the_failed_step(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        init = h.exit_service("migrate", code=3).model_copy(update={"role": ServiceRole.INIT})
        req = suite.request(h.idle_service("app"), init)
        seen: list[ProgressEvent] = []
        with pytest.raises(ProvisionFailed) as caught:
            async with asyncio.timeout(h.timeout):
                await suite.provider.provision(req, events=seen.append)
        finished = check_step_pairs(seen)
        assert finished, seen
        assert not finished[-1].ok, seen
        assert finished[-1].detail, "the failed step must say why"
        assert caught.value.step
        await suite.assert_gone(req.instance_id)

    async def test_provision_is_idempotent(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        req, first = await suite.provision(h.idle_service("app"), replicas=2)
        async with asyncio.timeout(h.timeout):
            second = await suite.fresh().provision(req)
        assert second.provider_ref == first.provider_ref
        units = await h.running(req.instance_id)
        assert sorted(u.replica for u in units) == [0, 1], f"duplicated or missing: {units}"

    async def test_deprovision_removes_everything_and_is_idempotent(
        self, suite: SuiteContext
    ) -> None:
        suite.require(Capability.PROVISION)
        req, _ = await suite.provision(suite.harness.idle_service("app"))
        await suite.provider.deprovision(req.instance_id)
        await suite.provider.deprovision(req.instance_id)
        await suite.fresh().deprovision(req.instance_id)
        await suite.assert_gone(req.instance_id)

    async def test_missing_image_fails_and_leaves_nothing(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        side = h.idle_service("side").model_copy(
            update={"role": ServiceRole.SIDECAR, "image": h.missing_image}
        )
        req = suite.request(h.idle_service("app"), side)
        with pytest.raises(ProvisionFailed) as caught:
            await suite.provider.provision(req)
        assert caught.value.step
        assert h.missing_image in str(caught.value)
        await suite.assert_gone(req.instance_id)

    async def test_failing_init_fails_provision_and_leaves_nothing(
        self, suite: SuiteContext
    ) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        init = h.exit_service("migrate", code=3, lines=["migration failed"]).model_copy(
            update={"role": ServiceRole.INIT}
        )
        req = suite.request(h.idle_service("app"), init)
        with pytest.raises(ProvisionFailed) as caught:
            await suite.provider.provision(req)
        assert caught.value.step
        assert "migrate" in str(caught.value)
        await suite.assert_gone(req.instance_id)

    async def test_cancelled_provision_leaves_nothing(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        slow = h.exit_service("slow", code=0, delay=h.timeout).model_copy(
            update={"role": ServiceRole.INIT}
        )
        req = suite.request(h.idle_service("app"), slow)
        task = asyncio.create_task(suite.provider.provision(req))

        async def started() -> bool:
            if task.done():
                return True
            return bool(await h.leftovers(req.instance_id))

        await suite.eventually(started, "the provision to create something")
        assert not task.done(), "provision finished although its init sleeps"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await suite.assert_gone(req.instance_id)

    async def test_inits_run_in_order_before_mains(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION, Capability.LOGS)
        h = suite.harness
        first = h.exit_service("init-a", code=0, lines=["init-a ran"])
        second = h.exit_service("init-b", code=0, lines=["init-b ran"]).model_copy(
            update={"depends_on": ["init-a"], "role": ServiceRole.INIT}
        )
        main = h.log_service("app", lines=["app started"])
        req, _ = await suite.provision(
            main, second, first.model_copy(update={"role": ServiceRole.INIT})
        )
        iid = req.instance_id
        a = await _first_lines(suite, iid, "init-a")
        b = await _first_lines(suite, iid, "init-b")
        m = await _first_lines(suite, iid, "app")
        assert a[-1].time <= b[0].time <= m[0].time, "inits did not run in order before main"
        status = await suite.status(iid)
        assert_running(status)
        assert status.services["init-a"].state != "failed"

    async def test_depends_on_orders_mains_and_sidecars(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION, Capability.LOGS)
        h = suite.harness
        db = h.log_service("db", lines=["db up"]).model_copy(update={"role": ServiceRole.SIDECAR})
        app = h.log_service("app", lines=["app up"]).model_copy(update={"depends_on": ["db"]})
        agent = h.log_service("agent", lines=["agent up"]).model_copy(
            update={"role": ServiceRole.SIDECAR, "depends_on": ["app"]}
        )
        req, _ = await suite.provision(agent, app, db)
        iid = req.instance_id
        times = {
            name: (await _first_lines(suite, iid, name))[0].time for name in ("db", "app", "agent")
        }
        assert times["db"] <= times["app"] <= times["agent"], times

    async def test_missing_secret_fails_and_leaves_nothing(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION)
        provider = suite.fresh(secrets=MappingResolver({}))
        app = suite.harness.idle_service("app").model_copy(
            update={"secrets": [SecretRef(key="not-there")]}
        )
        req = suite.request(app)
        with pytest.raises(CtrlplaneError) as caught:
            await provider.provision(req)
        assert "not-there" in str(caught.value)
        await suite.assert_gone(req.instance_id)
