"""``exec`` over the allocation exec websocket: exit codes as Nomad encodes them, the
``exec_timeout`` deadline, and a session that ends without an exit code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from ctrlplane.errors import BackendError, OperationTimeout
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.spec import ExecRequest, ProvisionRequest

from .harness import NomadHarness


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[NomadHarness]:
    h = NomadHarness(exec_timeout="0.5s")
    await h.setup()
    try:
        yield h
    finally:
        await h.teardown()


async def _idle(h: NomadHarness) -> str:
    req = ProvisionRequest(
        instance_id=new_id(INSTANCE_PREFIX),
        tenant_id="t",
        name="n",
        services=[h.idle_service("app")],
    )
    await h.make_provider().provision(req)
    return req.instance_id


async def test_exit_codes_come_from_the_exited_frame_zero_included(harness: NomadHarness) -> None:
    iid = await _idle(harness)
    provider = harness.make_provider()
    ok = await provider.exec(iid, ExecRequest(command=["sh", "-c", "echo out; echo err >&2"]))
    assert (ok.exit_code, ok.stdout, ok.stderr) == (0, b"out\n", b"err\n")
    failed = await provider.exec(iid, ExecRequest(command=["sh", "-c", "exit 3"]))
    assert failed.exit_code == 3


async def test_a_hung_command_times_out_and_its_session_is_closed(harness: NomadHarness) -> None:
    iid = await _idle(harness)
    started = time.monotonic()
    with pytest.raises(OperationTimeout, match="exec_timeout") as caught:
        await harness.make_provider().exec(iid, ExecRequest(command=["sleep", "30"]))
    assert time.monotonic() - started < 5
    assert caught.value.timeout == 0.5
    for _ in range(100):  # the agent sees the session closed and cancels the command
        if harness.agent.exec_open == 0:
            break
        await asyncio.sleep(0.02)
    assert harness.agent.exec_open == 0


async def test_an_exited_frame_without_a_result_is_an_error_not_exit_zero(
    harness: NomadHarness,
) -> None:
    iid = await _idle(harness)
    harness.agent.exec_without_result = True
    with pytest.raises(BackendError, match="exit code is unknown"):
        await harness.make_provider().exec(iid, ExecRequest(command=["true"]))
