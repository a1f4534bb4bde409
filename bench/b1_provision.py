"""B1: provision the 3-service workload until its endpoint answers, then remove it.

Contenders, on the shared engine, taking turns: the aiodocker floor, the docker CLI
script and docker-compose (see :mod:`bench.by_hand`), and ``DockerProvider.provision``
(default settings) then ``deprovision``. A trial's seconds are ``up`` (start until
``GET /`` on the published port answers) plus ``down`` (removal of everything); both
are also kept apart. The provider's trials also time each provision step from the
progress events (``events=``), which is where its time goes.

Goals (issue 17): provider <= 1.05x the floor (stretch <= 0.9x), <= 0.9x the docker
CLI script and compose.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bench.by_hand import AiodockerFloor, ComposeProject, DockerCliScript, compose_missing
from bench.context import Run
from bench.httpwait import wait_http
from bench.interleave import Contender, interleave
from bench.results import BenchmarkResult, Goal, Trial, ratio_check
from bench.steps import StepClock
from bench.workload import web_request
from ctrlplane.provider.docker import DockerProvider

__all__ = ["TITLE", "run"]

TITLE = "provision the 3-service workload until its endpoint answers, then remove it"


async def _trial(
    run: Run,
    what: str,
    up: Callable[[], Awaitable[int]],
    down: Callable[[], Awaitable[object]],
) -> Trial:
    """Time ``up`` + waiting for the endpoint, then ``down`` (run even if up fails)."""
    token = run.janitor.register(what, down)
    started = time.monotonic()
    try:
        port = await up()
        await wait_http("127.0.0.1", port)
        up_s = time.monotonic() - started
    finally:
        removing = time.monotonic()
        problem = await run.janitor.release(token)
        down_s = time.monotonic() - removing
    if problem:
        raise RuntimeError(problem)
    return Trial(up_s + down_s, {"up_s": up_s, "down_s": down_s})


async def _provider_trial(run: Run, provider: DockerProvider, rep: int) -> Trial:
    req = web_request(run.new_instance_id(), tenant=run.tenant, labels=run.labels)
    clock = StepClock()

    async def up() -> int:
        clock.start()
        result = await provider.provision(req, events=clock.record)
        clock.stop()
        public = [e for e in result.endpoints if e.public]
        return public[0].port

    trial = await _trial(
        run, f"instance {req.instance_id}", up, lambda: provider.deprovision(req.instance_id)
    )
    clock.add_wait("wait for the endpoint", trial.metrics["up_s"] - clock.total())
    clock.add_wait("deprovision", trial.metrics["down_s"])
    metrics = {**trial.metrics, **clock.metrics()}
    return Trial(trial.seconds, metrics, {"rep": rep, "steps": clock.timeline()})


async def run(run: Run, result: BenchmarkResult) -> None:
    """Measure B1 into ``result`` (see the module docstring)."""
    engine = run.shared
    result.engine = engine.name
    provider = run.provider(engine)
    await provider.health_check()  # negotiates the API version once, as a long-lived caller
    result.notes.append(
        "the provider object is created once and has negotiated the API version before "
        "the first trial (a long-lived caller); default DockerConfig"
    )

    async def floor(rep: int) -> Trial:
        hand = AiodockerFloor(engine, run.name("b1", "floor", rep), run.labels)
        trial = await _trial(run, f"B1 floor rep {rep}", hand.up, hand.down)
        trial.metrics.update({f"step: {k}": v for k, v in hand.steps.items()})
        return trial

    def cli(rep: int) -> Awaitable[Trial]:
        hand = DockerCliScript(engine, run.name("b1", "cli", rep), run.labels)
        return _trial(run, f"B1 docker CLI rep {rep}", hand.up, hand.down)

    def compose(rep: int) -> Awaitable[Trial]:
        project = ComposeProject(engine, run.name("b1", "compose", rep), run.labels, run.workdir)
        return _trial(run, f"B1 compose rep {rep}", project.up, project.down)

    def library(rep: int) -> Awaitable[Trial]:
        return _provider_trial(run, provider, rep)

    await interleave(
        result,
        [
            Contender("aiodocker floor", floor),
            Contender("docker CLI script", cli),
            Contender("docker-compose", compose, unavailable=compose_missing()),
            Contender("DockerProvider", library),
        ],
        run.reps("B1"),
    )
    ours = result.contender("DockerProvider")
    for other, name, goal in (
        ("aiodocker floor", "DockerProvider / floor", Goal("<=", 1.05)),
        ("aiodocker floor", "DockerProvider / floor (stretch)", Goal("<=", 0.9)),
        ("docker CLI script", "DockerProvider / docker CLI script", Goal("<=", 0.9)),
        ("docker-compose", "DockerProvider / docker-compose", Goal("<=", 0.9)),
    ):
        check = ratio_check(name, ours, result.contender(other), goal, note="up + down")
        if check:
            result.checks.append(check)
    for other in ("aiodocker floor", "docker CLI script", "docker-compose"):
        check = ratio_check(
            f"DockerProvider / {other}, up only",
            ours,
            result.contender(other),
            None,
            metric="up_s",
        )
        if check:
            result.checks.append(check)
