"""What every benchmark of one run shares: options, engines, names, labels, cleanup.

A :class:`Run` mints names and instance IDs under the run's ID, labels every object with
``ctrlplane-bench.run=<run id>`` and puts every instance in the tenant
``bench-<run id>``, so that the run can always find (and remove) exactly what it made,
even while other users work on the same engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.engines import SHARED_NETWORK_LIMIT, Engine, WideEngine
from bench.janitor import Janitor
from bench.options import Options
from ctrlplane.ids import new_id
from ctrlplane.provider import ProvisionRequest, ProvisionResult
from ctrlplane.provider.docker import DockerConfig, DockerProvider
from ctrlplane.provider.events import Subscriber

__all__ = ["RUN_LABEL", "Run", "cli_path", "new_run_id"]

RUN_LABEL = "ctrlplane-bench.run"
"""The label every object of a run carries (value: the run ID)."""

INSTANCE_LABEL = f"{DockerConfig().label_prefix}.instance"
"""The Docker backend's instance label (documented in docs/docker.md: state lives in
``io.ctrlplane.*`` labels, each object labelled with its instance ID)."""


def new_run_id() -> str:
    """A short random ID: lower-case hex, valid in every name the engines accept."""
    return secrets.token_hex(3)


def cli_path() -> Path:
    """The ``ctrlplane`` script installed beside this interpreter."""
    return Path(sys.executable).with_name("ctrlplane")


@dataclass
class Run:
    """One run of the benchmarks (see the module docstring)."""

    options: Options
    shared: Engine
    workdir: Path
    """A private folder of this run (compose files, the CLI's config, sockets)."""
    run_id: str = field(default_factory=new_run_id)
    janitor: Janitor = field(default_factory=Janitor)
    wide: WideEngine = field(default_factory=WideEngine)
    engines_used: dict[str, Engine] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.engines_used[self.shared.name] = self.shared

    @property
    def labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id}

    @property
    def tenant(self) -> str:
        return f"bench-{self.run_id}"

    def name(self, *parts: str | int) -> str:
        """``cpb-<run id>-<parts...>``: a name for a container, network or project."""
        return "-".join(["cpb", self.run_id, *(str(p) for p in parts)])

    def reps(self, bench_id: str) -> int:
        """How often each contender of ``bench_id`` runs."""
        return self.options.sizes.reps_of(bench_id)

    async def engine_for(self, networks: int) -> Engine:
        """The shared engine if ``networks`` instance networks fit on it (see
        :data:`~bench.engines.SHARED_NETWORK_LIMIT`), else the wide engine, started now
        (once) and stopped when the run ends."""
        if self.options.wide_engine != "always" and networks <= SHARED_NETWORK_LIMIT:
            return self.shared
        engine = await self.wide.start()
        self.engines_used[engine.name] = engine
        return engine

    def provider(self, engine: Engine, **overrides: object) -> DockerProvider:
        """A provider of ``engine`` with the default settings users get (plus
        ``overrides``)."""
        return DockerProvider(engine.config(**overrides))

    def cli_config(self, docker_host: str) -> Path:
        """A ``ctrlplane.toml`` whose ``docker`` provider talks to ``docker_host``."""
        safe = "".join(c for c in docker_host if c.isalnum())[-24:]
        path = self.workdir / f"ctrlplane-{safe}.toml"
        path.write_text(f'[providers.docker]\ndocker_host = "{docker_host}"\n')
        return path

    def cli(self, docker_host: str, *args: str) -> list[str]:
        """The argv of ``ctrlplane --config <for docker_host> -p docker <args>``."""
        return [
            str(cli_path()),
            "--config",
            str(self.cli_config(docker_host)),
            "-p",
            "docker",
            *args,
        ]

    async def deprovision_all(
        self, provider: DockerProvider, instance_ids: Iterable[str], concurrency: int = 16
    ) -> list[str]:
        """Deprovision every instance (``concurrency`` at a time); the errors."""
        gate = asyncio.Semaphore(concurrency)

        async def one(iid: str) -> None:
            async with gate:
                await provider.deprovision(iid)

        ids = list(instance_ids)
        outcomes = await asyncio.gather(*(one(i) for i in ids), return_exceptions=True)
        return [
            f"{i}: {o}" for i, o in zip(ids, outcomes, strict=True) if isinstance(o, BaseException)
        ]

    @contextlib.asynccontextmanager
    async def instance(
        self,
        provider: DockerProvider,
        req: ProvisionRequest,
        *,
        events: Subscriber | None = None,
    ) -> AsyncIterator[ProvisionResult]:
        """Provision ``req`` for the block; deprovisioned after it, however it ends."""
        async with self.janitor.holding(
            f"instance {req.instance_id}", lambda: provider.deprovision(req.instance_id)
        ):
            yield await provider.provision(req, events=events)

    def new_instance_id(self) -> str:
        """A new instance ID (``inst_...``)."""
        return new_id("inst")

    async def container_ids(self, engine: Engine, instance_id: str) -> list[str]:
        """The IDs of the running containers of ``instance_id``."""
        async with engine.client() as docker:
            found = await docker.containers.list(
                filters={"label": [f"{INSTANCE_LABEL}={instance_id}"]}
            )
        return [c.id for c in found]

    async def sweep_labels(self, engine: Engine) -> list[str]:
        """Remove every container, network, volume and Swarm service of this run left
        on ``engine``; what was removed (the benchmarks remove their own, so normally
        nothing)."""
        removed: list[str] = []
        flt = {"label": [f"{RUN_LABEL}={self.run_id}"]}
        async with engine.client() as docker:
            info = await docker.system.info()
            if (info.get("Swarm") or {}).get("ControlAvailable"):
                for svc in await docker.services.list(filters=flt):
                    await docker.services.delete(svc["ID"])
                    removed.append(f"service {svc['Spec']['Name']}")
            for container in await docker.containers.list(all=True, filters=flt):
                await container.delete(force=True, v=True)
                removed.append(f"container {container.id[:12]}")
            for net in await docker.networks.list(filters=flt):
                await (await docker.networks.get(net["Id"])).delete()
                removed.append(f"network {net['Name']}")
            # aiodocker's volume API has no annotations
            volumes = await docker.volumes.list(filters=flt)  # type: ignore[no-untyped-call]
            for vol in volumes.get("Volumes") or []:
                await (await docker.volumes.get(vol["Name"])).delete()  # type: ignore[no-untyped-call]
                removed.append(f"volume {vol['Name']}")
        return removed
