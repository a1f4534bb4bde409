"""The conformance suite: what "a correct provider" means, as pytest tests.

Every backend runs it; third-party authors run it against their own provider. In your
test module, subclass :class:`ProviderConformance` (the class name must start with
``Test``) and return your :class:`ConformanceHarness` from ``make_harness``::

    from ctrlplane.testing.conformance import ProviderConformance

    class TestMyProvider(ProviderConformance):
        def make_harness(self) -> MyHarness:
            return MyHarness()

Tests are grouped by method and invariant (one mixin class per group, below). A test
is skipped only when the provider does not declare the capability it needs (or an
optional protocol such as ``HealthChecker`` / ``ReleaseHistory`` it exercises). After
each test, the suite deprovisions the test's instances and fails if the harness
reports leftovers. Needs pytest and pytest-asyncio. See ``docs/writing-a-provider.md``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
import pytest_asyncio

from ctrlplane.testing.conformance.basics import BasicsContract
from ctrlplane.testing.conformance.busybox import BusyboxServices
from ctrlplane.testing.conformance.context import SuiteContext
from ctrlplane.testing.conformance.execution import ExecContract
from ctrlplane.testing.conformance.harness import ConformanceHarness, RunningUnit
from ctrlplane.testing.conformance.lifecycle import LifecycleContract
from ctrlplane.testing.conformance.logs import LogsContract
from ctrlplane.testing.conformance.progress import check_step_pairs
from ctrlplane.testing.conformance.provisioning import ProvisioningContract
from ctrlplane.testing.conformance.releases import ReleasesContract
from ctrlplane.testing.conformance.scaling import ScalingContract
from ctrlplane.testing.conformance.secrecy import SecretsContract
from ctrlplane.testing.conformance.strategies import StrategiesContract
from ctrlplane.testing.conformance.trust import TrustContract

__all__ = [
    "BasicsContract",
    "BusyboxServices",
    "ConformanceHarness",
    "ExecContract",
    "LifecycleContract",
    "LogsContract",
    "ProviderConformance",
    "ProvisioningContract",
    "ReleasesContract",
    "RunningUnit",
    "ScalingContract",
    "SecretsContract",
    "StrategiesContract",
    "SuiteContext",
    "SuiteFixture",
    "TrustContract",
    "check_step_pairs",
]


class SuiteFixture:
    """The ``suite`` fixture alone: mix it into a subset of the contracts (e.g. the basics
    on a narrowed provider) and override :meth:`make_harness`."""

    def make_harness(self) -> ConformanceHarness:
        """Return the harness of the provider under test (override this)."""
        raise TypeError(
            f"{type(self).__name__} must override make_harness() to return a ConformanceHarness"
        )

    @pytest_asyncio.fixture
    async def suite(self) -> AsyncIterator[SuiteContext]:
        """A :class:`SuiteContext` on a set-up harness; cleans up and checks leftovers."""
        harness = self.make_harness()
        await harness.setup()
        try:
            ctx = SuiteContext(harness)
            yield ctx
            await ctx.cleanup()
        finally:
            await harness.teardown()


class ProviderConformance(
    SuiteFixture,
    BasicsContract,
    ProvisioningContract,
    LifecycleContract,
    ReleasesContract,
    StrategiesContract,
    ScalingContract,
    LogsContract,
    ExecContract,
    SecretsContract,
    TrustContract,
):
    """The whole suite. Subclass it as ``TestXxx`` and override :meth:`make_harness`.

    Each test receives the ``suite`` fixture (a :class:`SuiteContext`), made fresh per
    test from a new harness.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]
