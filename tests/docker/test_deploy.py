"""Basic rolling deploy: listed services change, unit by unit, gated by health checks."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiodocker
import pytest

from ctrlplane.errors import DeployFailed, InvalidSpec, NotSupported, ReleaseNotFound
from ctrlplane.provider import (
    DeployRequest,
    InstanceState,
    ProvisionRequest,
    ResourceSpec,
    WorkloadKind,
)
from ctrlplane.provider.docker import DockerProvider
from ctrlplane.provider.events import ProgressEvent, UnitRemoved, UnitStarted
from ctrlplane.testing.conformance import check_step_pairs

from .conftest import fast_config
from .helpers import IMAGE, TRAP, http_get_async, loop_cmd, request, sh

APP = ["sh", "-c", TRAP + 'echo "$VERSION" > /tmp/version; httpd -f -p 8080 -h /tmp & wait']


async def _started(name: str) -> str:
    async with aiodocker.Docker() as client:
        info = await client.containers.get(name)
    return str(info["State"]["StartedAt"])


def workload(iid: str, replicas: int = 2) -> ProvisionRequest:
    return request(
        iid,
        {
            "name": "app",
            "image": IMAGE,
            "command": APP,
            "env": {"VERSION": "v1"},
            "ports": [{"container": 8080}],
            "resources": {"replicas": replicas},
        },
        {
            "name": "agent",
            "image": IMAGE,
            "role": "sidecar",
            "command": loop_cmd(),
            "env": {"AGENT": "a1"},
        },
    )


async def test_deploy_changes_listed_services_unit_by_unit(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    await provider.provision(workload(iid))
    try:
        agent_before = (await provider.status(iid)).services["agent"].provider_ref
        result = await provider.deploy(
            DeployRequest(
                instance_id=iid,
                services=[{"name": "agent", "image": IMAGE, "env": {"AGENT": "a2"}}],
            )
        )
        assert result.release_id.startswith("rel_")
        status = await provider.status(iid)
        assert status.state is InstanceState.RUNNING
        assert status.metadata["release_id"] == result.release_id
        assert status.services["agent"].provider_ref != agent_before
        for replica in (0, 1):
            assert (await sh(provider, iid, "echo $AGENT", service="agent", replica=replica))[
                1
            ] == "a2\n"
            assert (await sh(provider, iid, "cat /tmp/version", replica=replica))[1] == "v1\n"

        # the main (namespace owner) changes: env-only change takes effect, gated by http
        app_before = (await provider.status(iid)).services["app"].provider_ref
        old_release = (await provider.status(iid)).metadata["release_id"]
        seen: list[object] = []
        await provider.deploy(
            DeployRequest(
                instance_id=iid,
                services=[
                    {
                        "name": "app",
                        "image": IMAGE,
                        "env": {"VERSION": "v2"},
                        "health_check": {
                            "path": "/version",
                            "port": 8080,
                            "interval": "200ms",
                            "timeout": "200ms",
                            "retries": 5,
                        },
                    }
                ],
            ),
            events=seen.append,
        )
        # each old unit is removed (after its replacement started) and reported
        moves = [
            (e.kind, e.replica, e.release_id)
            for e in seen
            if isinstance(e, UnitStarted | UnitRemoved) and e.service == "app"
        ]
        assert [(k, r) for k, r, _ in moves] == [
            ("unit_started", 0),
            ("unit_removed", 0),
            ("unit_started", 1),
            ("unit_removed", 1),
        ], moves
        assert {rel for k, _, rel in moves if k == "unit_removed"} == {old_release}
        status = await provider.status(iid)
        assert status.state is InstanceState.RUNNING
        assert status.ready
        assert status.services["app"].provider_ref != app_before
        for replica in (0, 1):
            assert (await sh(provider, iid, "cat /tmp/version", replica=replica))[1] == "v2\n"
            # the sidecar keeps its version and still shares the unit's localhost
            code, out, _ = await sh(
                provider,
                iid,
                "echo $AGENT; wget -qO- localhost:8080/version",
                service="agent",
                replica=replica,
            )
            assert (code, out) == (0, "a2\nv2\n")
        # one unit at a time: unit 0 was replaced (and gated) before unit 1
        assert await _started(f"cp-{iid}-0-app") < await _started(f"cp-{iid}-1-app")
    finally:
        await provider.deprovision(iid)


async def test_failed_gate_rolls_back(provider: DockerProvider, make_id: Callable[[], str]) -> None:
    iid = make_id()
    await provider.provision(workload(iid))
    seen: list[object] = []
    try:
        with pytest.raises(DeployFailed) as exc:
            await provider.deploy(
                DeployRequest(
                    instance_id=iid,
                    services=[
                        {
                            "name": "app",
                            "image": IMAGE,
                            "env": {"VERSION": "bad"},
                            "health_check": {
                                "command": ["sh", "-c", "grep -q v /tmp/version"],
                                "interval": "400ms",
                                "timeout": "400ms",
                                "retries": 2,
                            },
                        }
                    ],
                ),
                events=seen.append,
            )
        kinds = [getattr(e, "kind", "") for e in seen]
        assert kinds[:2] == ["step_started", "step_finished"]  # pull-images
        assert "unit_started" in kinds
        assert kinds.count("probe") == 2
        assert kinds[-1] == "rolled_back"
        err = exc.value
        assert err.step == "health gate of unit 0"
        assert err.rolled_back
        assert len(err.evidence) == 2
        assert not any(e.healthy for e in err.evidence)
        assert err.evidence[-1].kind == "exec"
        assert err.evidence[-1].service == "app"
        assert err.evidence[-1].exit_code == 1
        assert "grep -q v /tmp/version" in str(err.evidence[-1])
        status = await provider.status(iid)
        assert status.state is InstanceState.RUNNING
        for replica in (0, 1):
            assert (await sh(provider, iid, "cat /tmp/version", replica=replica))[1] == "v1\n"
    finally:
        await provider.deprovision(iid)


async def test_unsupported_strategies_and_bad_requests(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    with socket.socket() as probe:  # a free port for a fixed host port
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    req = workload(iid, replicas=1).model_copy(update={"kind": WorkloadKind.STATEFUL_SET})
    req.services[0].ports[0].host = free  # (a fixed host port no longer stops blue-green)
    await provider.provision(req)
    try:
        before = (await provider.status(iid)).services["app"].provider_ref
        with pytest.raises(NotSupported):  # blue-green needs a deployment
            await provider.deploy(
                DeployRequest(
                    instance_id=iid,
                    strategy="blue-green",
                    services=[{"name": "app", "image": IMAGE}],
                )
            )
        with pytest.raises(InvalidSpec):
            await provider.deploy(
                DeployRequest(instance_id=iid, services=[{"name": "nope", "image": IMAGE}])
            )
        with pytest.raises(ReleaseNotFound):
            await provider.rollback(iid, "rel_01h455vb4pex5vsknk084sn02q")
        assert (await provider.status(iid)).services["app"].provider_ref == before
    finally:
        await provider.deprovision(iid)


async def test_release_history_and_rollback(make_id: Callable[[], str]) -> None:
    provider = DockerProvider(fast_config(release_history=3))
    iid = make_id()
    first = await provider.provision(workload(iid, replicas=1))
    try:
        history = await provider.releases(iid)
        assert [r.release_id for r in history] == [first.metadata["release_id"]]
        assert history[0].live
        assert history[0].service("app").env == {"VERSION": "v1"}
        ids = []
        for n in (2, 3, 4):
            res = await provider.deploy(
                DeployRequest(
                    instance_id=iid,
                    services=[{"name": "app", "image": IMAGE, "env": {"VERSION": f"v{n}"}}],
                )
            )
            ids.append(res.release_id)
        history = await DockerProvider(fast_config()).releases(iid)
        assert [r.release_id for r in history] == ids[::-1]  # pruned to depth 3
        target = history[-1]
        with pytest.raises(ReleaseNotFound):
            await provider.rollback(iid, first.metadata["release_id"])
        assert (await sh(provider, iid, "cat /tmp/version"))[1] == "v4\n"

        await DockerProvider(fast_config(release_history=3)).rollback(iid, ids[0])
        assert (await sh(provider, iid, "cat /tmp/version"))[1] == "v2\n"
        history = await provider.releases(iid)
        assert history[0].rollback_of == ids[0]
        assert history[0].live
        assert history[0].services == target.services
        assert [r.release_id for r in history[1:]] == [ids[2], ids[1]]
    finally:
        await provider.deprovision(iid)


CANARY_APP = [
    "sh",
    "-c",
    TRAP + 'mkdir -p /tmp/www; echo "$VERSION" > /tmp/www/version; echo ok > /tmp/www/healthz; '
    'if [ -n "$SICKEN_AFTER" ]; then (sleep "$SICKEN_AFTER"; rm /tmp/www/healthz) & fi; '
    'if [ -n "$LISTEN_AFTER" ]; then sleep "$LISTEN_AFTER"; fi; '
    "httpd -f -p 8080 -h /tmp/www & wait",
]
GATED = {"path": "/healthz", "port": 8080, "interval": "200ms", "timeout": "200ms", "retries": 3}


@dataclass(frozen=True)
class Tally:
    """What an in-network client saw: requests that succeeded and failed, and every
    version a successful one was answered with."""

    ok: int
    bad: int
    seen: frozenset[str]


@contextlib.asynccontextmanager
async def in_network_client(iid: str) -> AsyncIterator[Callable[[], Awaitable[Tally]]]:
    """A container on the instance network that requests ``http://app:8080/version`` in a
    loop (every request counts: no retries); yields ``tally``, which stops the loop and
    returns what it saw."""
    loop = (
        "ok=0; bad=0; while [ ! -f /tmp/stop ]; do "
        "if v=$(timeout 3 wget -q -O - http://app:8080/version); then ok=$((ok+1)); "
        "echo $v >> /tmp/seen; else bad=$((bad+1)); fi; echo $ok $bad > /tmp/count; done; "
        "sleep 1000"
    )
    async with aiodocker.Docker() as client:
        watcher = await client.containers.create(
            {
                "Image": IMAGE,
                "Cmd": ["sh", "-c", loop],
                "Labels": {"ctrlplane-test": "watcher"},
                "HostConfig": {"NetworkMode": f"cp-{iid}"},
            }
        )

        async def tally() -> Tally:
            await asyncio.sleep(0.3)
            stop = "touch /tmp/stop; sleep 0.3; cat /tmp/count; sort -u /tmp/seen"
            done = await asyncio.to_thread(
                subprocess.run,
                ["docker", "exec", watcher.id, "sh", "-c", stop],
                capture_output=True,
                text=True,
            )
            count, *seen = done.stdout.split("\n")
            ok, bad = (int(x) for x in count.split())
            return Tally(ok, bad, frozenset(line for line in seen if line))

        try:
            await watcher.start()
            await asyncio.sleep(0.5)
            yield tally
        finally:
            await watcher.delete(force=True)


async def test_canary_observed_then_promoted_or_rolled_back(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    await provider.provision(
        request(
            iid,
            {
                "name": "app",
                "image": IMAGE,
                "command": CANARY_APP,
                "env": {"VERSION": "v1"},
                "health_check": GATED,
                "resources": {"replicas": 2},
            },
        )
    )
    try:
        # sickens during the observation: only the canary was touched, and it is restored
        seen: list[object] = []
        with pytest.raises(DeployFailed) as exc:
            await provider.deploy(
                DeployRequest(
                    instance_id=iid,
                    strategy="canary",
                    services=[
                        {
                            "name": "app",
                            "image": IMAGE,
                            "env": {"VERSION": "v2", "SICKEN_AFTER": "0.4"},
                        }
                    ],
                ),
                events=seen.append,
            )
        assert exc.value.step == "canary observation"
        assert exc.value.strategy == "canary"
        assert exc.value.evidence[-1].status_code == 404
        assert "observe-canary" in [getattr(e, "step", "") for e in seen]
        for replica in (0, 1):
            out = (await sh(provider, iid, "cat /tmp/www/version", replica=replica))[1]
            assert out == "v1\n"
        assert (await provider.status(iid)).ready

        # a healthy canary is promoted to every unit
        await provider.deploy(
            DeployRequest(
                instance_id=iid,
                strategy="canary",
                services=[{"name": "app", "image": IMAGE, "env": {"VERSION": "v3"}}],
            )
        )
        for replica in (0, 1):
            out = (await sh(provider, iid, "cat /tmp/www/version", replica=replica))[1]
            assert out == "v3\n"
        assert (await provider.releases(iid))[0].strategy == "canary"
    finally:
        await provider.deprovision(iid)


@pytest.mark.parametrize("kind", ["deployment", "stateful_set"])
async def test_rolling_deploy_keeps_serving_in_network_clients(
    provider: DockerProvider, make_id: Callable[[], str], kind: str
) -> None:
    """With 2 replicas, a client looping over the service name sees no failed request,
    whether units are surged (deployment) or replaced in place (stateful set), even when
    each new version takes a second to listen (a unit gets no traffic before its gate
    passes)."""
    iid = make_id()
    await provider.provision(
        request(
            iid,
            {
                "name": "app",
                "image": IMAGE,
                "command": CANARY_APP,
                "env": {"VERSION": "v1"},
                "health_check": {**GATED, "retries": 20},
                "resources": {"replicas": 2},
            },
            kind=kind,
        )
    )
    try:
        async with in_network_client(iid) as tally:
            for version in ("v2", "v3"):
                env = {"VERSION": version, "LISTEN_AFTER": "1"}
                await provider.deploy(
                    DeployRequest(
                        instance_id=iid,
                        services=[{"name": "app", "image": IMAGE, "env": env}],
                    )
                )
            seen = await tally()
        assert seen.ok > 20
        assert seen.bad == 0, f"{seen.bad} failed requests during the deploys ({seen.ok} ok)"
        for replica in (0, 1):
            got = (await sh(provider, iid, "cat /tmp/www/version", replica=replica))[1]
            assert got == "v3\n"
    finally:
        await provider.deprovision(iid)


async def test_scaling_keeps_serving_in_network_clients(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    """A unit a scale adds gets the service name only once its health check passes (it
    takes a second to listen); the units a scale removes drain first: a client looping
    over the service name sees no failed request."""
    iid = make_id()
    app = {
        "name": "app",
        "image": IMAGE,
        "command": CANARY_APP,
        "env": {"VERSION": "v1", "LISTEN_AFTER": "1"},
        "health_check": {**GATED, "retries": 20},
        "resources": {"replicas": 2},
    }
    await provider.provision(request(iid, app))
    try:
        for replica in (0, 1):  # provision does not wait for the health checks
            await sh(
                provider,
                iid,
                "until wget -q -O /dev/null localhost:8080/version; do sleep 0.1; done",
                replica=replica,
            )
        async with in_network_client(iid) as tally:
            await provider.scale(iid, ResourceSpec(replicas=4))
            assert (await provider.status(iid)).metadata["replicas"] == "4"
            await provider.scale(iid, ResourceSpec(replicas=2))
            seen = await tally()
        assert seen.ok > 20
        assert seen.bad == 0, f"{seen.bad} failed requests while scaling ({seen.ok} ok)"
    finally:
        await provider.deprovision(iid)


async def test_blue_green_switches_at_once_and_keeps_serving(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    await provider.provision(
        request(
            iid,
            {
                "name": "app",
                "image": IMAGE,
                "command": CANARY_APP,
                "env": {"VERSION": "v1"},
                "health_check": GATED,
                "resources": {"replicas": 2},
                "ports": [{"container": 8080}],
            },
            {"name": "agent", "image": IMAGE, "role": "sidecar", "command": loop_cmd()},
        )
    )
    try:
        await _blue_green_checks(provider, iid)
    finally:
        await provider.deprovision(iid)


async def _blue_green_checks(provider: DockerProvider, iid: str) -> None:
    published = [e.url for e in (await provider.status(iid)).endpoints if e.public]
    assert len(published) == 1
    async with in_network_client(iid) as tally:
        # a failing new set never takes traffic and is removed
        failed: list[ProgressEvent] = []
        with pytest.raises(DeployFailed) as exc:
            await provider.deploy(
                DeployRequest(
                    instance_id=iid,
                    strategy="blue-green",
                    services=[
                        {
                            "name": "app",
                            "image": IMAGE,
                            "env": {"VERSION": "bad", "SICKEN_AFTER": "0"},
                        }
                    ],
                ),
                events=failed.append,
            )
        assert exc.value.strategy == "blue-green"
        assert exc.value.step.startswith("health gate of unit")
        assert not check_step_pairs(failed)[-1].ok
        seen: list[ProgressEvent] = []
        await provider.deploy(
            DeployRequest(
                instance_id=iid,
                strategy="blue-green",
                services=[{"name": "app", "image": IMAGE, "env": {"VERSION": "v2"}}],
            ),
            events=seen.append,
        )
        assert "traffic_switched" in [getattr(e, "kind", "") for e in seen]
        assert all(f.ok for f in check_step_pairs(seen))
        served = await tally()
    assert served.bad == 0, f"{served.bad} failed requests ({served.ok} ok)"
    assert served.ok > 20
    assert "bad" not in served.seen
    assert {"v1", "v2"} <= served.seen
    status = await provider.status(iid)
    assert status.ready
    # one published endpoint for both replicas (the front's), the one it had before
    assert [e.url for e in status.endpoints if e.public] == published
    for ep in (e for e in status.endpoints if e.public):
        code, body = await http_get_async("http://" + ep.url.split("://", 1)[1] + "/version")
        assert (code, body) == (200, "v2\n")
    for replica in (0, 1):
        code, out, _ = await sh(
            provider, iid, "wget -qO- localhost:8080/version", service="agent", replica=replica
        )
        assert (code, out) == (0, "v2\n")
    async with aiodocker.Docker() as client:
        names = [
            c["Names"][0]
            for c in await client.containers.list(
                all=True, filters={"label": [f"io.ctrlplane.instance={iid}"]}
            )
        ]
    assert not [n for n in names if n.endswith("-retiring")]
    assert sorted(names) == sorted(
        [f"/cp-{iid}-{r}-{s}" for r in (0, 1) for s in ("app", "agent")]
        + [f"/cp-{iid}-{r}.pod" for r in (0, 1)]  # each unit's (new) namespace holder
        + [f"/cp-{iid}-front-app-8080"]
    )


@pytest.mark.parametrize("strategy", ["rolling", "blue-green"])
async def test_progress_deadline_rolls_back(make_id: Callable[[], str], strategy: str) -> None:
    """A deploy whose gate is still probing when the deadline passes is rolled back."""
    provider = DockerProvider(fast_config(progress_deadline=2, probe_start_period=0.5))
    iid = make_id()
    await provider.provision(workload(iid))
    before = (await provider.status(iid)).metadata["release_id"]
    seen: list[object] = []
    slow_gate = {
        "command": ["sh", "-c", "exit 1"],
        "interval": "300ms",
        "timeout": "300ms",
        "retries": 1000,
    }
    try:
        started = time.monotonic()
        with pytest.raises(DeployFailed) as exc:
            await provider.deploy(
                DeployRequest(
                    instance_id=iid,
                    strategy=strategy,
                    services=[
                        {
                            "name": "app",
                            "image": IMAGE,
                            "env": {"VERSION": "late"},
                            "health_check": slow_gate,
                        }
                    ],
                ),
                events=seen.append,
            )
        assert time.monotonic() - started < 20
        assert "progress deadline (2s)" in exc.value.reason
        assert exc.value.rolled_back
        assert exc.value.evidence == [] or not exc.value.evidence[-1].healthy
        assert [getattr(e, "kind", "") for e in seen][-1] == "rolled_back"
        status = await provider.status(iid)
        assert status.metadata["release_id"] == before
        for replica in (0, 1):
            assert (await sh(provider, iid, "cat /tmp/version", replica=replica))[1] == "v1\n"
    finally:
        await provider.deprovision(iid)


@pytest.mark.parametrize("start_period", [0, 2.5])
async def test_probe_start_period_delays_the_gate(
    make_id: Callable[[], str], start_period: float
) -> None:
    """A new version that needs 1.5 s to become healthy passes a one-try gate only when
    the configured start period lets it get there before the first probe."""
    provider = DockerProvider(fast_config(probe_start_period=start_period))
    slow_app = [
        "sh",
        "-c",
        TRAP
        + 'sleep "${DELAY:-0}"; echo "$VERSION" > /tmp/version; httpd -f -p 8080 -h /tmp & wait',
    ]
    iid = make_id()
    await provider.provision(
        request(iid, {"name": "app", "image": IMAGE, "command": slow_app, "env": {"VERSION": "v1"}})
    )
    deploy = DeployRequest(
        instance_id=iid,
        services=[
            {
                "name": "app",
                "image": IMAGE,
                "env": {"VERSION": "v2", "DELAY": "1.5"},
                "health_check": {
                    "command": ["grep", "-q", "v2", "/tmp/version"],
                    "interval": "300ms",
                    "timeout": "300ms",
                    "retries": 1,
                },
            }
        ],
    )
    try:
        if start_period:
            await provider.deploy(deploy)
            want = "v2\n"
        else:
            with pytest.raises(DeployFailed):
                await provider.deploy(deploy)
            want = "v1\n"
        await asyncio.sleep(1.6)
        assert (await sh(provider, iid, "cat /tmp/version"))[1] == want
    finally:
        await provider.deprovision(iid)
