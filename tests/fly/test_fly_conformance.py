"""The conformance suite against the Fly backend on the in-repo fake Machines API.

``logs`` is not declared (the Machines API has no logs endpoint), so the logs tests skip
and the suite's ``NotSupported`` test for logs runs instead. Two tests fail by Fly's
design and are marked ``xfail(strict=True)`` (an unexpected pass fails the run):

- ``test_exec_passes_stdin``: the Machines API's exec request has no stdin field, so the
  provider refuses stdin with ``NotSupported`` saying so (docs/fly.md).
- ``test_scale_changes_limits_and_keeps_replicas`` asks for a 64 MB memory limit: Fly's
  smallest Machine has 256 MB and memory comes in 256 MB steps, so the Machine gets 256
  MB and ``resources()`` reports that (tests/fly/test_provider.py checks a 512 MB scale).

The narrowed runs declare fewer capabilities, so the basics' ``NotSupported`` tests (an
undeclared capability is refused before any work) run against the backend too.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from ctrlplane.errors import NotSupported
from ctrlplane.provider.capabilities import Capability
from ctrlplane.testing.conformance import (
    BasicsContract,
    ProviderConformance,
    SuiteContext,
    SuiteFixture,
)

from .harness import FlyHarness


class TestFlyConformance(ProviderConformance):
    def make_harness(self) -> FlyHarness:
        return FlyHarness()

    @pytest.mark.xfail(
        strict=True,
        raises=NotSupported,
        reason="the Machines API's exec request has no stdin: stdin is refused",
    )
    async def test_exec_passes_stdin(self, suite: SuiteContext) -> None:
        await super().test_exec_passes_stdin(suite)

    @pytest.mark.xfail(
        strict=True,
        raises=pytest.fail.Exception,
        reason="Fly Machines have at least 256 MB, in 256 MB steps: 64 MB becomes 256 MB",
    )
    async def test_scale_changes_limits_and_keeps_replicas(self, suite: SuiteContext) -> None:
        await super().test_scale_changes_limits_and_keeps_replicas(suite)


class TestNarrowedFlyBasics(SuiteFixture, BasicsContract):
    """The basics on a provider that declares only ``provision`` and ``exec``."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    def make_harness(self) -> FlyHarness:
        return FlyHarness(capabilities=[Capability.PROVISION, Capability.EXEC])


class TestWithoutProvisionFlyBasics(TestNarrowedFlyBasics):
    """The basics on a provider that declares neither ``provision`` nor ``exec``."""

    def make_harness(self) -> FlyHarness:
        return FlyHarness(
            capabilities=[
                Capability.DEPLOY,
                Capability.ROLLING,
                Capability.CANARY,
                Capability.BLUE_GREEN,
                Capability.SCALE,
            ]
        )
