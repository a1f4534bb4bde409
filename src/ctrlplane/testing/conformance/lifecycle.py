"""Contract: status across start, stop and restart; stateless provider objects; volumes."""

from __future__ import annotations

import asyncio

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.results import InstanceStatus
from ctrlplane.provider.spec import VolumeSpec
from ctrlplane.testing.conformance.context import SuiteContext, assert_running

__all__ = ["LifecycleContract"]


def _long_lived(status: InstanceStatus, inits: set[str]) -> dict[str, InstanceState]:
    return {name: s.state for name, s in status.services.items() if name not in inits}


class LifecycleContract:
    """``status``, ``start``, ``stop``, ``restart``."""

    async def test_status_reports_every_service_and_aggregates(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        side = h.idle_service("side").model_copy(update={"role": ServiceRole.SIDECAR})
        init = h.exit_service("setup", code=0).model_copy(update={"role": ServiceRole.INIT})
        req, _ = await suite.provision(h.http_service("web", port=h.http_port), side, init)
        status = await suite.status(req.instance_id)
        assert set(status.services) == {"web", "side", "setup"}
        for name in ("web", "side"):
            svc = status.services[name]
            assert svc.state == InstanceState.RUNNING, (name, svc)
            assert svc.ready, (name, svc)
        assert status.services["setup"].state != InstanceState.FAILED
        assert status.state == InstanceState.RUNNING
        assert status.ready
        assert status.restarts == sum(s.restarts for s in status.services.values())
        assert status.started_at is not None
        web = [e for e in status.endpoints if e.service_name == "web"]
        assert web, f"no endpoint for web in {status.endpoints}"
        assert await suite.message(req.instance_id) == ""

    async def test_a_crashing_service_makes_the_instance_worst_of(
        self, suite: SuiteContext
    ) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        crash = h.exit_service("crasher", code=3, delay=h.crash_delay).model_copy(
            update={"role": ServiceRole.SIDECAR}
        )
        req, _ = await suite.provision(h.idle_service("app"), crash)
        iid = req.instance_id

        async def degraded() -> bool:
            status = await suite.status(iid)
            crasher = status.services["crasher"]
            assert status.restarts == sum(s.restarts for s in status.services.values())
            if crasher.state == InstanceState.RUNNING and crasher.restarts == 0:
                return False  # not crashed yet
            if crasher.state != InstanceState.RUNNING:
                assert not crasher.ready, crasher
                assert not status.ready, status
                assert status.state.severity >= crasher.state.severity, status
            assert status.services["app"].state == InstanceState.RUNNING, status
            return True

        await suite.eventually(degraded, "the crashed sidecar to show in status")

    async def test_stop_and_start_are_idempotent_and_reported(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        side = h.idle_service("side").model_copy(update={"role": ServiceRole.SIDECAR})
        web = h.http_service("web", port=h.http_port, env={"MESSAGE": "hello"})
        req, _ = await suite.provision(web, side)
        iid = req.instance_id
        async with asyncio.timeout(h.timeout):
            await suite.provider.stop(iid)
            await suite.provider.stop(iid)
        status = await suite.status(iid)
        assert status.state == InstanceState.STOPPED, status
        assert not status.ready, status
        assert set(_long_lived(status, set()).values()) == {InstanceState.STOPPED}, status
        assert await h.running(iid) == []
        async with asyncio.timeout(h.timeout):
            await suite.provider.start(iid)
            await suite.provider.start(iid)

        async def serving() -> bool:
            status = await suite.status(iid)
            assert_running(status)
            return await suite.message(iid) == "hello"

        await suite.eventually(serving, "the instance to serve again after start")

    async def test_restart_keeps_serving_and_renews_started_at(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        req, _ = await suite.provision(h.http_service("web", port=h.http_port))
        iid = req.instance_id
        before = await suite.status(iid)
        assert before.started_at is not None
        async with asyncio.timeout(h.timeout):
            await suite.provider.restart(iid)

        async def serving() -> bool:
            after = await suite.status(iid)
            assert_running(after)
            assert after.started_at is not None
            assert before.started_at is not None
            assert after.started_at >= before.started_at
            return await suite.message(iid) == ""

        await suite.eventually(serving, "the instance to serve again after restart")

    async def test_fresh_provider_objects_manage_existing_instances(
        self, suite: SuiteContext
    ) -> None:
        suite.require(Capability.PROVISION)
        h = suite.harness
        req, _ = await suite.provision(h.idle_service("app"))
        iid = req.instance_id
        other = suite.fresh()
        assert (await suite.status(iid, other)).state == InstanceState.RUNNING
        async with asyncio.timeout(h.timeout):
            await other.stop(iid)
        assert (await suite.status(iid)).state == InstanceState.STOPPED
        async with asyncio.timeout(h.timeout):
            await suite.fresh().start(iid)
        assert (await suite.status(iid)).state == InstanceState.RUNNING
        async with asyncio.timeout(h.timeout):
            await suite.fresh().deprovision(iid)
        await suite.assert_gone(iid)

    async def test_volume_contents_survive_a_restart(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION, Capability.VOLUMES, Capability.EXEC)
        h = suite.harness
        app = h.idle_service("app").model_copy(
            update={"volumes": [VolumeSpec(name="data", mount_path="/data")]}
        )
        req, _ = await suite.provision(app)
        iid = req.instance_id
        wrote = await suite.run(iid, "sh", "-c", "echo kept > /data/file")
        assert wrote.exit_code == 0, wrote
        async with asyncio.timeout(h.timeout):
            await suite.provider.restart(iid)

        async def kept() -> bool:
            res = await suite.run(iid, "cat", "/data/file")
            assert (res.exit_code, res.stdout) == (0, b"kept\n"), res
            return True

        await suite.eventually(kept, "the volume's file after restart")
