"""The per-test helper of the conformance suite: the ``suite`` fixture's value.

It makes requests with fresh instance IDs, remembers them, and at the end of the test
deprovisions them and fails the test if the backend still holds anything of them. Every
wait is deadline-based: :meth:`SuiteContext.eventually` polls until a check passes or
``harness.timeout`` runs out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TypeVar

import pytest

from ctrlplane.errors import CtrlplaneError, InstanceNotFound
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.capabilities import Capability, has_capability, strategy_capability
from ctrlplane.provider.enums import DeployStrategy, InstanceState, ServiceRole, WorkloadKind
from ctrlplane.provider.protocol import Provider
from ctrlplane.provider.results import ExecResult, InstanceStatus, ProvisionResult
from ctrlplane.provider.spec import (
    ExecRequest,
    HealthCheckSpec,
    ProvisionRequest,
    ResourceSpec,
    ServiceSpec,
)
from ctrlplane.secrets import SecretResolver
from ctrlplane.testing.conformance.harness import ConformanceHarness

__all__ = ["SuiteContext", "assert_running"]

T = TypeVar("T")


def assert_running(status: InstanceStatus) -> None:
    """``status`` says running and ready."""
    assert status.state == InstanceState.RUNNING, status
    assert status.ready, status


class SuiteContext:
    """Helpers shared by the conformance tests; ``provider`` is made at the test's start."""

    def __init__(self, harness: ConformanceHarness) -> None:
        self.harness = harness
        self.provider: Provider = harness.make_provider()
        self.instances: list[str] = []

    # capabilities

    def require(self, *capabilities: Capability) -> None:
        """Skip the test unless the provider declares every one of ``capabilities``."""
        for cap in capabilities:
            if not has_capability(self.provider, cap):
                pytest.skip(f"provider does not declare {cap.value!r}")

    def has(self, capability: Capability) -> bool:
        """Whether the provider declares ``capability``."""
        return has_capability(self.provider, capability)

    def strategy(self) -> DeployStrategy:
        """A strategy the provider declares (rolling if it does); skips if it declares none."""
        for strategy in DeployStrategy:
            if self.has(strategy_capability(strategy)):
                return strategy
        pytest.skip("provider declares no deploy strategy")

    def health_check(self, port: int, *, retries: int = 0) -> HealthCheckSpec:
        """An HTTP check of ``/healthz`` on ``port`` with the harness's probe timing."""
        interval = timedelta(seconds=self.harness.probe_interval)
        return HealthCheckSpec(
            path="/healthz",
            port=port,
            interval=interval,
            timeout=interval,
            retries=retries or self.harness.probe_retries,
        )

    # requests

    def request(
        self,
        *services: ServiceSpec,
        replicas: int = 0,
        kind: WorkloadKind = WorkloadKind.DEPLOYMENT,
        name: str = "conformance",
    ) -> ProvisionRequest:
        """A request with a new instance ID (removed after the test). ``replicas`` goes on
        the main service."""
        iid = new_id(INSTANCE_PREFIX)
        self.instances.append(iid)
        specs = [
            s.model_copy(update={"resources": ResourceSpec(replicas=replicas)})
            if replicas and s.role is ServiceRole.MAIN
            else s
            for s in services
        ]
        return ProvisionRequest(
            instance_id=iid,
            tenant_id="conformance",
            name=name,
            kind=kind,
            services=specs,
            labels={"suite": "conformance"},
        )

    async def provision(
        self, *services: ServiceSpec, replicas: int = 0, provider: Provider | None = None
    ) -> tuple[ProvisionRequest, ProvisionResult]:
        """Provision a new instance of ``services`` within the timeout."""
        req = self.request(*services, replicas=replicas)
        async with asyncio.timeout(self.harness.timeout):
            result = await (provider or self.provider).provision(req)
        return req, result

    def fresh(self, *, secrets: SecretResolver | None = None) -> Provider:
        """A new provider object on the same backend."""
        return self.harness.make_provider(secrets=secrets)

    # waiting

    async def eventually(
        self, check: Callable[[], Awaitable[T]], what: str, *, within: float | None = None
    ) -> T:
        """Poll ``check`` until it returns a truthy value (returned) or raises no
        ``AssertionError``, ``OSError`` or ctrlplane error; fail with ``what`` when the
        timeout (``within``, default ``harness.timeout``) runs out."""
        limit = self.harness.timeout if within is None else within
        deadline = time.monotonic() + limit
        last: BaseException | None = None
        while True:
            try:
                value = await check()
                if value:
                    return value
                last = None
            except (AssertionError, OSError, CtrlplaneError) as exc:
                last = exc
            if time.monotonic() >= deadline:
                detail = f": {last}" if last else ""
                pytest.fail(f"timed out after {limit:g}s waiting for {what}{detail}")
            await asyncio.sleep(self.harness.poll_interval)

    # observing

    async def status(self, iid: str, provider: Provider | None = None) -> InstanceStatus:
        """``status`` within the timeout."""
        async with asyncio.timeout(self.harness.timeout):
            return await (provider or self.provider).status(iid)

    async def http(
        self, iid: str, service: str, path: str = "/", provider: Provider | None = None
    ) -> tuple[int, bytes]:
        """GET ``path`` from ``service`` through the endpoints its status lists."""
        status = await self.status(iid, provider)
        endpoints = [e for e in status.endpoints if e.service_name == service]
        assert endpoints, f"status lists no endpoint for service {service!r}"
        async with asyncio.timeout(self.harness.timeout):
            return await self.harness.http_get(endpoints, path)

    async def message(self, iid: str, service: str = "web") -> str:
        """The ``MESSAGE`` an http service serves on ``/`` (asserting status 200)."""
        code, body = await self.http(iid, service, "/")
        assert code == 200, f"GET / of {service} answered {code}"
        return body.decode()

    async def images(self, iid: str) -> dict[str, set[str]]:
        """Images of the running containers, per service, as the backend reports them."""
        out: dict[str, set[str]] = {}
        for unit in await self.harness.running(iid):
            out.setdefault(unit.service, set()).add(unit.image)
        return out

    async def replicas(self, iid: str, service: str) -> int:
        """How many replicas of ``service`` run, as the backend reports it."""
        return len({u.replica for u in await self.harness.running(iid) if u.service == service})

    async def run(
        self,
        iid: str,
        *argv: str,
        service: str = "",
        stdin: bytes | None = None,
        replica: int | None = None,
    ) -> ExecResult:
        """``exec`` of ``argv`` within the timeout."""
        req = ExecRequest(command=list(argv), service=service, stdin=stdin, replica=replica)
        async with asyncio.timeout(self.harness.timeout):
            return await self.provider.exec(iid, req)

    async def assert_gone(self, iid: str) -> None:
        """The backend holds nothing of ``iid`` (eventually) and status says not found."""

        async def nothing_left() -> bool:
            left = await self.harness.leftovers(iid)
            assert not left, f"left on the backend: {left}"
            return True

        await self.eventually(nothing_left, f"nothing of {iid} to be left")
        with pytest.raises(InstanceNotFound):
            await self.provider.status(iid)

    async def cleanup(self) -> None:
        """Deprovision every instance of the test and check nothing is left."""
        provider = self.fresh()
        problems: list[str] = []
        for iid in self.instances:
            try:
                async with asyncio.timeout(self.harness.timeout):
                    await provider.deprovision(iid)
                left = await self._settle(iid)
            except Exception as exc:  # report every instance, then fail
                problems.append(f"{iid}: cleanup failed: {type(exc).__name__}: {exc}")
                continue
            if left:
                problems.append(f"{iid}: left after deprovision: {left}")
        if problems:
            pytest.fail("\n".join(problems))

    async def _settle(self, iid: str) -> Sequence[str]:
        deadline = time.monotonic() + self.harness.timeout
        while True:
            left = await self.harness.leftovers(iid)
            if not left or time.monotonic() >= deadline:
                return left
            await asyncio.sleep(self.harness.poll_interval)
