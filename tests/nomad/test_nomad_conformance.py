"""The conformance suite against the Nomad backend on the in-repo fake agent.

Two tests fail by Nomad's design and are marked ``xfail(strict=True)`` (an unexpected
pass fails the run, so the marks cannot go stale):

- ``test_inits_run_in_order_before_mains`` chains two inits (``init-b`` depends on
  ``init-a``). Nomad runs every prestart task at the same time, so the provider refuses
  that spec with ``NotSupported`` (see ``docs/nomad.md``).
- ``test_logs_since`` needs per-line timestamps; Nomad's log files have none, so lines
  read from a file's history carry their task's first start time (a lower bound) and
  ``since`` cannot tell them apart.
"""

from __future__ import annotations

import pytest

from ctrlplane.testing.conformance import ProviderConformance, SuiteContext

from .harness import NomadHarness


class TestNomadConformance(ProviderConformance):
    def make_harness(self) -> NomadHarness:
        return NomadHarness()

    @pytest.mark.xfail(
        strict=True, reason="Nomad runs prestart tasks concurrently: chained inits are refused"
    )
    async def test_inits_run_in_order_before_mains(self, suite: SuiteContext) -> None:
        await super().test_inits_run_in_order_before_mains(suite)

    @pytest.mark.xfail(strict=True, reason="Nomad log files carry no per-line timestamps")
    async def test_logs_since(self, suite: SuiteContext) -> None:
        await super().test_logs_since(suite)
