"""Logs as typed records (tail, since, follow, streams, replicas) and exec."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from ctrlplane.errors import BackendError, InvalidSpec
from ctrlplane.provider import ExecRequest, LogOptions
from ctrlplane.provider.docker import DockerProvider

from .helpers import IMAGE, TRAP, request

CHATTY = (
    TRAP + "echo out-1; echo err-1 >&2; echo out-2; i=0; "
    "while true; do i=$((i+1)); echo tick-$i; sleep 0.2 & wait; done"
)


async def test_logs_tail_since_streams(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    await provider.provision(
        request(
            iid,
            {"name": "app", "image": IMAGE, "command": ["sh", "-c", CHATTY]},
            {
                "name": "quiet",
                "image": IMAGE,
                "role": "sidecar",
                "command": [
                    "sh",
                    "-c",
                    TRAP + "echo side-hello; while true; do sleep 1 & wait; done",
                ],
            },
        )
    )
    try:
        await asyncio.sleep(0.5)
        records = await provider.logs(iid).collect()
        # the engine copies stdout and stderr concurrently: order holds within a stream
        stdout = [r.line for r in records if r.stream == "stdout"]
        assert stdout[:3] == ["out-1", "out-2", "tick-1"]
        assert [r.line for r in records if r.stream == "stderr"] == ["err-1"]
        by_line = {r.line: r for r in records}
        assert by_line["err-1"].stream == "stderr"
        assert by_line["out-1"].stream == "stdout"
        assert all(r.service == "app" and r.replica == 0 for r in records)
        assert all(r.time.tzinfo is not None for r in records)

        tail = await provider.logs(iid, LogOptions(tail=2)).collect()
        assert len(tail) == 2
        assert tail[-1].line.startswith("tick-")

        side = await provider.logs(iid, LogOptions(service_name="quiet")).collect()
        assert [r.line for r in side] == ["side-hello"]

        cutoff = datetime.now(UTC)
        await asyncio.sleep(0.5)
        recent = await provider.logs(iid, LogOptions(since=cutoff)).collect()
        assert recent
        assert all(r.time >= cutoff - timedelta(milliseconds=5) for r in recent)
        assert "out-1" not in [r.line for r in recent]

        with pytest.raises(InvalidSpec):
            await provider.logs(iid, LogOptions(service_name="nope"))
    finally:
        await provider.deprovision(iid)


async def test_logs_follow_until_stopped_or_closed(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    await provider.provision(
        request(
            iid,
            {
                "name": "app",
                "image": IMAGE,
                "command": ["sh", "-c", CHATTY],
                "resources": {"replicas": 2},
            },
        )
    )
    try:
        seen: list[tuple[int, str]] = []
        async with provider.logs(iid, LogOptions(follow=True, tail=1)) as stream:
            async for rec in stream:
                seen.append((rec.replica, rec.line))
                if len({r for r, line in seen if line.startswith("tick-")}) == 2 and len(seen) >= 6:
                    break
        assert {r for r, _ in seen} == {0, 1}

        # a followed stream ends by itself when the containers stop
        stream = await provider.logs(iid, LogOptions(follow=True, replica=1, tail=1))
        stopper = asyncio.create_task(provider.stop(iid))
        got = await asyncio.wait_for(stream.collect(), timeout=15)
        await stopper
        assert got
        assert all(r.replica == 1 for r in got)
    finally:
        await provider.deprovision(iid)


async def test_exec(provider: DockerProvider, make_id: Callable[[], str]) -> None:
    iid = make_id()
    await provider.provision(
        request(
            iid,
            {"name": "app", "image": IMAGE, "command": ["sh", "-c", TRAP + "sleep 1000 & wait"]},
            {
                "name": "helper",
                "image": IMAGE,
                "role": "sidecar",
                "command": ["sh", "-c", TRAP + "sleep 1000 & wait"],
                "env": {"WHO": "helper"},
            },
        )
    )
    try:
        r = await provider.exec(
            iid, ExecRequest(command=["sh", "-c", "echo out; echo err >&2; exit 7"])
        )
        assert (r.exit_code, r.stdout, r.stderr) == (7, b"out\n", b"err\n")

        data = b"line one\nline two\n" * 5000  # larger than one socket buffer
        r = await provider.exec(iid, ExecRequest(command=["wc", "-c"], stdin=data))
        assert r.exit_code == 0
        assert int(r.stdout.split()[0]) == len(data)
        r = await provider.exec(iid, ExecRequest(command=["cat"], stdin=b"round trip"))
        assert r.stdout == b"round trip"
        r = await provider.exec(iid, ExecRequest(command=["cat"], stdin=b""))
        assert (r.exit_code, r.stdout) == (0, b"")

        r = await provider.exec(
            iid, ExecRequest(command=["sh", "-c", "echo $WHO"], service="helper")
        )
        assert r.stdout == b"helper\n"

        r = await provider.exec(iid, ExecRequest(command=["sh", "-c", "tty; echo x >&2"], tty=True))
        assert r.exit_code == 0
        assert b"/dev/pts" in r.stdout
        assert b"x" in r.stdout

        r = await provider.exec(iid, ExecRequest(command=["/no/such/binary"]))
        assert r.exit_code != 0
        with pytest.raises(InvalidSpec):
            await provider.exec(iid, ExecRequest(command=["true"], service="nope"))
    finally:
        await provider.deprovision(iid)


async def test_exec_refuses_a_stopped_service_and_a_missing_replica_with_four_requests(
    provider: DockerProvider, make_id: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One exec makes four engine requests whatever the instance's size (a filtered
    list, then the exec's create, start and inspect: issue 17, B5); it refuses a
    replica that does not exist and a stopped service, saying so."""
    iid = make_id()
    app = {"name": "app", "image": IMAGE, "command": ["sh", "-c", TRAP + "sleep 1000 & wait"]}
    await provider.provision(request(iid, {**app, "resources": {"replicas": 2}}))
    try:
        seen: list[str] = []
        original = aiohttp.ClientSession._request

        async def counting(self: aiohttp.ClientSession, method: str, url: Any, **kw: Any) -> Any:
            seen.append(f"{method} {str(url).split('/', 4)[-1]}")
            return await original(self, method, url, **kw)

        monkeypatch.setattr(aiohttp.ClientSession, "_request", counting)
        r = await provider.exec(iid, ExecRequest(command=["true"], replica=1))
        assert r.exit_code == 0
        assert len(seen) == 4, seen
        monkeypatch.undo()
        with pytest.raises(InvalidSpec, match="no replica 5"):
            await provider.exec(iid, ExecRequest(command=["true"], replica=5))
        await provider.stop(iid)
        with pytest.raises(BackendError, match="not running"):
            await provider.exec(iid, ExecRequest(command=["true"]))
    finally:
        await provider.deprovision(iid)
