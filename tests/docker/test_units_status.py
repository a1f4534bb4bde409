"""What the CLI reads from Docker (issue 16) on the REAL engine: ``units()``, a running
operation in ``status``, and volumes kept at deprovision (``keep_volumes``)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable

from ctrlplane.provider import DeployRequest, InstanceState
from ctrlplane.provider.docker import DockerProvider
from ctrlplane.provider.events import ProgressEvent, UnitStarted
from ctrlplane.provider.protocol import UnitLister

from .conftest import fast_config
from .helpers import IMAGE, TRAP, loop_cmd, request, sh

APP = ["sh", "-c", TRAP + 'echo "$VERSION" > /tmp/version; httpd -f -p 8080 -h /tmp & wait']


async def test_units_lists_every_container(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    assert isinstance(provider, UnitLister)
    iid = make_id()
    web = {
        "name": "web",
        "image": IMAGE,
        "command": APP,
        "env": {"VERSION": "v1"},
        "ports": [{"container": 8080}],
        "resources": {"replicas": 2},
        "health_check": {"path": "/version", "port": 8080, "interval": "300ms"},
    }
    side = {"name": "side", "image": IMAGE, "role": "sidecar", "command": loop_cmd()}
    result = await provider.provision(request(iid, web, side))
    try:
        release = result.metadata["release_id"]
        rows = await provider.units(iid)
        assert [(r.service, r.replica) for r in rows] == [
            ("web", 0),
            ("web", 1),
            ("side", 0),
            ("side", 1),
        ]
        for row in rows:
            assert row.release_id == release
            assert row.image == IMAGE
            assert row.state is InstanceState.RUNNING
            assert row.restarts == 0
            assert row.started_at is not None
            assert row.provider_ref
        assert [r.health for r in rows] == ["healthy", "healthy", "", ""]
        published = [p for p in rows[0].ports if p.public]
        assert len(published) == 1
        assert published[0].url.startswith("tcp://127.0.0.1:")
        assert "tcp://web-1:8080" in [p.url for p in rows[1].ports]
    finally:
        await provider.deprovision(iid)


async def test_status_reports_a_running_operation(make_id: Callable[[], str]) -> None:
    provider = DockerProvider(fast_config())
    iid = make_id()
    await provider.provision(
        request(iid, {"name": "app", "image": IMAGE, "command": APP, "env": {"VERSION": "v1"}})
    )
    try:
        started = asyncio.Event()

        def on_event(event: ProgressEvent) -> None:
            if isinstance(event, UnitStarted):
                started.set()

        change = {"name": "app", "image": IMAGE, "env": {"VERSION": "v2"}}
        deploy = asyncio.create_task(
            provider.deploy(DeployRequest(instance_id=iid, services=[change]), events=on_event)
        )
        await asyncio.wait_for(started.wait(), 30)
        status = await DockerProvider(fast_config()).status(iid)
        listed = await DockerProvider(fast_config()).list_instances("tenant-test")
        result = await deploy
        mine = [s for s in listed if s.instance_id == iid]
        assert len(mine) == 1
        assert mine[0].state is InstanceState.RUNNING  # the lease container is no unit
        assert status.metadata["operation"].startswith("deploy by ")
        assert status.metadata["operation_state"] == "running"
        assert status.metadata["operation_release"] == result.release_id
        assert status.metadata["operation_phase"] == "roll out"
        assert "operation" not in (await provider.status(iid)).metadata
    finally:
        await provider.deprovision(iid)


async def test_keep_volumes_keeps_the_data_at_deprovision(make_id: Callable[[], str]) -> None:
    iid = make_id()
    app = {
        "name": "app",
        "image": IMAGE,
        "command": loop_cmd(),
        "volumes": [{"name": "data", "mount_path": "/data"}],
    }
    provider = DockerProvider(fast_config())
    keeping = DockerProvider(fast_config(keep_volumes=True))
    await provider.provision(request(iid, app))
    try:
        assert (await sh(provider, iid, "echo kept > /data/file"))[0] == 0
        await keeping.deprovision(iid)
        left = await asyncio.to_thread(
            subprocess.run,
            ["docker", "volume", "ls", "-q", "--filter", f"label=io.ctrlplane.instance={iid}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert left.stdout.split() == [f"cp-{iid}-data"]  # no release record, no container
        assert (
            await asyncio.to_thread(
                subprocess.run,
                ["docker", "ps", "-aq", "--filter", f"label=io.ctrlplane.instance={iid}"],
                capture_output=True,
                text=True,
                check=True,
            )
        ).stdout.strip() == ""
        await provider.provision(request(iid, app))  # the same ID finds its data
        assert (await sh(provider, iid, "cat /data/file"))[1] == "kept\n"
        assert len(await provider.releases(iid)) == 1  # the history started over
    finally:
        await provider.deprovision(iid)
