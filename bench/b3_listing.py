"""B3: listing and status across N instances (default 200), with engine calls counted.

Set-up: a child process (:mod:`bench.manager`) provisions N idle one-service instances,
then lists them and reads every status; its peak RSS is the memory of a process
managing N instances. Then every contender talks to the engine through a
:class:`~bench.proxy.CountingProxy`, which counts the requests and the list calls
(``GET /containers/json``, ``/networks``, ``/volumes``...) each listing makes:

- ``list_instances`` and ``status`` of one instance, in-process, on a provider that has
  negotiated the API version already;
- ``ctrlplane ls`` and ``ctrlplane status <id>`` (whole CLI processes, ``-o json``; their
  peak RSS too);
- ``docker ps -a --filter label=io.ctrlplane.instance`` (every instance's containers)
  and ``... =<id>`` (one instance's), the docker CLI doing the same lookups.

Goals (issue 17): <= 2 engine list calls per listing, <= 0.5 s.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable

from bench.context import INSTANCE_LABEL, Run
from bench.engines import ROOT
from bench.interleave import Contender, interleave
from bench.procs import Finished, run_process
from bench.proxy import CountingProxy, is_list_call
from bench.results import BenchmarkResult, Check, Goal, Trial, ratio_check
from ctrlplane.provider.docker import DockerProvider

__all__ = ["TITLE", "run"]

TITLE = "list_instances / ctrlplane ls and status across N instances, engine calls counted"

MIB = 1024.0


def _counted(proxy: CountingProxy, mark: int, seconds: float, **extra: float) -> Trial:
    seen = proxy.since(mark)
    metrics = {
        "list calls": float(sum(1 for s in seen if is_list_call(s))),
        "requests": float(len(seen)),
        **extra,
    }
    return Trial(seconds, metrics, {"requests": sorted({f"{s.method} {s.path}" for s in seen})})


async def run(run: Run, result: BenchmarkResult) -> None:
    """Measure B3 into ``result`` (see the module docstring)."""
    n = run.options.sizes.instances
    engine = await run.engine_for(networks=n)
    result.engine = engine.name
    result.size = {"instances": n}
    ids = [run.new_instance_id() for _ in range(n)]
    owner = run.provider(engine)
    ids_file = run.workdir / "b3-ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    async with run.janitor.holding(
        f"B3: {n} instances", lambda: _remove_all(run, owner, ids, result), within=1800
    ):
        manager = await run_process(
            [
                sys.executable, "-m", "bench.manager",
                "--engine", engine.url,
                "--tenant", run.tenant,
                "--ids-file", str(ids_file),
                *(a for k, v in run.labels.items() for a in ("--label", f"{k}={v}")),
            ],
            cwd=run.workdir,
            env={"PYTHONPATH": str(ROOT)},
            within=3600,
        )  # fmt: skip
        report = _manager_report(manager)
        result.extra["manager"] = report
        result.extra["memory_mib"] = {
            f"process managing {n} instances (provision, list, status of each)": (
                manager.max_rss_kib / MIB
            )
        }
        if manager.returncode != 0:
            raise RuntimeError(f"the manager process failed: {report}")
        proxy = CountingProxy(engine.url, run.workdir / "b3-proxy.sock")
        await proxy.start()
        try:
            await _measure(run, result, proxy, ids[n // 2], n)
        finally:
            await proxy.close()


def _manager_report(done: Finished) -> dict[str, object]:
    try:
        report: dict[str, object] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        report = {"stderr": done.stderr.decode("utf-8", "replace")[-1500:]}
    report["max_rss_mib"] = done.max_rss_kib / MIB
    report["wall_s"] = done.wall
    return report


async def _remove_all(
    run: Run, provider: DockerProvider, ids: list[str], result: BenchmarkResult
) -> None:
    started = time.monotonic()
    errors = await run.deprovision_all(provider, ids)
    result.extra["deprovision_all_s"] = time.monotonic() - started
    if errors:
        raise RuntimeError(f"{len(errors)} instances not removed: {errors[:3]}")


async def _measure(
    run: Run, result: BenchmarkResult, proxy: CountingProxy, target: str, n: int
) -> None:
    provider = run.provider(run.engines_used[result.engine], docker_host=proxy.url)
    await provider.health_check()  # the API version, negotiated once
    env = {"DOCKER_HOST": proxy.url}

    async def list_instances(rep: int) -> Trial:
        mark, began = proxy.mark(), time.monotonic()
        found = await provider.list_instances()
        return _counted(proxy, mark, time.monotonic() - began, instances=float(len(found)))

    async def status(rep: int) -> Trial:
        mark, began = proxy.mark(), time.monotonic()
        await provider.status(target)
        return _counted(proxy, mark, time.monotonic() - began)

    def process(argv: list[str]) -> Callable[[int], Awaitable[Trial]]:
        async def trial(rep: int) -> Trial:
            mark = proxy.mark()
            done = (await run_process(argv, env=env, cwd=run.workdir, within=120)).check()
            return _counted(proxy, mark, done.wall, **{"peak RSS_mib": done.max_rss_kib / MIB})

        return trial

    ls_argv = run.cli(proxy.url, "-o", "json", "ls")
    status_argv = run.cli(proxy.url, "-o", "json", "status", target)
    ps_all = ["docker", "ps", "-a", "-q", "--filter", f"label={INSTANCE_LABEL}"]
    ps_one = ["docker", "ps", "-a", "-q", "--filter", f"label={INSTANCE_LABEL}={target}"]
    await interleave(
        result,
        [
            Contender("list_instances", list_instances),
            Contender("ctrlplane ls", process(ls_argv)),
            Contender("docker ps (every instance)", process(ps_all)),
            Contender("status", status),
            Contender("ctrlplane status", process(status_argv)),
            Contender("docker ps (one instance)", process(ps_one)),
        ],
        run.reps("B3"),
    )
    for name in ("list_instances", "ctrlplane ls", "status", "ctrlplane status"):
        c = result.contender(name)
        calls = c.metric("list calls")
        if calls is not None:
            result.checks.append(Check(f"{name}: list calls", calls.max, "calls", Goal("<=", 2)))
        if c.seconds is not None:
            result.checks.append(Check(f"{name}: seconds", c.seconds.median, "s", Goal("<=", 0.5)))
    for ours, theirs in (
        ("ctrlplane ls", "docker ps (every instance)"),
        ("ctrlplane status", "docker ps (one instance)"),
    ):
        check = ratio_check(
            f"{ours} / {theirs}", result.contender(ours), result.contender(theirs), None
        )
        if check:
            result.checks.append(check)
    memory = result.extra.setdefault("memory_mib", {})
    for name in ("ctrlplane ls", "ctrlplane status"):
        rss = result.contender(name).metric("peak RSS_mib")
        if rss is not None:
            memory[f"{name} across {n} instances (CLI process)"] = rss.median
    listed = result.contender("list_instances").metric("instances")
    if listed is not None and listed.min < n:
        result.notes.append(f"list_instances found {listed.min:g} instances, fewer than {n}")
