"""The Docker engines the benchmarks run on.

- The **shared** engine is the one the Docker tests use: ``$DOCKER_HOST``, the current
  docker context or the default socket, as ``aiodocker`` finds it
  (``scripts/docker-engine.sh`` starts it and builds the example image).
- The **wide** engine is a private ``dockerd`` this run starts, with a default address
  pool of 256 ``/24`` networks. Every instance of the Docker backend owns a bridge
  network with a subnet from the engine's pool, and a default engine's pool holds 31
  (``172.17-31.0.0/16``, ``192.168.x.0/20``, one taken by ``docker0``): 50 workloads (B2)
  or 200 instances (B3) cannot exist on it at once, and filling it would make other
  users of the shared engine fail. The wide engine runs in a network namespace of its
  own (``ip netns``: its own ``docker0``, bridges, routes and iptables rules, so it is a
  normal engine inside and can never touch the shared engine's network; a second
  dockerd in the same namespace deletes the host's ``docker0`` on start, whether with
  ``--bridge none`` or, from its second start on, with ``--default-address-pool``), with
  its own socket, data root, exec root and containerd namespace. Its published ports
  live on that namespace's loopback, which suits B2/B3 (nothing connects to them). It
  is stopped (by its process ID) and the namespace deleted when the run ends; its data
  root stays, so the image is built once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import aiodocker

from bench.procs import run_process
from ctrlplane.provider.docker import DockerConfig

__all__ = [
    "IMAGE",
    "SHARED_NETWORK_LIMIT",
    "Engine",
    "EngineProblem",
    "WideEngine",
    "shared_engine",
]

IMAGE = "ctrlplane-example/busybox:latest"
"""The example image every benchmark runs (built locally, never pulled)."""

SHARED_NETWORK_LIMIT = 8
"""At most this many instance networks of one benchmark exist at once on the shared
engine; a bigger size runs on the wide engine (see the module docstring)."""

ROOT = Path(__file__).resolve().parent.parent
WIDE_SOCKET = Path("/run/ctrlplane-bench/docker.sock")
WIDE_EXEC_ROOT = Path("/run/ctrlplane-bench/exec")
WIDE_PIDFILE = Path("/run/ctrlplane-bench/dockerd.pid")
WIDE_DATA_ROOT = Path("/var/lib/ctrlplane-bench-docker")
WIDE_LOG = Path("/var/log/ctrlplane-bench-dockerd.log")
WIDE_POOL = "base=10.213.0.0/16,size=24"
WIDE_NETNS = "ctrlplane-bench"


class EngineProblem(RuntimeError):
    """An engine is unreachable, or lacks the example image; the message says what to run."""


@dataclass(frozen=True)
class Engine:
    """One reachable engine: where it is and what it runs."""

    name: str
    """``shared`` or ``wide``."""
    url: str
    version: str
    api_version: str

    @property
    def env(self) -> dict[str, str]:
        """Environment for the docker CLI (and docker-compose) to reach this engine."""
        return {"DOCKER_HOST": self.url}

    def config(self, **overrides: object) -> DockerConfig:
        """A :class:`DockerConfig` for this engine: the defaults users get, plus
        ``overrides``."""
        return DockerConfig.model_validate({"docker_host": self.url, **overrides})

    def client(self) -> aiodocker.Docker:
        """A new ``aiodocker`` client of this engine, speaking its API version."""
        return aiodocker.Docker(url=self.url, api_version=f"v{self.api_version}")

    def describe(self) -> dict[str, str]:
        return {
            "name": self.name,
            "url": self.url,
            "version": self.version,
            "api": self.api_version,
        }


async def _probe(url: str | None) -> tuple[str, str, str]:
    """``(url, version, api version)`` of the engine at ``url`` (``None``: as aiodocker
    finds it); :class:`EngineProblem` if it does not answer or lacks :data:`IMAGE`."""
    try:
        client = aiodocker.Docker(url=url)
    except Exception as exc:
        raise EngineProblem(f"no Docker engine configured: {exc}") from None
    try:
        version = await client.version()
        try:
            await client.images.inspect(IMAGE)
        except aiodocker.DockerError:
            raise EngineProblem(
                f"the image {IMAGE} is missing on {client.docker_host}: "
                "run `bash scripts/docker-engine.sh` (or `bash bench/run.sh`)"
            ) from None
    except EngineProblem:
        raise
    except Exception as exc:
        raise EngineProblem(
            f"Docker engine unreachable ({exc}): run `bash scripts/docker-engine.sh` "
            "(or `bash bench/run.sh`), which installs and starts one"
        ) from None
    finally:
        await client.close()
    # aiodocker keeps the URL it resolved (it rewrites docker_host to a dummy for unix sockets)
    resolved = str(getattr(client, "_connection_info", client.docker_host))
    return resolved, str(version.get("Version", "")), str(version.get("ApiVersion", ""))


async def shared_engine() -> Engine:
    """The engine the Docker tests use; :class:`EngineProblem` if unusable."""
    url, version, api = await _probe(None)
    return Engine("shared", url, version, api)


class WideEngine:
    """The private wide-pool engine (see the module docstring): :meth:`start` it once,
    :meth:`stop` it at the end (the janitor does, on any way out)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self.engine: Engine | None = None

    async def start(self) -> Engine:
        """Start ``dockerd`` (or adopt one a killed earlier run left), wait until it
        answers, build the example image in it; the :class:`Engine`."""
        if self.engine is not None:
            return self.engine
        url = f"unix://{WIDE_SOCKET}"
        leftover = _alive_pid(WIDE_PIDFILE)
        if leftover is not None:
            self._pid = leftover
        else:
            self._spawn()
        deadline = time.monotonic() + 90
        while True:
            try:
                client = aiodocker.Docker(url=url)
                try:
                    await client.version()
                finally:
                    await client.close()
                break
            except Exception as exc:
                if self._proc is not None and self._proc.poll() is not None:
                    raise EngineProblem(
                        f"the wide engine's dockerd exited ({self._proc.returncode}); "
                        f"see {WIDE_LOG}"
                    ) from None
                if time.monotonic() > deadline:
                    raise EngineProblem(f"the wide engine did not answer: {exc}") from None
                await asyncio.sleep(0.25)
        built = await run_process(
            ["bash", str(ROOT / "scripts" / "build-images.sh")],
            env={"DOCKER_HOST": url},
            within=300,
        )
        if built.returncode != 0:
            raise EngineProblem(
                "building the example image in the wide engine failed: "
                + built.stderr.decode("utf-8", "replace")[-500:]
            )
        _, version, api = await _probe(url)
        self.engine = Engine("wide", url, version, api)
        return self.engine

    def _spawn(self) -> None:
        if os.geteuid() != 0:
            raise EngineProblem("the wide engine (B2/B3 at full size) needs root to start dockerd")
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise EngineProblem("dockerd is missing: run `bash scripts/docker-engine.sh`")
        for folder in (WIDE_SOCKET.parent, WIDE_EXEC_ROOT, WIDE_DATA_ROOT, WIDE_LOG.parent):
            folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            WIDE_PIDFILE.unlink()  # a stale pid file (its process is gone) blocks dockerd
        _make_netns()
        argv = [
            # only the network namespace: `ip netns exec` would also remount /sys, which
            # hides the cgroup mounts dockerd needs; nsenter execs dockerd (same PID)
            "nsenter", f"--net=/run/netns/{WIDE_NETNS}",
            dockerd,
            "--data-root", str(WIDE_DATA_ROOT),
            "--exec-root", str(WIDE_EXEC_ROOT),
            "--pidfile", str(WIDE_PIDFILE),
            "--host", f"unix://{WIDE_SOCKET}",
            "--containerd-namespace", "ctrlplane-bench",
            "--containerd-plugins-namespace", "ctrlplane-bench-plugins",
            "--default-address-pool", WIDE_POOL,
        ]  # fmt: skip
        with WIDE_LOG.open("ab") as log:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        self._pid = self._proc.pid

    async def stop(self) -> None:
        """Stop the engine this object started or adopted (SIGTERM, then SIGKILL after
        60 s), by its process ID, and delete its network namespace. No-op if there is
        none."""
        pid, self._pid, self.engine = self._pid, None, None
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _running(pid, self._proc):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                break
            await asyncio.sleep(0.2)
        if self._proc is not None:
            await asyncio.to_thread(self._proc.wait)
            self._proc = None
        _delete_netns()


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def _make_netns() -> None:
    """Create the wide engine's network namespace with its loopback up (idempotent)."""
    if WIDE_NETNS not in _ip("netns", "list").stdout.split():
        made = _ip("netns", "add", WIDE_NETNS)
        if made.returncode != 0:
            raise EngineProblem(
                f"cannot create the network namespace {WIDE_NETNS}: {made.stderr.strip()}"
            )
    _ip("netns", "exec", WIDE_NETNS, "ip", "link", "set", "lo", "up")


def _delete_netns() -> None:
    """Delete the wide engine's network namespace (and every interface in it)."""
    if WIDE_NETNS in _ip("netns", "list").stdout.split():
        _ip("netns", "del", WIDE_NETNS)


def _running(pid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _alive_pid(pidfile: Path) -> int | None:
    """The process ID in ``pidfile`` if that process is a running dockerd."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"dockerd" in cmdline else None
