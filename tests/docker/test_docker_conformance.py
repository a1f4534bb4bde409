"""The conformance suite (``ctrlplane.testing.conformance``) against the real Docker engine.

Services run on ``ctrlplane-conformance/busybox:<1-4>`` (tags of the locally built busybox
image, made by scripts/build-images.sh); HTTP goes through the ports published on
127.0.0.1. Besides the fully capable run, two narrowed runs declare fewer capabilities,
so the suite's "undeclared capability is refused before work" tests run against the real
engine (everything needing a missing capability is skipped).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from typing import ClassVar

import aiodocker
import pytest

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.docker import DockerProvider
from ctrlplane.provider.results import Endpoint
from ctrlplane.secrets import SecretResolver
from ctrlplane.testing.conformance import (
    BasicsContract,
    BusyboxServices,
    ConformanceHarness,
    ProviderConformance,
    RunningUnit,
    SuiteFixture,
)

from .conftest import fast_config

LABEL = "io.ctrlplane.instance"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class DockerHarness(BusyboxServices, ConformanceHarness):
    """Docker backend adapter: a fresh ``DockerProvider`` per call, state read via aiodocker."""

    timeout = 60.0
    poll_interval = 0.1
    probe_interval = 0.3
    probe_retries = 3
    log_tick = 0.3
    missing_image = "ctrlplane-conformance/missing-image:0"
    crash_delay = 2.0
    canary_observation = 3.0  # longer than crash_delay: a canary that crashes is seen
    black_hole_limit = 8.0

    def __init__(self, capabilities: Iterable[Capability] | None = None) -> None:
        self.capabilities = None if capabilities is None else tuple(capabilities)

    def make_provider(self, *, secrets: SecretResolver | None = None) -> DockerProvider:
        return DockerProvider(
            fast_config(pull_policy="if-not-present", canary_observation=self.canary_observation),
            secrets=secrets,
            capabilities=self.capabilities,
        )

    def black_hole_provider(self, address: str) -> DockerProvider:
        """A provider whose engine (``tcp://address``) accepts and never answers: every
        call ends after one silent request (``request_timeout``)."""
        config = fast_config(
            docker_host=f"tcp://{address}",
            connect_timeout=1,
            request_timeout=2,
            provision_timeout=5,
        )
        return DockerProvider(config, capabilities=self.capabilities)

    async def http_get(self, endpoints: Sequence[Endpoint], path: str = "/") -> tuple[int, bytes]:
        public = [e for e in endpoints if e.public]
        if not public:
            raise OSError(f"no published endpoint among {endpoints}")
        last: OSError | None = None
        for ep in public:
            url = "http://" + ep.url.split("://", 1)[1] + path
            try:
                return await asyncio.to_thread(_get, url)
            except OSError as exc:
                last = exc
        assert last is not None
        raise last

    async def running(self, instance_id: str) -> list[RunningUnit]:
        flt = {"label": [f"{LABEL}={instance_id}"], "status": ["running"]}
        async with aiodocker.Docker() as client:
            found = await client.containers.list(filters=flt)
        units = []
        for c in found:
            labels = c._container["Labels"]
            if "io.ctrlplane.front" in labels or "io.ctrlplane.pod" in labels:
                continue  # a published port's front, a unit's namespace holder: no units
            units.append(
                RunningUnit(
                    service=labels["io.ctrlplane.service"],
                    replica=int(labels["io.ctrlplane.replica"]),
                    image=c._container["Image"],
                )
            )
        return units

    async def leftovers(self, instance_id: str) -> list[str]:
        flt = {"label": [f"{LABEL}={instance_id}"]}
        async with aiodocker.Docker() as client:
            containers = await client.containers.list(all=True, filters=flt)
            networks = await client.networks.list(filters=flt)
            # aiodocker's DockerVolumes.list has no annotations.
            volumes = (await client.volumes.list(filters=flt))["Volumes"] or []  # type: ignore[no-untyped-call]
        return (
            [f"container {c.id}" for c in containers]
            + [f"network {n['Name']}" for n in networks]
            + [f"volume {v['Name']}" for v in volumes]
        )

    async def backend_text(self, instance_id: str) -> str:
        flt = {"label": [f"{LABEL}={instance_id}"]}
        parts: list[object] = []
        async with aiodocker.Docker() as client:
            for c in await client.containers.list(all=True, filters=flt):
                info = await c.show()
                parts.append(
                    {
                        "name": info["Name"],
                        "labels": info["Config"]["Labels"],
                        "cmd": info["Config"]["Cmd"],
                        "entrypoint": info["Config"]["Entrypoint"],
                        "path": info["Path"],
                        "args": info["Args"],
                        "mounts": info["Mounts"],
                    }
                )
            for n in await client.networks.list(filters=flt):
                parts.append({"network": n["Name"], "labels": n["Labels"]})
            # aiodocker's DockerVolumes.list has no annotations.
            for v in (await client.volumes.list(filters=flt))["Volumes"] or []:  # type: ignore[no-untyped-call]
                parts.append({"volume": v["Name"], "labels": v["Labels"]})
        return json.dumps(parts)


class TestDockerConformance(ProviderConformance):
    def make_harness(self) -> DockerHarness:
        return DockerHarness()


class TestBareDockerConformance(SuiteFixture, BasicsContract):
    """Nothing declared: every gated method is refused before any engine call. (The
    basics only: every other contract's tests need a capability, or repeat the full run.)"""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    def make_harness(self) -> DockerHarness:
        return DockerHarness(capabilities=[])


class TestNarrowedDockerConformance(SuiteFixture, BasicsContract):
    """Provision only: deploy, scale, logs, exec and every strategy are refused on a real
    instance, which stays as it was. (The basics only: the other contracts' tests that
    need no more than provision repeat the full run's.)"""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    def make_harness(self) -> DockerHarness:
        return DockerHarness(capabilities=[Capability.PROVISION])
