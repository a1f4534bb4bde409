"""A single-node Swarm on the shared engine, for B7 only, and always left afterwards.

:func:`local_swarm` is a context manager: it refuses (with the reason) when ``--swarm
never`` was given, when the engine is in swarm mode already, for whatever reason
(someone else's Swarm is never touched), or when containers other than this run's are
running on user-defined networks: leaving a Swarm erases the embedded DNS names of every
such network on Docker 20.10 (after ``docker swarm leave --force`` each service name on
them answers NXDOMAIN until its container rejoins the network), which would silently
break their service names (a ctrlplane front, for one, could no longer reach its
service). Otherwise it runs ``docker swarm init --advertise-addr 127.0.0.1`` and, whatever
happens in the block (an error, Ctrl-C, SIGTERM: the janitor holds the undo), runs
``docker swarm leave --force`` and removes the ``docker_gwbridge`` network if the Swarm
created it. :class:`SwarmService` is a replicated service with a health check whose
rolling updates can be timed until Swarm reports them completed.

A Swarm agent tries to pull a task's image before every start, even when the engine has
it (the failure is only logged). So that it never reaches for a registry outside this
machine, :func:`loopback_tag` tags the local image as ``127.0.0.1:1/...`` (a port where
nothing listens): the pull is refused at once, the local image is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from bench.context import Run
from bench.engines import IMAGE, Engine
from bench.procs import run_process

__all__ = ["SwarmService", "SwarmUnavailable", "local_swarm", "loopback_tag"]

GWBRIDGE = "docker_gwbridge"


class SwarmUnavailable(RuntimeError):
    """Swarm cannot be used here (the message says why)."""


async def _state(engine: Engine) -> str:
    async with engine.client() as docker:
        info: Mapping[str, Any] = await docker.system.info()
    return str((info.get("Swarm") or {}).get("LocalNodeState", "unknown"))


async def _has_network(engine: Engine, name: str) -> bool:
    async with engine.client() as docker:
        found = await docker.networks.list(filters={"name": [name]})
    return any(n.get("Name") == name for n in found)


async def _leave(engine: Engine, remove_gwbridge: bool) -> None:
    left = await run_process(["docker", "swarm", "leave", "--force"], env=engine.env, within=120)
    if left.returncode != 0 and await _state(engine) != "inactive":
        raise RuntimeError(f"docker swarm leave failed: {left.stderr.decode()[-300:]}")
    if remove_gwbridge:
        for _ in range(50):
            if not await _has_network(engine, GWBRIDGE):
                break
            gone = await run_process(["docker", "network", "rm", GWBRIDGE], env=engine.env)
            if gone.returncode == 0:
                break
            await asyncio.sleep(0.2)


async def _other_networked(run: Run, engine: Engine) -> list[str]:
    """Names of running containers not of this run that are on a user-defined network."""
    builtin = {"bridge", "host", "none"}
    mine = run.labels
    async with engine.client() as docker:
        found = await docker.containers.list()
    names = []
    for container in found:
        labels: Mapping[str, str] = container["Labels"] or {}
        if all(labels.get(k) == v for k, v in mine.items()):
            continue
        settings: Mapping[str, Any] = container["NetworkSettings"] or {}
        if set(settings.get("Networks") or {}) - builtin:
            names.append(str((container["Names"] or ["?"])[0]).lstrip("/"))
    return names


@contextlib.asynccontextmanager
async def local_swarm(run: Run, engine: Engine) -> AsyncIterator[None]:
    """Init a Swarm for the block and leave it after (see the module docstring);
    :class:`SwarmUnavailable` if the engine is in swarm mode already or init fails."""
    if run.options.swarm == "never":
        raise SwarmUnavailable("not made: --swarm never")
    others = await _other_networked(run, engine)
    if others:
        raise SwarmUnavailable(
            f"{len(others)} other container(s) run on user-defined networks of this engine "
            f"(e.g. {others[0]}): leaving a Swarm would erase their networks' DNS names, "
            "so B7 makes none beside them"
        )
    state = await _state(engine)
    if state != "inactive":
        raise SwarmUnavailable(
            f"the engine's swarm state is {state!r}, not 'inactive': a Swarm that B7 did "
            "not make is never touched"
        )
    had_gwbridge = await _has_network(engine, GWBRIDGE)
    token = run.janitor.register(
        "the benchmark's Swarm (docker swarm leave --force)",
        lambda: _leave(engine, remove_gwbridge=not had_gwbridge),
    )
    init = await run_process(
        ["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], env=engine.env, within=120
    )
    try:
        if init.returncode != 0:
            raise SwarmUnavailable(f"docker swarm init failed: {init.stderr.decode()[-400:]}")
        yield
    finally:
        problem = await run.janitor.release(token)
        if problem:
            raise RuntimeError(problem)


def _describe(status: Mapping[str, Any]) -> str:
    return f"{status.get('State')}: {status.get('Err') or status.get('Message')}"


@contextlib.asynccontextmanager
async def loopback_tag(run: Run, engine: Engine) -> AsyncIterator[str]:
    """The example image tagged ``127.0.0.1:1/ctrlplane-bench/busybox:<run id>`` for the
    block (see the module docstring); the tag is removed after it."""
    ref = f"127.0.0.1:1/ctrlplane-bench/busybox:{run.run_id}"
    (await run_process(["docker", "tag", IMAGE, ref], env=engine.env)).check()

    async def untag() -> None:
        (await run_process(["docker", "rmi", ref], env=engine.env)).check()

    async with run.janitor.holding(f"the image tag {ref}", untag):
        yield ref


class SwarmService:
    """A replicated Swarm service running the httpd of the example image, health-checked
    from inside with ``wget`` (busybox), updated one task at a time, start-first."""

    def __init__(
        self,
        run: Run,
        engine: Engine,
        *,
        image: str,
        replicas: int,
        interval: float,
        retries: int,
    ) -> None:
        self.run = run
        self.engine = engine
        self.image = image
        self.name = run.name("b7", "swarm")
        self.replicas = replicas
        self.interval = interval
        self.retries = retries

    async def create(self, command: str, within: float = 120) -> None:
        """Create the service and wait until ``replicas`` of its tasks run (healthy);
        past ``within`` seconds, ``TimeoutError`` with every task's state and error."""
        labels = [a for k, v in self.run.labels.items() for a in ("--label", f"{k}={v}")]
        container_labels = [
            a for k, v in self.run.labels.items() for a in ("--container-label", f"{k}={v}")
        ]
        argv = [
            "docker", "service", "create", "--quiet", "--detach",
            "--name", self.name, *labels, *container_labels,
            "--replicas", str(self.replicas),
            "--no-resolve-image",
            "--update-parallelism", "1",
            "--update-delay", "0s",
            "--update-order", "start-first",
            "--update-monitor", f"{self.interval:g}s",
            "--update-failure-action", "pause",
            "--health-cmd", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1",
            "--health-interval", f"{self.interval:g}s",
            "--health-timeout", f"{self.interval:g}s",
            "--health-retries", str(self.retries),
            "--health-start-period", "0s",
            "--env", "V=0",
            self.image, "sh", "-c", command,
        ]  # fmt: skip
        (await run_process(argv, env=self.engine.env, within=120)).check()
        started = time.monotonic()
        while True:
            tasks = await self._tasks()
            running = [t for t in tasks if t["Status"]["State"] == "running"]
            if len(running) >= self.replicas:
                return
            if time.monotonic() - started > within:
                states = [_describe(t["Status"]) for t in tasks]
                raise TimeoutError(f"the Swarm service did not converge: {states}")
            await asyncio.sleep(0.1)

    async def _tasks(self) -> list[Mapping[str, Any]]:
        async with self.engine.client() as docker:
            return list(
                await docker.tasks.list(filters={"service": self.name, "desired-state": "running"})
            )

    async def _update_status(self) -> dict[str, Any]:
        async with self.engine.client() as docker:
            spec: Mapping[str, Any] = await docker.services.inspect(self.name)
        return dict(spec.get("UpdateStatus") or {})

    async def update_env(self, value: str, within: float = 300) -> float:
        """``docker service update --detach --env-add V=<value>``, then poll the service
        every 50 ms until Swarm marks this update ``completed``; the seconds from the
        command's start until then."""
        before = (await self._update_status()).get("StartedAt")
        started = time.monotonic()
        (
            await run_process(
                ["docker", "service", "update", "--detach", "--env-add", f"V={value}", self.name],
                env=self.engine.env,
                within=120,
            )
        ).check()
        while time.monotonic() - started < within:
            status = await self._update_status()
            state = str(status.get("State", ""))
            if status.get("StartedAt") != before:
                if state == "completed":
                    return time.monotonic() - started
                if state in ("paused", "rollback_started", "rollback_completed", "rollback_paused"):
                    raise RuntimeError(f"the Swarm update ended {state}: {status.get('Message')}")
            await asyncio.sleep(0.05)
        raise TimeoutError(f"the Swarm update did not complete in {within:g} s")

    async def remove(self) -> None:
        """Remove the service (its tasks' containers are removed by the engine)."""
        await run_process(["docker", "service", "rm", self.name], env=self.engine.env)
