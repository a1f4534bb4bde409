"""Fixtures of the Fly tests: a running fake Machines API and a raw HTTP client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from .harness import TOKEN, FlyHarness


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[FlyHarness]:
    """A fake Machines API (started) and the harness that configures providers on it."""
    h = FlyHarness()
    await h.setup()
    try:
        yield h
    finally:
        await h.teardown()


@pytest_asyncio.fixture
async def raw(harness: FlyHarness) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the fake's ``/v1`` with the token (for requests by hand)."""
    async with httpx.AsyncClient(
        base_url=harness.api.address + "/v1",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10.0,
    ) as client:
        yield client
