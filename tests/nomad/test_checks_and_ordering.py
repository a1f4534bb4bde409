"""Exec health checks through Consul or ctrlplane's own probes, and ``depends_on`` a
health-checked service (Nomad orders tasks only until a dependency *started*: accepted
by default, refused when configured so)."""

from __future__ import annotations

import pytest

from ctrlplane.errors import NotSupported, ProvisionFailed
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.spec import HealthCheckSpec, ProvisionRequest, ServiceSpec

from .harness import NAMESPACE, NomadHarness


def _request(*services: ServiceSpec) -> ProvisionRequest:
    return ProvisionRequest(
        instance_id=new_id(INSTANCE_PREFIX), tenant_id="t", name="n", services=list(services)
    )


def _checked_web_and_shipper(h: NomadHarness) -> ProvisionRequest:
    web = h.http_service("web", port=8080).model_copy(
        update={"health_check": HealthCheckSpec(path="/healthz", port=8080)}
    )
    shipper = h.idle_service("shipper").model_copy(
        update={"role": ServiceRole.SIDECAR, "depends_on": ["web"]}
    )
    return _request(web, shipper)


async def test_depends_on_a_health_checked_service_is_refused_when_configured() -> None:
    h = NomadHarness(dependency_health="refuse")
    await h.setup()
    try:
        with pytest.raises(NotSupported) as caught:
            await h.make_provider().provision(_checked_web_and_shipper(h))
        text = str(caught.value)
        assert "'shipper' on 'web'" in text
        assert "only until a dependency started" in text
        assert 'dependency_health="started"' in text
        assert not [r for r in h.agent.requests if r.method != "GET"]
    finally:
        await h.teardown()


async def test_started_only_ordering_is_accepted_by_default() -> None:
    h = NomadHarness()
    await h.setup()
    try:
        provider = h.make_provider()
        req = _checked_web_and_shipper(h)
        await provider.provision(req)
        status = await provider.status(req.instance_id)
        assert status.state == InstanceState.RUNNING
        tasks = h.agent.state.job(NAMESPACE, req.instance_id).current["TaskGroups"][0]["Tasks"]  # type: ignore[union-attr]
        hooks = {t["Name"]: t.get("Lifecycle") for t in tasks}
        assert hooks == {"web": None, "shipper": {"Hook": "poststart", "Sidecar": True}}
    finally:
        await h.teardown()


async def test_exec_checks_run_as_consul_script_checks() -> None:
    h = NomadHarness(consul=True)  # service_provider "auto" finds Consul on the node
    await h.setup()
    try:
        provider = h.make_provider()
        check = HealthCheckSpec(command=["sh", "-c", "printenv READY"])
        ready = h.idle_service("app", env={"READY": "yes"}).model_copy(
            update={"health_check": check}
        )
        req = _request(ready)
        await provider.provision(req)
        job = h.agent.state.job(NAMESPACE, req.instance_id)
        assert job is not None
        (service,) = job.current["TaskGroups"][0]["Services"]
        assert service["Provider"] == "consul"
        (script,) = service["Checks"]
        assert (script["Type"], script["Command"], script["Args"], script["TaskName"]) == (
            "script",
            "sh",
            ["-c", "printenv READY"],
            "app",
        )
        assert (await provider.status(req.instance_id)).state == InstanceState.RUNNING

        unready = h.idle_service("app").model_copy(update={"health_check": check})
        bad = _request(unready)
        with pytest.raises(ProvisionFailed, match="wait for healthy allocations"):
            await provider.provision(bad)  # the agent ran the script: printenv exits 1
        assert h.agent.leftovers(NAMESPACE, bad.instance_id) == []
    finally:
        await h.teardown()
