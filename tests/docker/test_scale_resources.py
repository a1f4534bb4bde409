"""Limits in the engine, scale (limits in place, replica count), resource usage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiodocker
import pytest

from ctrlplane.errors import InvalidSpec
from ctrlplane.provider import InstanceState, ResourceSpec
from ctrlplane.provider.docker import DockerProvider

from .helpers import IMAGE, loop_cmd, request, sh, web


async def _host_config(name: str) -> dict[str, Any]:
    async with aiodocker.Docker() as client:
        info = await client.containers.get(name)
    host_config: dict[str, Any] = info["HostConfig"]
    return host_config


async def test_limits_and_scale(provider: DockerProvider, make_id: Callable[[], str]) -> None:
    iid = make_id()
    req = request(
        iid,
        {
            "name": "prep",
            "image": IMAGE,
            "role": "init",
            "command": ["true"],
            "config_files": [{"name": "conf", "path": "/etc/conf.txt", "content": "v1"}],
        },
        web(
            resources={"cpu_millis": 250, "memory_mb": 48},
            config_files=[{"name": "conf", "path": "/etc/conf.txt", "content": "v1"}],
        ),
        {"name": "agent", "image": IMAGE, "role": "sidecar", "command": loop_cmd()},
    )
    await provider.provision(req)
    try:
        hc = await _host_config(f"cp-{iid}-0-web")
        assert hc["NanoCpus"] == 250_000_000
        assert hc["Memory"] == 48 * 1024 * 1024
        code, out, _ = await sh(
            provider,
            iid,
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
            "2>/dev/null || cat /sys/fs/cgroup/memory.max",
        )
        assert int(out.strip()) == 48 * 1024 * 1024

        usage = await provider.resources(iid)
        assert usage.memory_used_mb >= 0
        assert usage.memory_limit_mb >= 48
        assert usage.cpu_percent >= 0

        # limits change in place (same container)
        before = (await provider.status(iid)).services["web"].provider_ref
        await provider.scale(iid, ResourceSpec(cpu_millis=500, memory_mb=64))
        hc = await _host_config(f"cp-{iid}-0-web")
        assert (hc["NanoCpus"], hc["Memory"]) == (500_000_000, 64 * 1024 * 1024)
        assert (await provider.status(iid)).services["web"].provider_ref == before

        # more replicas: new units start in order, with the current limits and files
        published = [e.url for e in (await provider.status(iid)).endpoints if e.public]
        assert len(published) == 1  # the front's, for every replica
        await provider.scale(iid, ResourceSpec(replicas=3))
        status = await provider.status(iid)
        assert status.metadata["replicas"] == "3"
        assert status.state is InstanceState.RUNNING
        assert [e.url for e in status.endpoints if e.public] == published
        hc = await _host_config(f"cp-{iid}-2-web")
        assert (hc["NanoCpus"], hc["Memory"]) == (500_000_000, 64 * 1024 * 1024)
        code, out, _ = await sh(provider, iid, "cat /etc/conf.txt", replica=2)
        assert (code, out) == (0, "v1")
        code, out, _ = await sh(
            provider, iid, "wget -qO- http://localhost:8080/", service="agent", replica=2
        )
        assert code == 0
        assert "hello" in out

        await provider.scale(iid, ResourceSpec(replicas=1))
        status = await provider.status(iid)
        assert status.metadata["replicas"] == "1"
        assert [e.url for e in status.endpoints if e.public] == published

        with pytest.raises(InvalidSpec):
            await provider.scale(iid, ResourceSpec())
    finally:
        await provider.deprovision(iid)


async def test_resources_sum_over_containers(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    busy = ["sh", "-c", "trap 'exit 0' TERM; while true; do :; done & wait"]
    await provider.provision(
        request(
            iid,
            {
                "name": "app",
                "image": IMAGE,
                "command": busy,
                "resources": {"cpu_millis": 300, "memory_mb": 32},
            },
            {
                "name": "agent",
                "image": IMAGE,
                "role": "sidecar",
                "command": loop_cmd(),
                "resources": {"memory_mb": 16},
            },
        )
    )
    try:
        await sh(provider, iid, "wget -qO- http://127.0.0.1:1/ || true")
        usage = await provider.resources(iid)
        assert usage.memory_limit_mb == 48
        assert 10 <= usage.cpu_percent <= 45  # capped at 0.3 cores
        assert usage.memory_used_mb >= 0
    finally:
        await provider.deprovision(iid)
