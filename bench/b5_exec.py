"""B5: the round trip of running ``true`` in a service.

One idle instance; contenders, taking turns: ``provider.exec(id, ExecRequest(["true"]))``
in-process (a provider that negotiated the API version already), the ``docker exec
<container> true`` process, and ``ctrlplane exec <id> -- true`` (a whole CLI process,
reported for comparison). Every run must exit 0. After the timed runs, one more
``provider.exec`` goes through the counting proxy (:mod:`bench.proxy`): the engine
requests one exec makes are in ``extra["provider.exec requests"]``.

Goal (issue 17): ``provider.exec`` <= 0.5x ``docker exec``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bench.context import Run
from bench.interleave import Contender, interleave
from bench.procs import run_process
from bench.proxy import CountingProxy
from bench.results import BenchmarkResult, Goal, Trial, ratio_check
from bench.workload import idle_request
from ctrlplane.provider import ExecRequest

__all__ = ["TITLE", "run"]

TITLE = "exec round trip (true)"


async def run(run: Run, result: BenchmarkResult) -> None:
    """Measure B5 into ``result`` (see the module docstring)."""
    engine = run.shared
    result.engine = engine.name
    provider = run.provider(engine)
    req = idle_request(run.new_instance_id(), tenant=run.tenant, labels=run.labels, name="b5")
    iid = req.instance_id
    async with run.instance(provider, req):
        container = (await run.container_ids(engine, iid))[0]

        async def library(rep: int) -> Trial:
            began = time.monotonic()
            done = await provider.exec(iid, ExecRequest(command=["true"]))
            seconds = time.monotonic() - began
            if done.exit_code != 0:
                raise RuntimeError(f"true exited {done.exit_code}: {done.stderr!r}")
            return Trial(seconds)

        def process(argv: list[str]) -> Callable[[int], Awaitable[Trial]]:
            async def trial(rep: int) -> Trial:
                done = (await run_process(argv, env=engine.env, cwd=run.workdir)).check()
                return Trial(done.wall)

            return trial

        await interleave(
            result,
            [
                Contender("provider.exec", library),
                Contender("docker exec", process(["docker", "exec", container, "true"])),
                Contender(
                    "ctrlplane exec", process(run.cli(engine.url, "exec", iid, "--", "true"))
                ),
            ],
            run.reps("B5"),
        )
        proxy = CountingProxy(engine.url, run.workdir / "b5-proxy.sock")
        await proxy.start()
        try:
            counted = run.provider(engine, docker_host=proxy.url)
            await counted.exec(iid, ExecRequest(command=["true"]))  # negotiates the API
            mark = proxy.mark()
            await counted.exec(iid, ExecRequest(command=["true"]))
            result.extra["provider.exec requests"] = [
                f"{s.method} {s.path}" for s in proxy.since(mark)
            ]
        finally:
            await proxy.close()
    check = ratio_check(
        "provider.exec / docker exec",
        result.contender("provider.exec"),
        result.contender("docker exec"),
        Goal("<=", 0.5),
    )
    if check:
        result.checks.append(check)
    check = ratio_check(
        "ctrlplane exec / docker exec",
        result.contender("ctrlplane exec"),
        result.contender("docker exec"),
        None,
    )
    if check:
        result.checks.append(check)
