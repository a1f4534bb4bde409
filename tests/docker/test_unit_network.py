"""A unit's shared network namespace when the engine restarts its owner after a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ctrlplane.provider import InstanceState
from ctrlplane.provider.docker import DockerProvider

from .helpers import IMAGE, TRAP, loop_cmd, request, sh

# crashes once, 2 s after its first start; the engine's restart policy brings it back
CRASH_ONCE = [
    "sh",
    "-c",
    TRAP + "mkdir -p /tmp/www; echo up > /tmp/www/index.html; "
    "if [ -f /tmp/crashed ]; then httpd -f -p 8080 -h /tmp/www & wait; "
    "else touch /tmp/crashed; httpd -f -p 8080 -h /tmp/www & sleep 2; exit 3; fi",
]


async def test_sidecar_cut_off_by_a_restarted_main_is_reported_and_start_heals_it(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    await provider.provision(
        request(
            iid,
            {"name": "app", "image": IMAGE, "command": CRASH_ONCE},
            {"name": "agent", "image": IMAGE, "role": "sidecar", "command": loop_cmd()},
        )
    )
    fetch = "timeout 2 wget -q -O - http://127.0.0.1:8080/index.html"
    try:

        async def restarted() -> bool:
            status = await provider.status(iid)
            return status.services["app"].restarts >= 1 and status.services["app"].ready

        for _ in range(100):
            if await restarted():
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the engine did not restart the crashed main")
        # the sidecar still runs but lost the unit's localhost: status says so
        code, _, _ = await sh(provider, iid, fetch, service="agent")
        assert code != 0
        status = await provider.status(iid)
        agent = status.services["agent"]
        assert agent.state is InstanceState.FAILED
        assert not agent.ready
        assert "cut off" in agent.message
        assert "restart" in agent.message
        assert status.state is InstanceState.FAILED
        # start rejoins it to the owner's current namespace
        await provider.start(iid)
        code, out, _ = await sh(provider, iid, fetch, service="agent")
        assert (code, out) == (0, "up\n")
        status = await provider.status(iid)
        assert status.services["agent"].state is InstanceState.RUNNING
        assert status.ready
    finally:
        await provider.deprovision(iid)
