"""B2: N workloads provisioned one after another, then all at once on one event loop.

One :class:`DockerProvider` (default settings) provisions N copies of the 3-service
workload: ``sequential`` awaits each ``provision`` before the next, ``concurrent``
gathers all N. The seconds are the wall time of the N provisions; every instance is
deprovisioned after each trial (N at a time at most 16 at once, timed apart as
``deprovision_s``). ``errors`` counts provisions that raised. N (``--workloads``,
default 50) needs N instance networks at once, so a large N runs on the wide engine.

Goals (issue 17): concurrent <= 0.35x sequential, no errors.
"""

from __future__ import annotations

import asyncio
import time

from bench.context import Run
from bench.interleave import Contender, interleave
from bench.results import BenchmarkResult, Check, Goal, Trial, ratio_check
from bench.workload import web_request
from ctrlplane.provider.docker import DockerProvider

__all__ = ["TITLE", "run"]

TITLE = "N workloads provisioned concurrently (one event loop) vs one after another"


async def _trial(run: Run, provider: DockerProvider, rep: int, *, concurrent: bool) -> Trial:
    n = run.options.sizes.workloads
    reqs = [
        web_request(run.new_instance_id(), tenant=run.tenant, labels=run.labels, name=f"b2-{i}")
        for i in range(n)
    ]
    ids = [r.instance_id for r in reqs]
    mode = "concurrent" if concurrent else "sequential"
    token = run.janitor.register(
        f"B2 {mode} rep {rep}: {n} instances",
        lambda: run.deprovision_all(provider, ids),
        within=900,
    )
    latencies: list[float] = []
    errors: list[str] = []

    async def one(req_index: int) -> None:
        began = time.monotonic()
        try:
            await provider.provision(reqs[req_index])
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            return
        latencies.append(time.monotonic() - began)

    started = time.monotonic()
    try:
        if concurrent:
            await asyncio.gather(*(one(i) for i in range(n)))
        else:
            for i in range(n):
                await one(i)
        seconds = time.monotonic() - started
    finally:
        removing = time.monotonic()
        problem = await run.janitor.release(token)
        removed_in = time.monotonic() - removing
    if problem:
        raise RuntimeError(problem)
    metrics = {"errors": float(len(errors)), "deprovision_s": removed_in}
    if latencies:
        metrics["median provision latency_s"] = sorted(latencies)[len(latencies) // 2]
        metrics["max provision latency_s"] = max(latencies)
    return Trial(seconds, metrics, {"rep": rep, "errors": errors[:5]} if errors else {})


async def run(run: Run, result: BenchmarkResult) -> None:
    """Measure B2 into ``result`` (see the module docstring)."""
    n = run.options.sizes.workloads
    engine = await run.engine_for(networks=n)
    result.engine = engine.name
    result.size = {"workloads": n}
    provider = run.provider(engine)
    await provider.health_check()

    async def sequential(rep: int) -> Trial:
        return await _trial(run, provider, rep, concurrent=False)

    async def concurrent(rep: int) -> Trial:
        return await _trial(run, provider, rep, concurrent=True)

    await interleave(
        result,
        [Contender("sequential", sequential), Contender("concurrent", concurrent)],
        run.reps("B2"),
    )
    check = ratio_check(
        "concurrent / sequential",
        result.contender("concurrent"),
        result.contender("sequential"),
        Goal("<=", 0.35),
    )
    if check:
        result.checks.append(check)
    errors = result.contender("concurrent").metric("errors")
    if errors is not None:
        result.checks.append(
            Check("errors (concurrent, worst trial)", errors.max, "", Goal("<=", 0))
        )
    if engine.name == "wide":
        result.notes.append(
            "on the wide engine (a normal dockerd in its own network namespace with a "
            "256-network address pool: 50 instance networks do not fit a default pool)"
        )
