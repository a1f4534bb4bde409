"""B4: reading N log lines (default 1,000,000), all at once and following.

One instance's service prints N numbered lines of ~65 bytes, then an end marker, then
idles (:func:`bench.workload.log_request`); the readers start once the marker is in the
log. Contenders, taking turns:

- tail all: ``provider.logs(id, LogOptions())`` (records counted in-process),
  ``ctrlplane logs <id> --tail 0`` and ``docker logs <container>`` (lines of their
  standard output counted as they arrive);
- follow: the same with ``follow=True`` / ``-f``, read until the end marker arrives.

Lines per second is N+1 over the seconds. Goal (issue 17): >= 0.8x ``docker logs``'s
lines per second, i.e. ``docker logs`` seconds / ours >= 0.8.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bench.context import Run
from bench.interleave import Contender, interleave
from bench.procs import count_output_lines
from bench.results import BenchmarkResult, Goal, Trial, ratio_check
from bench.workload import LOG_END, log_request
from ctrlplane.provider import LogOptions
from ctrlplane.provider.docker import DockerProvider

__all__ = ["TITLE", "run"]

TITLE = "logs: N lines read (tail all, and follow)"


async def _wait_for_marker(provider: DockerProvider, iid: str, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        async with provider.logs(iid, LogOptions(tail=1)) as records:
            async for rec in records:
                if rec.line == LOG_END:
                    return time.monotonic() - started
        await asyncio.sleep(0.25)
    raise TimeoutError(f"the log did not reach its end marker in {within:g} s")


def _rate(lines: int, seconds: float, expected: int) -> Trial:
    if lines < expected:
        raise RuntimeError(f"read {lines} lines, expected {expected}")
    return Trial(seconds, {"lines": float(lines), "lines per second": lines / seconds})


async def run(run: Run, result: BenchmarkResult) -> None:
    """Measure B4 into ``result`` (see the module docstring)."""
    n = run.options.sizes.log_lines
    engine = run.shared
    result.engine = engine.name
    result.size = {"lines": n}
    provider = run.provider(engine)
    req = log_request(run.new_instance_id(), tenant=run.tenant, labels=run.labels, lines=n)
    iid = req.instance_id
    expected = n + 1
    async with run.instance(provider, req):
        result.extra["log_written_s"] = await _wait_for_marker(provider, iid, 120 + n / 2000)
        container = (await run.container_ids(engine, iid))[0]

        def library(follow: bool) -> Callable[[int], Awaitable[Trial]]:
            async def trial(rep: int) -> Trial:
                lines = 0
                began = time.monotonic()
                async with provider.logs(iid, LogOptions(follow=follow)) as records:
                    async for rec in records:
                        lines += 1
                        if rec.line == LOG_END:
                            break
                return _rate(lines, time.monotonic() - began, expected)

            return trial

        def process(argv: list[str], follow: bool) -> Callable[[int], Awaitable[Trial]]:
            async def trial(rep: int) -> Trial:
                seen = await count_output_lines(
                    argv, env=engine.env, until=LOG_END.encode() if follow else b""
                )
                trial = _rate(seen.lines, seen.seconds, expected)
                if seen.max_rss_kib is not None:
                    trial.metrics["peak RSS_mib"] = seen.max_rss_kib / 1024
                return trial

            return trial

        cli = run.cli(engine.url, "logs", iid, "--tail", "0")
        await interleave(
            result,
            [
                Contender("provider.logs (tail all)", library(False)),
                Contender("ctrlplane logs (tail all)", process(cli, False)),
                Contender("docker logs (tail all)", process(["docker", "logs", container], False)),
                Contender("provider.logs (follow)", library(True)),
                Contender("ctrlplane logs -f", process([*cli, "-f"], True)),
                Contender("docker logs -f", process(["docker", "logs", "-f", container], True)),
            ],
            run.reps("B4"),
        )
    memory: dict[str, float] = {}
    for name in ("ctrlplane logs (tail all)", "docker logs (tail all)"):
        rss = result.contender(name).metric("peak RSS_mib")
        if rss is not None:
            memory[f"{name}, {n} lines (process)"] = rss.median
    result.extra["memory_mib"] = memory
    for mode, docker in (("tail all", "docker logs (tail all)"), ("follow", "docker logs -f")):
        for ours in (
            f"provider.logs ({mode})",
            "ctrlplane logs -f" if mode == "follow" else "ctrlplane logs (tail all)",
        ):
            check = ratio_check(
                f"{ours} lines/s vs {docker}",
                result.contender(docker),
                result.contender(ours),
                Goal(">=", 0.8),
                note="docker seconds / ours = our lines per second / docker's",
            )
            if check:
                result.checks.append(check)
