"""The conformance suite against FakeProvider: fully capable, and narrowed twice.

The narrowed runs declare fewer capabilities, so the suite's NotSupported tests run and
everything needing a missing capability is skipped (proving the skips are by capability).
"""

from __future__ import annotations

from ctrlplane.provider.capabilities import Capability
from ctrlplane.testing.conformance import ProviderConformance
from ctrlplane.testing.conformance.fake_harness import FakeHarness


class TestFakeConformance(ProviderConformance):
    def make_harness(self) -> FakeHarness:
        return FakeHarness()


class TestNarrowedFakeConformance(ProviderConformance):
    def make_harness(self) -> FakeHarness:
        return FakeHarness(capabilities=[Capability.PROVISION, Capability.LOGS])


class TestRollingOnlyFakeConformance(ProviderConformance):
    def make_harness(self) -> FakeHarness:
        return FakeHarness(
            capabilities=[
                Capability.PROVISION,
                Capability.DEPLOY,
                Capability.ROLLING,
                Capability.EXEC,
                Capability.LOGS,
            ]
        )
