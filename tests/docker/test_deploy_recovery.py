"""What a failed or interrupted deploy leaves behind, and what it says about it."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator

import pytest

from ctrlplane.errors import DeployFailed
from ctrlplane.provider import DeployRequest
from ctrlplane.provider.docker import DockerProvider
from ctrlplane.provider.events import ProgressEvent, RolledBack, TrafficSwitched

from .conftest import fast_config
from .helpers import IMAGE, TRAP, request, sh

APP = ["sh", "-c", TRAP + 'echo "$VERSION" > /tmp/version; httpd -f -p 8080 -h /tmp & wait']
FAILING_GATE = {"command": ["false"], "interval": "200ms", "retries": 2}


@pytest.fixture
def vanishing_image(make_id: Callable[[], str]) -> Iterator[str]:
    """A tag of the test image that a test can take away while containers use it."""
    tag = f"ctrlplane-test/vanishing:{make_id()[-8:]}"
    subprocess.run(["docker", "tag", IMAGE, tag], check=True)
    yield tag
    subprocess.run(["docker", "rmi", tag], capture_output=True, check=False)


async def test_failed_restore_is_reported_not_hidden(
    make_id: Callable[[], str], vanishing_image: str
) -> None:
    """When the previous version cannot be put back, ``DeployFailed`` says so
    (``rolled_back`` false, with why) and no ``rolled_back`` event claims otherwise."""
    provider = DockerProvider(fast_config())
    iid = make_id()
    await provider.provision(
        request(
            iid,
            {"name": "app", "image": vanishing_image, "command": APP, "env": {"VERSION": "v1"}},
            kind="stateful_set",  # units are replaced in place: restoring recreates them
        )
    )
    await asyncio.to_thread(
        subprocess.run, ["docker", "rmi", vanishing_image], check=True, capture_output=True
    )
    seen: list[ProgressEvent] = []
    try:
        with pytest.raises(DeployFailed) as caught:
            await provider.deploy(
                DeployRequest(
                    instance_id=iid,
                    services=[
                        {
                            "name": "app",
                            "image": IMAGE,
                            "env": {"VERSION": "v2"},
                            "health_check": FAILING_GATE,
                        }
                    ],
                ),
                events=seen.append,
            )
        err = caught.value
        assert not err.rolled_back
        assert "restoring the previous release failed" in err.reason
        assert vanishing_image in err.reason
        assert "may be partly updated" in str(err)
        assert not [e for e in seen if isinstance(e, RolledBack)]
    finally:
        await provider.deprovision(iid)


async def test_cancel_after_the_blue_green_switch_keeps_the_new_release_recorded(
    make_id: Callable[[], str],
) -> None:
    """Once traffic switched, the new set is live: a cancellation then still records it
    (history and status agree with what runs) and retires the old set."""
    provider = DockerProvider(fast_config(blue_green_retire_delay=1))
    iid = make_id()
    await provider.provision(
        request(
            iid,
            {
                "name": "app",
                "image": IMAGE,
                "command": APP,
                "env": {"VERSION": "v1"},
                "resources": {"replicas": 2},
            },
        )
    )
    try:
        task: asyncio.Task[object] | None = None

        def cancel_on_switch(event: ProgressEvent) -> None:
            if isinstance(event, TrafficSwitched) and task is not None:
                task.cancel()

        task = asyncio.create_task(
            provider.deploy(
                DeployRequest(
                    instance_id=iid,
                    release_id="rel_01jb0000000000000000000000",
                    strategy="blue-green",
                    services=[{"name": "app", "image": IMAGE, "env": {"VERSION": "v2"}}],
                ),
                events=cancel_on_switch,
            )
        )
        with pytest.raises(asyncio.CancelledError):
            await task
        history = await DockerProvider(fast_config()).releases(iid)
        assert history[0].release_id == "rel_01jb0000000000000000000000"
        assert history[0].live
        status = await provider.status(iid)
        assert status.metadata["release_id"] == "rel_01jb0000000000000000000000"
        for replica in (0, 1):
            assert (await sh(provider, iid, "cat /tmp/version", replica=replica))[1] == "v2\n"
        listing = await asyncio.to_thread(
            subprocess.run,
            ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"name=cp-{iid}"],
            capture_output=True,
            text=True,
            check=True,
        )
        containers = listing.stdout.split()
        assert not [c for c in containers if c.endswith("-retiring")], containers
    finally:
        await provider.deprovision(iid)


async def test_a_leftover_retiring_container_does_not_block_the_next_deploy(
    make_id: Callable[[], str],
) -> None:
    """An old version left under its ``-retiring`` name (an interrupted earlier rollout)
    is cleared by the next surge instead of making it fail on the name."""
    provider = DockerProvider(fast_config())
    iid = make_id()
    await provider.provision(
        request(iid, {"name": "app", "image": IMAGE, "command": APP, "env": {"VERSION": "v1"}})
    )
    try:
        await asyncio.to_thread(
            subprocess.run,
            ["docker", "create", "--name", f"cp-{iid}-0-app-retiring", IMAGE, "true"],
            check=True,
            capture_output=True,
        )
        await provider.deploy(
            DeployRequest(
                instance_id=iid,
                services=[{"name": "app", "image": IMAGE, "env": {"VERSION": "v2"}}],
            )
        )
        assert (await sh(provider, iid, "cat /tmp/version"))[1] == "v2\n"
        listing = await asyncio.to_thread(
            subprocess.run,
            ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"name=cp-{iid}"],
            capture_output=True,
            text=True,
            check=True,
        )
        # the unit and its namespace holder, no -retiring container
        assert sorted(listing.stdout.split()) == [f"cp-{iid}-0-app", f"cp-{iid}-0.pod"]
    finally:
        await provider.deprovision(iid)
