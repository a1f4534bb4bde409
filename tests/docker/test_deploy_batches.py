"""Rolling and canary batch sizes on the real engine: ``max_surge``, ``max_unavailable``
and ``canary_fraction``."""

from __future__ import annotations

from collections.abc import Callable

from ctrlplane.provider import DeployRequest
from ctrlplane.provider.docker import DockerProvider
from ctrlplane.provider.events import StepStarted, UnitRemoved, UnitStarted

from .conftest import fast_config
from .helpers import IMAGE, TRAP, request, sh

APP = ["sh", "-c", TRAP + 'echo "$VERSION" > /tmp/version; httpd -f -p 8080 -h /tmp & wait']
GATE = {"command": ["test", "-s", "/tmp/version"], "interval": "200ms", "retries": 5}


def _workload(iid: str, replicas: int) -> object:
    return request(
        iid,
        {
            "name": "app",
            "image": IMAGE,
            "command": APP,
            "env": {"VERSION": "v1"},
            "resources": {"replicas": replicas},
        },
    )


def _deploy(iid: str, version: str, strategy: str = "rolling") -> DeployRequest:
    return DeployRequest(
        instance_id=iid,
        strategy=strategy,
        services=[
            {"name": "app", "image": IMAGE, "env": {"VERSION": version}, "health_check": GATE}
        ],
    )


async def _versions(provider: DockerProvider, iid: str, replicas: int) -> list[str]:
    return [
        (await sh(provider, iid, "cat /tmp/version", replica=r))[1].strip() for r in range(replicas)
    ]


async def test_max_surge_replaces_units_in_batches(make_id: Callable[[], str]) -> None:
    provider = DockerProvider(fast_config(max_surge=2))
    iid = make_id()
    await provider.provision(_workload(iid, 3))  # type: ignore[arg-type]
    seen: list[object] = []
    try:
        await provider.deploy(_deploy(iid, "v2"), events=seen.append)
        steps = [e.step for e in seen if isinstance(e, StepStarted)]
        assert steps == ["pull-images", "replace-units-0-1", "replace-unit-2"], steps
        moves = [(e.kind, e.replica) for e in seen if isinstance(e, UnitStarted | UnitRemoved)]
        # both units of the first batch run their new version before either old one goes
        first_removal = moves.index(next(m for m in moves if m[0] == "unit_removed"))
        assert {r for k, r in moves[:first_removal]} == {0, 1}, moves
        assert sorted(r for k, r in moves if k == "unit_removed") == [0, 1, 2]
        assert await _versions(provider, iid, 3) == ["v2", "v2", "v2"]
    finally:
        await provider.deprovision(iid)


async def test_max_unavailable_replaces_in_place_in_batches(make_id: Callable[[], str]) -> None:
    provider = DockerProvider(fast_config(max_surge=0, max_unavailable=2))
    iid = make_id()
    await provider.provision(_workload(iid, 2))  # type: ignore[arg-type]
    seen: list[object] = []
    try:
        await provider.deploy(_deploy(iid, "v2"), events=seen.append)
        steps = [e.step for e in seen if isinstance(e, StepStarted)]
        assert steps == ["pull-images", "replace-units-0-1"], steps
        # in place: nothing was started beside an old unit, so nothing is retired
        assert not [e for e in seen if isinstance(e, UnitRemoved)]
        assert await _versions(provider, iid, 2) == ["v2", "v2"]
    finally:
        await provider.deprovision(iid)


async def test_canary_fraction_picks_the_canary_units(make_id: Callable[[], str]) -> None:
    provider = DockerProvider(fast_config(canary_fraction=0.5, canary_observation=0.5))
    iid = make_id()
    await provider.provision(_workload(iid, 3))  # type: ignore[arg-type]
    seen: list[object] = []
    try:
        await provider.deploy(_deploy(iid, "v2", "canary"), events=seen.append)
        started = [e for e in seen if isinstance(e, StepStarted)]
        steps = [e.step for e in started]
        # ceil(3 * 0.5) = 2 canary units, observed before the third is touched
        assert steps == [
            "pull-images",
            "replace-unit-0",
            "replace-unit-1",
            "observe-canary",
            "replace-unit-2",
        ], steps
        assert started[3].detail == "units [0, 1]"
        assert await _versions(provider, iid, 3) == ["v2", "v2", "v2"]
    finally:
        await provider.deprovision(iid)
