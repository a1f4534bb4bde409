"""The conformance suite against the Fly backend on the in-repo fake Machines API.

``logs`` is not declared (the Machines API has no logs endpoint), so the logs tests skip
and the suite's ``NotSupported`` test for logs runs instead. One test fails by Fly's
design and is marked ``xfail(strict=True)`` (an unexpected pass fails the run):
``test_exec_passes_stdin``: the Machines API's exec request has no stdin field, so the
provider refuses stdin with ``NotSupported`` saying so (docs/fly.md). The scaling test
sets a memory limit Fly can give exactly (the harness's ``scale_memory_mb``: Fly's
Machines have at least 256 MB, in 256 MB steps).

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
