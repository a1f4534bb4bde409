"""Contract: logs (per service and replica, stdout/stderr, tail, since, follow, clean end)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.results import LogRecord
from ctrlplane.provider.spec import LogOptions
from ctrlplane.testing.conformance.context import SuiteContext

__all__ = ["LogsContract"]


async def _read(suite: SuiteContext, iid: str, opts: LogOptions) -> list[LogRecord]:
    async with asyncio.timeout(suite.harness.timeout):
        return await suite.provider.logs(iid, opts).collect()


async def _until(
    suite: SuiteContext, iid: str, opts: LogOptions, want: Sequence[str]
) -> list[LogRecord]:
    """Read (not follow) until every line of ``want`` is there; return the records."""

    async def check() -> list[LogRecord]:
        records = await _read(suite, iid, opts)
        lines = [r.line for r in records]
        assert all(w in lines for w in want), f"have {lines}, want {list(want)}"
        return records

    return await suite.eventually(check, f"log lines {list(want)}")


def _ticks(records: Sequence[LogRecord]) -> list[LogRecord]:
    return [r for r in records if r.line.startswith("tick ")]


class LogsContract:
    """``logs``."""

    async def _logger(
        self,
        suite: SuiteContext,
        lines: Sequence[str],
        stderr_lines: Sequence[str] = (),
        tick: bool = False,
    ) -> str:
        suite.require(Capability.PROVISION, Capability.LOGS)
        app = suite.harness.log_service("app", lines=lines, stderr_lines=stderr_lines, tick=tick)
        req, _ = await suite.provision(app)
        return req.instance_id

    async def test_logs_of_the_main_service_in_order(self, suite: SuiteContext) -> None:
        iid = await self._logger(suite, lines=["one", "two", "three"])
        records = await _until(suite, iid, LogOptions(), ["one", "two", "three"])
        assert [r.line for r in records if r.stream == "stdout"] == ["one", "two", "three"]
        assert {r.service for r in records} == {"app"}
        times = [r.time for r in records]
        assert times == sorted(times)

    async def test_logs_separate_stdout_and_stderr(self, suite: SuiteContext) -> None:
        iid = await self._logger(suite, lines=["to-out"], stderr_lines=["to-err"])
        records = await _until(suite, iid, LogOptions(), ["to-out", "to-err"])
        streams = {r.line: r.stream for r in records}
        assert streams == {"to-out": "stdout", "to-err": "stderr"}

    async def test_logs_tail(self, suite: SuiteContext) -> None:
        iid = await self._logger(suite, lines=[f"line {n}" for n in range(1, 6)])
        await _until(suite, iid, LogOptions(), ["line 5"])
        tail = await _read(suite, iid, LogOptions(tail=2))
        assert [r.line for r in tail] == ["line 4", "line 5"]

    async def test_logs_per_service(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION, Capability.LOGS)
        h = suite.harness
        side = h.log_service("side", lines=["side line"]).model_copy(
            update={"role": ServiceRole.SIDECAR}
        )
        req, _ = await suite.provision(h.log_service("app", lines=["app line"]), side)
        iid = req.instance_id
        records = await _until(suite, iid, LogOptions(service_name="side"), ["side line"])
        assert [r.line for r in records] == ["side line"]
        assert {r.service for r in records} == {"side"}
        main = await _until(suite, iid, LogOptions(), ["app line"])
        assert [r.line for r in main] == ["app line"]

    async def test_logs_per_replica(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION, Capability.LOGS)
        req, _ = await suite.provision(
            suite.harness.log_service("app", lines=["hello"]), replicas=2
        )
        iid = req.instance_id
        one = await _until(suite, iid, LogOptions(replica=1), ["hello"])
        assert {r.replica for r in one} == {1}
        assert [r.line for r in one] == ["hello"]

        async def both() -> bool:
            merged = await _read(suite, iid, LogOptions())
            assert {r.replica for r in merged} == {0, 1}, merged
            return True

        await suite.eventually(both, "lines of both replicas")

    async def test_logs_since(self, suite: SuiteContext) -> None:
        iid = await self._logger(suite, lines=["start"], tick=True)

        async def three_ticks() -> list[LogRecord]:
            ticks = _ticks(await _read(suite, iid, LogOptions()))
            assert len(ticks) >= 3, ticks
            return ticks

        ticks = await suite.eventually(three_ticks, "three ticks")
        since = ticks[1].time
        later = await _read(suite, iid, LogOptions(since=since))
        assert later, "nothing since the second tick"
        assert all(r.time >= since for r in later), later
        lines = [r.line for r in later]
        assert "start" not in lines, lines
        assert ticks[0].line not in lines, lines
        assert ticks[1].line in lines, (ticks, later)

    async def test_follow_streams_new_lines_until_the_caller_stops(
        self, suite: SuiteContext
    ) -> None:
        iid = await self._logger(suite, lines=["start"], tick=True)
        h = suite.harness
        got: list[LogRecord] = []
        stream = suite.provider.logs(iid, LogOptions(follow=True, tail=1))
        async with asyncio.timeout(h.timeout + 4 * h.log_tick):
            async for record in stream:
                got.append(record)
                if len(_ticks(got)) >= 3:
                    break
            await stream.aclose()
        numbers = [int(r.line.split()[1]) for r in _ticks(got)]
        assert numbers == sorted(set(numbers)), numbers

    async def test_follow_ends_when_the_instance_stops(self, suite: SuiteContext) -> None:
        iid = await self._logger(suite, lines=["ready"])
        h = suite.harness
        await _until(suite, iid, LogOptions(), ["ready"])
        stream = suite.provider.logs(iid, LogOptions(follow=True))
        await stream.open()
        reader = asyncio.create_task(stream.collect())
        await asyncio.sleep(0)
        async with asyncio.timeout(h.timeout):
            await suite.provider.stop(iid)
        try:
            async with asyncio.timeout(h.timeout):
                records = await reader
        except TimeoutError:
            reader.cancel()
            pytest.fail("a followed log stream did not end after the instance stopped")
        assert "ready" in [r.line for r in records]

    async def test_logs_of_an_unknown_service_fail_on_open(self, suite: SuiteContext) -> None:
        iid = await self._logger(suite, lines=["x"])
        with pytest.raises(CtrlplaneError):
            await suite.provider.logs(iid, LogOptions(service_name="ghost"))
