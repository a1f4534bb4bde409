"""The 3-service workload of :func:`bench.workload.web_request`, built without ctrlplane.

Three ways users (or the floor) get the same result, each an ``up`` returning the
published host port and a ``down`` removing everything ``up`` made:

- :class:`AiodockerFloor`: the engine calls, made directly and in order with aiodocker:
  network, volume, init (created, started, waited for), main with the port published on
  127.0.0.1, sidecar in the main's network namespace; down removes the three containers
  (forced), the network and the volume. Nothing else: the floor.
- :class:`DockerCliScript`: the docker CLI sequence a user would script in bash
  (``docker network create``, ``docker volume create``, ``docker run`` x3, ``docker port``;
  ``docker rm -f``, ``docker network rm``, ``docker volume rm``).
- :class:`ComposeProject`: a compose file (JSON, which is YAML) run by Debian's
  ``docker-compose`` 1.29: ``up -d`` (the main waits for the init with
  ``service_completed_successfully``), ``port``, ``down -v``.

Every object carries the run's labels, so the run's final sweep finds anything an
interrupted ``up`` left.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.engines import IMAGE, Engine
from bench.procs import run_process
from bench.workload import IDLE_SCRIPT, INIT_SCRIPT, MAIN_SCRIPT

__all__ = ["AiodockerFloor", "ComposeProject", "DockerCliScript", "compose_missing"]


def _port_of(text: str) -> int:
    """The port of ``docker port`` / ``docker-compose port`` output (``127.0.0.1:49153``)."""
    for line in text.splitlines():
        host, _, port = line.strip().rpartition(":")
        if host and port.isdigit():
            return int(port)
    raise RuntimeError(f"no published port in {text!r}")


class AiodockerFloor:
    """The floor: the engine calls alone (see the module docstring)."""

    def __init__(self, engine: Engine, name: str, labels: Mapping[str, str]) -> None:
        self.engine = engine
        self.name = name
        self.labels = dict(labels)
        self.steps: dict[str, float] = {}
        """Seconds of each group of engine calls of the last :meth:`up`."""

    async def up(self) -> int:
        """Create and start everything; the host port of the main's 8080. The seconds
        of each group of calls go to :attr:`steps`."""
        self.steps = {}
        mark = time.monotonic()

        def lap(step: str) -> None:
            nonlocal mark
            now = time.monotonic()
            self.steps[step] = now - mark
            mark = now

        async with self.engine.client() as docker:
            net = f"{self.name}-net"
            vol = f"{self.name}-www"
            await docker.networks.create({"Name": net, "Driver": "bridge", "Labels": self.labels})
            lap("create network")
            # aiodocker's volume API has no annotations
            await docker.volumes.create({"Name": vol, "Labels": self.labels})  # type: ignore[no-untyped-call]
            lap("create volume")
            init = await docker.containers.create(
                {
                    "Image": IMAGE,
                    "Cmd": ["sh", "-c", INIT_SCRIPT],
                    "Labels": self.labels,
                    "HostConfig": {"NetworkMode": net, "Binds": [f"{vol}:/www"]},
                },
                name=f"{self.name}-init",
            )
            lap("init: create")
            await init.start()
            lap("init: start")
            status = await init.wait()
            if status.get("StatusCode") != 0:
                raise RuntimeError(f"the init exited {status}")
            lap("init: wait for its exit")
            main = await docker.containers.create(
                {
                    "Image": IMAGE,
                    "Cmd": ["sh", "-c", MAIN_SCRIPT],
                    "Labels": self.labels,
                    "ExposedPorts": {"8080/tcp": {}},
                    "HostConfig": {
                        "NetworkMode": net,
                        "Binds": [f"{vol}:/www"],
                        "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
                    },
                },
                name=f"{self.name}-web",
            )
            lap("main: create")
            await main.start()
            lap("main: start")
            side = await docker.containers.create(
                {
                    "Image": IMAGE,
                    "Cmd": ["sh", "-c", IDLE_SCRIPT],
                    "Labels": self.labels,
                    "HostConfig": {"NetworkMode": f"container:{main.id}"},
                },
                name=f"{self.name}-side",
            )
            lap("sidecar: create")
            await side.start()
            lap("sidecar: start")
            info: dict[str, Any] = await main.show()
            lap("inspect the main")
        return int(info["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])

    async def down(self) -> None:
        """Remove the containers (forced), the network and the volume; missing ones are
        skipped."""
        async with self.engine.client() as docker:
            for suffix in ("side", "web", "init"):
                try:
                    container = await docker.containers.get(f"{self.name}-{suffix}")
                except Exception:
                    continue
                await container.delete(force=True)
            try:
                network = await docker.networks.get(f"{self.name}-net")
            except Exception:
                network = None
            if network is not None:
                await network.delete()
            try:
                volume = await docker.volumes.get(f"{self.name}-www")  # type: ignore[no-untyped-call]
            except Exception:
                volume = None
            if volume is not None:
                await volume.delete()


_CLI_UP = """set -eu
docker network create --label "$L" "$N-net" >/dev/null
docker volume create --label "$L" "$N-www" >/dev/null
docker run --name "$N-init" --label "$L" --network "$N-net" -v "$N-www:/www" "$IMAGE" sh -c "$INIT"
docker run -d --name "$N-web" --label "$L" --network "$N-net" -p 127.0.0.1::8080 \\
  -v "$N-www:/www" "$IMAGE" sh -c "$MAIN" >/dev/null
docker run -d --name "$N-side" --label "$L" --network "container:$N-web" "$IMAGE" \\
  sh -c "$SIDE" >/dev/null
docker port "$N-web" 8080/tcp
"""

_CLI_DOWN = """docker rm -f "$N-web" "$N-side" "$N-init" >/dev/null
docker network rm "$N-net" >/dev/null
docker volume rm "$N-www" >/dev/null
"""


class DockerCliScript:
    """What a user scripts with the docker CLI (see the module docstring)."""

    def __init__(self, engine: Engine, name: str, labels: Mapping[str, str]) -> None:
        self.engine = engine
        self.env = {
            **engine.env,
            "N": name,
            "L": ",".join(f"{k}={v}" for k, v in labels.items()),
            "IMAGE": IMAGE,
            "INIT": INIT_SCRIPT,
            "MAIN": MAIN_SCRIPT,
            "SIDE": IDLE_SCRIPT,
        }

    async def up(self) -> int:
        done = (await run_process(["bash", "-c", _CLI_UP], env=self.env, within=120)).check()
        return _port_of(done.stdout.decode())

    async def down(self) -> None:
        (await run_process(["bash", "-c", _CLI_DOWN], env=self.env, within=120)).check()


def compose_missing() -> str:
    """Why the compose contender cannot run (``""`` when it can)."""
    if shutil.which("docker-compose") is None:
        return (
            "docker-compose is not installed: `bash bench/run.sh` installs it "
            "(apt-get install -y docker-compose)"
        )
    return ""


class ComposeProject:
    """The workload as a compose project (see the module docstring)."""

    def __init__(self, engine: Engine, name: str, labels: Mapping[str, str], folder: Path) -> None:
        self.engine = engine
        self.project = name.replace("-", "")
        self.file = folder / f"{self.project}.compose.json"
        self.file.write_text(json.dumps(self._document(dict(labels)), indent=2))

    @staticmethod
    def _document(labels: dict[str, str]) -> dict[str, Any]:
        return {
            "services": {
                "init": {
                    "image": IMAGE,
                    "command": ["sh", "-c", INIT_SCRIPT],
                    "volumes": ["www:/www"],
                    "labels": labels,
                },
                "web": {
                    "image": IMAGE,
                    "command": ["sh", "-c", MAIN_SCRIPT],
                    "volumes": ["www:/www"],
                    "ports": ["127.0.0.1::8080"],
                    "labels": labels,
                    "depends_on": {"init": {"condition": "service_completed_successfully"}},
                },
                "side": {
                    "image": IMAGE,
                    "command": ["sh", "-c", IDLE_SCRIPT],
                    "network_mode": "service:web",
                    "labels": labels,
                    "depends_on": ["web"],
                },
            },
            "volumes": {"www": {"labels": labels}},
            "networks": {"default": {"labels": labels}},
        }

    def _argv(self, *args: str) -> list[str]:
        return ["docker-compose", "-p", self.project, "-f", str(self.file), *args]

    async def up(self) -> int:
        env = self.engine.env
        (await run_process(self._argv("up", "-d"), env=env, within=120)).check()
        port = (await run_process(self._argv("port", "web", "8080"), env=env, within=60)).check()
        return _port_of(port.stdout.decode())

    async def down(self) -> None:
        argv = self._argv("down", "-v")
        (await run_process(argv, env=self.engine.env, within=120)).check()
