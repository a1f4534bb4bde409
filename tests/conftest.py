"""The whole suite: how its tests share the machine.

The suite runs on four workers (``pytest -n 4 --dist loadgroup``, see scripts/test.sh):
most tests wait on servers and engines rather than compute, so four keep two cores busy.

The tests that drive the real Docker engine (marked ``docker``) run in three lanes, each
a group of whole modules on one worker, one test after another; everything else (fake
servers, the fake provider, the CLI, unit tests) spreads over every worker. One lane
alone took 23 minutes (the whole suite waited on it); with three the suite takes 16.5,
bound by its total work on two cores, each lane 12-14 minutes of it. The lanes are drawn
so that what shares engine-wide state stays in one lane:

- ``docker-a``: the conformance suite and the local registry's tests (they untag and
  pull one shared image);
- ``docker-b``: the benchmarks' smoke run (it turns Swarm mode on, whose ingress network
  lies outside the built-in address pools) with the network tests (they check how
  instance networks are created, which Swarm mode changes), crash safety (it kills
  processes at chosen moments), the published-endpoint and deploy tests;
- ``docker-c``: every other module under ``tests/docker``.

Lanes are kept by our own scheduler (``pytest_xdist_make_scheduler``), by path: the
``xdist_group`` marker does nothing under pytest 9 with pytest-xdist 3.8 (xdist renames
the node ID through an attribute pytest 9 no longer reads), which let the engine tests
run on any worker at once. The collection hook checks that every ``docker`` test lives
under :data:`ENGINE_PATHS`, so a new one cannot silently fall outside the lanes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
ENGINE_PATHS = ("tests/docker/", "tests/bench/")
"""Where the tests that drive the real engine live (node ID prefixes, rootdir-relative)."""
LANES = {
    "docker-a": (
        "tests/docker/test_docker_conformance.py",
        "tests/docker/test_registry_pulls.py",
    ),
    "docker-b": (
        "tests/bench/",
        "tests/docker/test_network.py",
        "tests/docker/test_crash_safety.py",
        "tests/docker/test_fronts.py",
        "tests/docker/test_deploy.py",
        "tests/docker/test_deploy_batches.py",
    ),
}
"""The modules of the named lanes; the rest of :data:`ENGINE_PATHS` is ``docker-c``."""


def engine_lane(nodeid: str) -> str | None:
    """The lane of the test ``nodeid``; ``None`` for a test that does not use the engine."""
    for lane, prefixes in LANES.items():
        if nodeid.startswith(prefixes):
            return lane
    if nodeid.startswith(ENGINE_PATHS):
        return "docker-c"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under ``tests/docker`` ``docker``; refuse a ``docker`` test outside
    :data:`ENGINE_PATHS`, which the scheduler would not keep in a lane."""
    strays = []
    for item in items:
        where = item.path.relative_to(ROOT).as_posix()
        if where.startswith("tests/docker/"):
            item.add_marker(pytest.mark.docker)
        if item.get_closest_marker("docker") is not None and engine_lane(where) is None:
            strays.append(item.nodeid)
    if strays:
        raise pytest.UsageError(
            f"tests marked docker outside {ENGINE_PATHS} (tests/conftest.py) would run "
            f"outside the engine lanes: {strays[:5]}"
        )


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with each engine lane one work unit (one worker, one test
    after another); every other test is a unit of its own."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]

    class EngineLaneScheduling(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return engine_lane(nodeid) or str(super()._split_scope(nodeid))

    return EngineLaneScheduling(config, log)
