"""B7: a gated rolling deploy of 2 replicas against Swarm's native rolling update.

Both run the example image's httpd with 2 replicas (``--quick``: 1) and the same probe settings
(interval = timeout = ``probe_interval``, default 1 s; 3 retries); each deploy changes
one environment variable, one replica at a time, starting the new one before stopping
the old one:

- ``DockerProvider.deploy`` (rolling, default settings: ``max_surge`` 1, each new unit
  gated by its HTTP health check, the old one drained for ``drain_period`` 1 s), timed
  until it returns; its steps are timed from the progress events;
- a Swarm service (``--update-parallelism 1 --update-order start-first
  --update-monitor <interval>``, health command ``wget`` of the same page), timed from
  ``docker service update --detach`` until Swarm marks the update ``completed``.

Swarm runs only where the engine allows it and is not in swarm mode already (see
:mod:`bench.swarm`); the benchmark always leaves the Swarm it made. Both use the example
image under a loopback tag (:func:`bench.swarm.loopback_tag`).

Goal (issue 17): provider <= 1.2x Swarm.
"""

from __future__ import annotations

import contextlib
import time

from bench.context import Run
from bench.interleave import Contender, interleave
from bench.results import BenchmarkResult, Goal, Trial, ratio_check
from bench.steps import StepClock
from bench.swarm import SwarmService, SwarmUnavailable, local_swarm, loopback_tag
from bench.workload import TRAP
from ctrlplane.provider import DeployRequest, DeployStrategy, ProvisionRequest, ServiceDeploySpec
from ctrlplane.provider.docker import DockerProvider

__all__ = ["TITLE", "run"]

TITLE = "gated rolling deploy of 2 replicas vs Swarm's native rolling update"

COMMAND = f"{TRAP}httpd -f -p 8080 -h /var/www & wait"
RETRIES = 3


def _request(run: Run, image: str, interval: float, replicas: int) -> ProvisionRequest:
    return ProvisionRequest.model_validate(
        {
            "instance_id": run.new_instance_id(),
            "tenant_id": run.tenant,
            "name": "b7",
            "labels": run.labels,
            "services": [
                {
                    "name": "web",
                    "image": image,
                    "command": ["sh", "-c", COMMAND],
                    "env": {"V": "0"},
                    "ports": [{"container": 8080}],
                    "resources": {"replicas": replicas},
                    "health_check": {
                        "path": "/",
                        "port": 8080,
                        "interval": interval,
                        "timeout": interval,
                        "retries": RETRIES,
                    },
                }
            ],
        }
    )


async def _deploy(provider: DockerProvider, iid: str, image: str, value: str) -> Trial:
    """One rolling deploy changing ``V``, timed, with its steps."""
    clock = StepClock()
    deploy = DeployRequest(
        instance_id=iid,
        services=[ServiceDeploySpec(name="web", image=image, env={"V": value})],
        strategy=DeployStrategy.ROLLING,
    )
    clock.start()
    await provider.deploy(deploy, events=clock.record)
    clock.stop()
    return Trial(clock.total(), clock.metrics(), {"steps": clock.timeline()})


async def run(run: Run, result: BenchmarkResult) -> None:
    """Measure B7 into ``result`` (see the module docstring)."""
    engine = run.shared
    result.engine = engine.name
    interval = run.options.sizes.probe_interval
    replicas = run.options.sizes.rolling_replicas
    result.size = {"replicas": replicas, "probe_interval_s": interval, "probe_retries": RETRIES}
    provider = run.provider(engine)
    async with contextlib.AsyncExitStack() as stack:
        image = await stack.enter_async_context(loopback_tag(run, engine))
        req = _request(run, image, interval, replicas)
        await stack.enter_async_context(run.instance(provider, req))
        service = SwarmService(
            run, engine, image=image, replicas=replicas, interval=interval, retries=RETRIES
        )
        unavailable = ""
        try:
            await stack.enter_async_context(local_swarm(run, engine))
        except SwarmUnavailable as exc:
            unavailable = str(exc)
        else:
            stack.push_async_callback(service.remove)
            began = time.monotonic()
            await service.create(COMMAND)
            result.extra["swarm_service_create_s"] = time.monotonic() - began

        async def library(rep: int) -> Trial:
            return await _deploy(provider, req.instance_id, image, str(rep + 1))

        async def swarm(rep: int) -> Trial:
            return Trial(await service.update_env(str(rep + 1)))

        await interleave(
            result,
            [
                Contender("DockerProvider.deploy (rolling)", library),
                Contender("Swarm rolling update", swarm, unavailable=unavailable),
            ],
            run.reps("B7"),
        )
    check = ratio_check(
        "DockerProvider.deploy / Swarm update",
        result.contender("DockerProvider.deploy (rolling)"),
        result.contender("Swarm rolling update"),
        Goal("<=", 1.2),
    )
    if check:
        result.checks.append(check)
