"""The whole suite: how its tests share the machine.

The suite runs on two workers (``pytest -n 2 --dist loadgroup``, see scripts/test.sh).
Every test that drives the real Docker engine (marked ``docker``) runs in one group, on
one worker, one after another, as if alone: they share one engine, and the deploy tests
count failed requests under timing that a second engine-heavy test beside them would
disturb. Everything else (fake servers, the fake provider, the CLI, unit tests) spreads
over both workers.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("docker") is not None:
            item.add_marker(pytest.mark.xdist_group("docker"))
