"""Fixtures of the Nomad tests: a fake agent of the current version (``harness``, whose
version a test may choose with ``indirect`` parametrization) and one of the oldest
supported version (``old``), each set up and torn down around one test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .harness import CURRENT, OLDEST, NomadHarness


async def _running(version: str) -> AsyncIterator[NomadHarness]:
    h = NomadHarness(version=version)
    await h.setup()
    try:
        yield h
    finally:
        await h.teardown()


@pytest_asyncio.fixture
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[NomadHarness]:
    """A harness on an agent of the current version (or ``request.param``)."""
    async for h in _running(getattr(request, "param", CURRENT)):
        yield h


@pytest_asyncio.fixture
async def old() -> AsyncIterator[NomadHarness]:
    """A harness on a Nomad 1.1.2 agent without Consul."""
    async for h in _running(OLDEST):
        yield h
