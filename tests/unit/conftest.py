"""Shared fixtures of the unit suite: Go-shaped JSON fixtures and a minimal provider double."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from ctrlplane.errors import NotSupported
from ctrlplane.provider import (
    Capability,
    DeployRequest,
    DeployResult,
    ExecRequest,
    ExecResult,
    InstanceStatus,
    LogOptions,
    LogRecord,
    LogStream,
    ProviderInfo,
    ProvisionRequest,
    ProvisionResult,
    ResourceSpec,
    ResourceUsage,
)

GO_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "go"


class StubProvider:
    """The smallest object satisfying the ``Provider`` protocol: it declares capabilities
    and refuses every operation with ``NotSupported``."""

    def __init__(self, name: str, capabilities: Sequence[Capability | str] = ()) -> None:
        self.name = name
        self._capabilities = [Capability(c) for c in capabilities]

    def __repr__(self) -> str:
        return f"StubProvider({self.name!r})"

    def info(self) -> ProviderInfo:
        return ProviderInfo(name=self.name, version="0", region="test")

    def capabilities(self) -> Sequence[Capability]:
        return list(self._capabilities)

    def _refuse(self, what: str) -> NotSupported:
        return NotSupported(self.name, what)

    async def provision(self, req: ProvisionRequest) -> ProvisionResult:
        raise self._refuse("provision")

    async def deprovision(self, instance_id: str) -> None:
        raise self._refuse("deprovision")

    async def start(self, instance_id: str) -> None:
        raise self._refuse("start")

    async def stop(self, instance_id: str) -> None:
        raise self._refuse("stop")

    async def restart(self, instance_id: str) -> None:
        raise self._refuse("restart")

    async def status(self, instance_id: str) -> InstanceStatus:
        raise self._refuse("status")

    async def deploy(self, req: DeployRequest) -> DeployResult:
        raise self._refuse("deploy")

    async def rollback(self, instance_id: str, release_id: str) -> None:
        raise self._refuse("rollback")

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        raise self._refuse("scale")

    async def resources(self, instance_id: str) -> ResourceUsage:
        raise self._refuse("resources")

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        async def opener() -> AsyncIterator[LogRecord]:
            raise self._refuse("logs")

        return LogStream(opener)

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        raise self._refuse("exec")


@pytest.fixture
def make_provider() -> Callable[..., StubProvider]:
    """Build a :class:`StubProvider`: ``make_provider("name", [Capability.LOGS, ...])``."""
    return StubProvider


@pytest.fixture
def go_json() -> Callable[[str], str]:
    """Read a Go-shaped JSON fixture from ``tests/fixtures/go`` by file name."""

    def read(name: str) -> str:
        return (GO_FIXTURES / name).read_text(encoding="utf-8")

    return read
