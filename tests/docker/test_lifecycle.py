"""Provision, status, start/stop/restart, idempotency and statelessness on a real engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from ctrlplane.errors import InstanceNotFound, InvalidSpec, ProvisionFailed
from ctrlplane.provider import InstanceState
from ctrlplane.provider.docker import DockerProvider

from .conftest import fast_config
from .helpers import IMAGE, http_get_async, loop_cmd, public_url, request, sh, web


async def test_provision_status_and_lifecycle(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    req = request(
        iid,
        {"name": "prep", "image": IMAGE, "role": "init", "command": ["sh", "-c", "echo prepared"]},
        web(depends_on=["prep"]),
        {"name": "agent", "image": IMAGE, "role": "sidecar", "command": loop_cmd()},
    )
    result = await provider.provision(req)
    try:
        assert result.provider_ref == f"cp-{iid}"
        assert set(result.service_refs) == {"prep", "web", "agent"}
        status = await provider.status(iid)
        assert status.state is InstanceState.RUNNING
        assert status.ready
        assert status.started_at is not None
        assert status.services["web"].state is InstanceState.RUNNING
        assert status.services["agent"].state is InstanceState.RUNNING
        assert status.services["prep"].message == "completed"
        assert status.services["web"].provider_ref == result.service_refs["web"]
        # published on 127.0.0.1 and serving
        url = public_url(status.endpoints, "web")
        assert url.startswith("http://127.0.0.1:")
        code, body = await http_get_async(url + "/")
        assert code == 200
        assert "hello from ctrlplane-example" in body
        inner = [e for e in status.endpoints if not e.public]
        assert [e.url for e in inner] == ["tcp://web:8080"]

        # idempotent: same ID again converges to the same workload
        again = await provider.provision(req)
        assert again.service_refs == result.service_refs

        await provider.stop(iid)
        stopped = await provider.status(iid)
        assert stopped.state is InstanceState.STOPPED
        assert not stopped.ready
        await provider.stop(iid)  # idempotent

        await provider.start(iid)
        assert (await provider.status(iid)).state is InstanceState.RUNNING
        await provider.start(iid)  # idempotent

        before = (await provider.status(iid)).started_at
        await provider.restart(iid)
        after = await provider.status(iid)
        assert after.state is InstanceState.RUNNING
        assert before is not None
        assert after.started_at is not None
        assert after.started_at > before
    finally:
        await provider.deprovision(iid)
    await provider.deprovision(iid)  # idempotent
    with pytest.raises(InstanceNotFound):
        await provider.status(iid)


async def test_depends_on_orders_start(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    """Inits run in depends_on order; a sidecar starts only after what it depends on."""
    iid = make_id()
    log = "/data/order"
    vol = [{"name": "shared", "mount_path": "/data"}]
    req = request(
        iid,
        {
            "name": "second",
            "image": IMAGE,
            "role": "init",
            "depends_on": ["first"],
            "volumes": vol,
            "command": ["sh", "-c", f"echo second >> {log}"],
        },
        {
            "name": "first",
            "image": IMAGE,
            "role": "init",
            "volumes": vol,
            "command": ["sh", "-c", f"sleep 0.3; echo first >> {log}"],
        },
        {
            "name": "late",
            "image": IMAGE,
            "role": "sidecar",
            "depends_on": ["web"],
            "volumes": vol,
            "command": [
                "sh",
                "-c",
                f"wget -qO- http://localhost:8080/ >/dev/null && echo late-saw-web >> {log}; "
                "trap 'exit 0' TERM; while true; do sleep 1 & wait; done",
            ],
        },
        web(volumes=vol),
    )
    await provider.provision(req)
    try:
        await asyncio.sleep(0.3)
        code, out, _ = await sh(provider, iid, f"cat {log}")
        assert code == 0
        assert out.split() == ["first", "second", "late-saw-web"]
    finally:
        await provider.deprovision(iid)


async def test_fresh_provider_manages_existing_instance(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    await provider.provision(request(iid))
    try:
        other = DockerProvider(fast_config())
        status = await other.status(iid)
        assert status.state is InstanceState.RUNNING
        assert [s.instance_id for s in await other.list_instances("tenant-test")].count(iid) == 1
        await other.stop(iid)
        assert (await provider.status(iid)).state is InstanceState.STOPPED
        await other.start(iid)
        code, out, _ = await sh(other, iid, "echo hi")
        assert (code, out) == (0, "hi\n")
    finally:
        await DockerProvider(fast_config()).deprovision(iid)


async def test_main_exiting_non_zero_is_failed(make_id: Callable[[], str]) -> None:
    provider = DockerProvider(fast_config(restart_policy="no"))
    iid = make_id()
    await provider.provision(
        request(iid, {"name": "app", "image": IMAGE, "command": ["sh", "-c", "sleep 1; exit 3"]})
    )
    try:
        await asyncio.sleep(1.5)
        status = await provider.status(iid)
        assert status.state is InstanceState.FAILED
        assert status.services["app"].state is InstanceState.FAILED
        assert "exited with code 3" in status.services["app"].message
        assert "app" in status.message
    finally:
        await provider.deprovision(iid)


async def test_restarts_are_counted(make_id: Callable[[], str]) -> None:
    provider = DockerProvider(fast_config(restart_policy="on-failure", restart_max_retries=2))
    iid = make_id()
    await provider.provision(
        request(iid, {"name": "app", "image": IMAGE, "command": ["sh", "-c", "sleep 0.5; exit 1"]})
    )
    try:
        for _ in range(40):
            status = await provider.status(iid)
            if status.restarts >= 2 and status.state is InstanceState.FAILED:
                break
            await asyncio.sleep(0.25)
        assert status.restarts == 2
        assert status.services["app"].restarts == 2
        assert status.state is InstanceState.FAILED
    finally:
        await provider.deprovision(iid)


async def test_unknown_instance(provider: DockerProvider, make_id: Callable[[], str]) -> None:
    iid = make_id()
    with pytest.raises(InstanceNotFound):
        await provider.status(iid)
    with pytest.raises(InstanceNotFound):
        await provider.stop(iid)
    await provider.deprovision(iid)


async def test_invalid_requests_create_nothing(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    with pytest.raises(InvalidSpec) as exc:
        await provider.provision(
            request(
                iid, web(ports=[{"container": 70000, "host": 18080}], resources={"replicas": 2})
            )
        )
    assert "services[0].ports[0].container" in str(exc.value)
    with pytest.raises(InvalidSpec):
        await provider.provision(request(iid, web(depends_on=["web"])))
    with pytest.raises(InvalidSpec):
        await provider.provision(request(iid, web(resources={"disk_mb": 100})))


async def test_dependents_wait_for_health_check(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    slow_web = web(
        command=["sh", "-c", "trap 'exit 0' TERM; sleep 1; httpd -f -p 8080 -h /var/www & wait"],
        health_check={
            "path": "/",
            "port": 8080,
            "interval": "250ms",
            "timeout": "250ms",
            "retries": 20,
        },
    )
    probe = (
        "wget -qO- http://localhost:8080/ >/tmp/first 2>&1; echo $? >> /tmp/first; "
        "trap 'exit 0' TERM; while true; do sleep 1 & wait; done"
    )
    await provider.provision(
        request(
            iid,
            slow_web,
            {
                "name": "client",
                "image": IMAGE,
                "role": "sidecar",
                "depends_on": ["web"],
                "command": ["sh", "-c", probe],
            },
        )
    )
    try:
        code, out, _ = await sh(provider, iid, "cat /tmp/first", service="client")
        assert code == 0
        assert out.endswith("0\n")
        assert "hello from ctrlplane-example" in out
    finally:
        await provider.deprovision(iid)


async def test_failing_dependency_health_check_fails_provision(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    sick = web(
        health_check={
            "path": "/missing",
            "port": 8080,
            "interval": "100ms",
            "timeout": "100ms",
            "retries": 2,
        }
    )
    client = {
        "name": "client",
        "image": IMAGE,
        "role": "sidecar",
        "depends_on": ["web"],
        "command": loop_cmd(),
    }
    with pytest.raises(ProvisionFailed) as exc:
        await provider.provision(request(iid, sick, client))
    assert exc.value.step == "health check of service web (replica 0)"
    assert "HTTP 404" in exc.value.reason


async def test_ready_follows_the_health_check(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    app = web(
        command=[
            "sh",
            "-c",
            "trap 'exit 0' TERM; mkdir -p /tmp/www; httpd -f -p 8080 -h /tmp/www & wait",
        ],
        health_check={"path": "/healthz", "port": 8080, "interval": "300ms", "timeout": "300ms"},
    )
    await provider.provision(request(iid, app))
    try:
        status = await provider.status(iid)
        assert status.state is InstanceState.RUNNING
        assert not status.ready
        assert not status.services["web"].ready
        assert "health check failing: HTTP 404" in status.services["web"].message
        await sh(provider, iid, "echo ok > /tmp/www/healthz")
        status = await provider.status(iid)
        assert status.ready
        assert status.services["web"].ready
    finally:
        await provider.deprovision(iid)
