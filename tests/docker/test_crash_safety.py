"""Crash-safe operations on the REAL engine: ``ctrlplane up`` / ``deploy`` processes killed
with SIGKILL at random points, then one call; two ``deploy`` processes at once.

After the one call the instance must be consistent: every unit runs the live release (one
container per service per unit and one namespace holder per unit, running, none
``-retiring``), the history has one live release, the status is running and ready with
no operation in it, and nothing of the instance is orphaned (no lease container, one
network, only release records besides).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiodocker

from ctrlplane.provider import DeployRequest, InstanceState, ProvisionRequest, ResourceSpec
from ctrlplane.provider.docker import DockerProvider
from ctrlplane.provider.events import ProgressEvent, StepStarted
from ctrlplane.provider.taskgroups import TaskGroup

from .conftest import fast_config
from .helpers import request

EXE = str(Path(sys.executable).with_name("ctrlplane"))
RUNS = 20
SEED = int(os.environ.get("CTRLPLANE_CRASH_SEED", "0")) or random.randrange(1, 10**6)
LEASE_TTL = 1.5

WEB_IMAGE = "ctrlplane-example/busybox:latest"
WEB_SCRIPT = (
    "trap 'exit 0' TERM\n"
    'mkdir -p /www && echo "$VERSION" > /www/index.html\n'
    "httpd -f -p 8080 -h /www &\n"
    "wait\n"
)
WORKLOAD = {
    "name": "crash",
    "services": [
        {
            "name": "web",
            "image": WEB_IMAGE,
            "env": {"VERSION": "v0"},
            "command": ["sh", "-c", WEB_SCRIPT],
            "ports": [{"container": 8080}],
            "health_check": {"path": "/", "port": 8080, "interval": 0.3, "timeout": 0.3},
            "resources": {"replicas": 2},
        }
    ],
}
SETTINGS = {
    "CTRLPLANE_DOCKER_STOP_TIMEOUT": "1",
    "CTRLPLANE_DOCKER_SETTLE_TIME": "0.2",
    "CTRLPLANE_DOCKER_PULL_POLICY": "never",
    "CTRLPLANE_DOCKER_DRAIN_PERIOD": "0.2",
    "CTRLPLANE_DOCKER_BLUE_GREEN_RETIRE_DELAY": "1",
}


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **SETTINGS, **extra}


def _provider() -> DockerProvider:
    return DockerProvider(fast_config(drain_period=0.2))


async def _kill_during(args: list[str], iid: str, window: float, rng: random.Random) -> str:
    """Run ``ctrlplane <args>`` (on instance ``iid``) with a short lease TTL and SIGKILL
    it at a random point of its operation: up to ``window`` seconds after it took the
    instance's lease (if it still runs then). What it printed."""
    proc = await asyncio.create_subprocess_exec(
        EXE,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=_env(CTRLPLANE_DOCKER_LEASE_TTL=str(LEASE_TTL)),
    )
    flt = {"name": [f"cp-{iid}-lease"]}
    async with aiodocker.Docker() as client:
        for _ in range(3000):  # until it holds the lease (or ended), at most ~90s
            if proc.returncode is not None or await client.containers.list(all=True, filters=flt):
                break
            await asyncio.sleep(0.03)
    await asyncio.sleep(rng.uniform(0, window))
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    out, _ = await proc.communicate()
    return out.decode(errors="replace")


def _together(commands: list[list[str]]) -> list[tuple[int, str]]:
    """Run ``ctrlplane`` with each of ``commands`` at once; exit codes and output."""
    procs = [
        subprocess.Popen(
            [EXE, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env()
        )
        for args in commands
    ]
    said = [p.communicate(timeout=120)[0] for p in procs]
    return [(p.returncode, out) for p, out in zip(procs, said, strict=True)]


async def _objects(iid: str) -> dict[str, list[str]]:
    flt = {"label": [f"io.ctrlplane.instance={iid}"]}
    async with aiodocker.Docker() as client:
        containers = [await c.show() for c in await client.containers.list(all=True, filters=flt)]
        networks = await client.networks.list(filters=flt)
        # aiodocker's DockerVolumes.list has no annotations.
        volumes = (await client.volumes.list(filters=flt))["Volumes"] or []  # type: ignore[no-untyped-call]
    return {
        "containers": sorted(
            f"{c['Name'].lstrip('/')} {c['State']['Status']} "
            + next((e for e in c["Config"].get("Env") or [] if e.startswith("VERSION=")), "-")
            for c in containers
        ),
        "networks": [n["Name"] for n in networks],
        "volumes": [v["Name"] for v in volumes],
    }


async def assert_consistent(provider: DockerProvider, iid: str, replicas: int = 2) -> str:
    """The instance is consistent (see the module docs); its live release's VERSION."""
    history = await provider.releases(iid)
    assert [r.live for r in history].count(True) == 1, history
    live = history[0]
    assert live.live
    version = live.service("web").env["VERSION"]
    found = await _objects(iid)
    units = [f"cp-{iid}-{r}-web running VERSION={version}" for r in range(replicas)]
    front = f"cp-{iid}-front-web-8080 running -"  # the published port's front, never moved
    holders = [f"cp-{iid}-{r}.pod running -" for r in range(replicas)]  # one per unit
    assert found["containers"] == sorted([*units, *holders, front]), (found, live.release_id)
    assert found["networks"] == [f"cp-{iid}"], found
    assert sorted(found["volumes"]) == sorted(f"cp-{iid}-rel-{r.release_id}" for r in history), (
        found
    )
    status = await provider.status(iid)
    assert status.state is InstanceState.RUNNING, status
    assert status.ready, status
    assert "operation" not in status.metadata, status.metadata
    assert status.metadata["release_id"] == live.release_id
    return version


def _repairs(events: list[ProgressEvent]) -> list[str]:
    """The ``repair`` steps among ``events`` (what the call found interrupted)."""
    return [e.detail for e in events if isinstance(e, StepStarted) and e.step == "repair"]


def _deploy_args(iid: str, version: str, strategy: str = "rolling") -> list[str]:
    return ["deploy", iid, "-s", "web", "-e", f"VERSION={version}", "--strategy", strategy]


class _Lane:
    """Kills and repairs on instances of its own (lanes run side by side)."""

    def __init__(self, name: str, file: Path, make_id: Callable[[], str], seed: int) -> None:
        self.name = name
        self.file = file
        self.make_id = make_id
        self.rng = random.Random(seed)
        self.provider = _provider()
        self.main = ""
        self.repaired: list[str] = []

    def _request(self, iid: str) -> ProvisionRequest:
        return request(iid, *WORKLOAD["services"], name="crash")  # type: ignore[arg-type]

    async def run(self, runs: int) -> None:
        self.main = self.make_id()
        await self.provider.provision(self._request(self.main))
        for run in range(runs):
            label = f"lane {self.name} run {run}"
            if run % 4 == 0:
                await self._killed_provision(label)
            else:
                await self._killed_deploy(label, run)

    async def _killed_provision(self, label: str) -> None:
        """``up`` of a new instance killed mid-way, then provision again."""
        iid = self.make_id()
        said = await _kill_during(
            ["up", "-f", str(self.file), "--instance-id", iid], iid, 2.5, self.rng
        )
        seen: list[ProgressEvent] = []
        await self.provider.provision(self._request(iid), events=seen.append)
        self.repaired += _repairs(seen)
        try:
            await assert_consistent(self.provider, iid)
        except AssertionError as exc:
            raise AssertionError(f"{label} (a killed provision): {exc}\n{said}") from None
        await self.provider.deprovision(iid)

    async def _killed_deploy(self, label: str, run: int) -> None:
        """A deploy (every third one blue-green: its old set is retired after the
        switch, so some kills come after the release was recorded) killed mid-way,
        then a deploy."""
        strategy = "blue-green" if run % 3 == 0 else "rolling"
        said = await _kill_during(
            _deploy_args(self.main, f"k{run}", strategy), self.main, 4.5, self.rng
        )
        seen: list[ProgressEvent] = []
        change = {"name": "web", "image": WEB_IMAGE, "env": {"VERSION": f"n{run}"}}
        result = await self.provider.deploy(
            DeployRequest(instance_id=self.main, services=[change]), events=seen.append
        )
        self.repaired += _repairs(seen)
        try:
            version = await assert_consistent(self.provider, self.main)
        except AssertionError as exc:
            raise AssertionError(f"{label} (a killed {strategy} deploy): {exc}\n{said}") from None
        assert version == f"n{run}"
        assert (await self.provider.releases(self.main))[0].release_id == result.release_id


async def test_killed_up_and_deploy_processes_are_repaired_by_the_next_call(
    tmp_path: Path, make_id: Callable[[], str]
) -> None:
    """20 runs (two lanes of 10 side by side): a ``ctrlplane up`` of a new instance or a
    ``ctrlplane deploy`` killed at a random point of its operation, then one call
    (provision again, or a deploy) must leave a consistent instance."""
    print(f"seed {SEED} (CTRLPLANE_CRASH_SEED={SEED} repeats these kill points)")
    file = tmp_path / "crash.json"
    file.write_text(json.dumps(WORKLOAD))
    lanes = [_Lane(name, file, make_id, SEED + i) for i, name in enumerate("ab")]
    started = time.monotonic()
    try:
        async with TaskGroup() as tg:
            for lane in lanes:
                tg.create_task(lane.run(RUNS // len(lanes)))
    finally:
        for lane in lanes:
            if lane.main:
                await lane.provider.deprovision(lane.main)
    repaired = [r for lane in lanes for r in lane.repaired]
    took = time.monotonic() - started
    print(f"{len(repaired)} of {RUNS} calls repaired an interrupted operation ({took:.0f}s):")
    print("\n".join(repaired))
    assert len(repaired) >= RUNS // 2, "the kills must interrupt operations mid-way"


async def test_two_deploy_processes_at_once_are_serialised(
    make_id: Callable[[], str],
) -> None:
    provider = _provider()
    iid = make_id()
    await provider.provision(request(iid, *WORKLOAD["services"], name="crash"))  # type: ignore[arg-type]
    try:
        runs = await asyncio.to_thread(_together, [_deploy_args(iid, "a"), _deploy_args(iid, "b")])
        codes = [code for code, _ in runs]
        outcomes = [said for _, said in runs]
        assert set(codes) <= {0, 9}, (codes, outcomes)
        assert 0 in codes, (codes, outcomes)
        version = await assert_consistent(provider, iid)
        done = {v for v, code in zip(("a", "b"), codes, strict=True) if code == 0}
        assert version in done
        assert len(await provider.releases(iid)) == 1 + len(done)  # each recorded once
    finally:
        await provider.deprovision(iid)


DIE_ON = """
import asyncio, os, signal, sys
from ctrlplane.provider import DeployRequest
from ctrlplane.provider.docker import DockerConfig, DockerProvider

iid, strategy, kind = sys.argv[1:4]
config = DockerConfig(
    stop_timeout=1, settle_time=0.2, pull_policy="never", drain_period=0.2,
    blue_green_retire_delay=30, lease_ttl=1,
)

def die(event):
    if event.kind == kind:  # the holder dies right here, its lease left behind
        os.kill(os.getpid(), signal.SIGKILL)

change = {"name": "web", "image": "ctrlplane-example/busybox:latest", "env": {"VERSION": "dead"}}
asyncio.run(DockerProvider(config).deploy(
    DeployRequest(instance_id=iid, strategy=strategy, services=[change]), events=die
))
"""


async def _die_during_deploy(iid: str, strategy: str, kind: str) -> int:
    """A deploy of ``VERSION=dead`` in a process that SIGKILLs itself at its first event
    of ``kind``; its exit code."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DIE_ON, iid, strategy, kind, env=_env()
    )
    return await proc.wait()


async def _names(iid: str) -> list[str]:
    return [c.split()[0] for c in (await _objects(iid))["containers"]]


async def test_a_deploy_killed_after_its_switch_is_finished_and_status_says_so(
    make_id: Callable[[], str],
) -> None:
    """Killed after the blue-green switch (the new release recorded, the old set not
    yet retired): status shows the interrupted deploy and that the next call finishes
    it; the next call (a stop) retires the old set and the new release stays live."""
    provider = _provider()
    iid = make_id()
    await provider.provision(request(iid, *WORKLOAD["services"], name="crash"))  # type: ignore[arg-type]
    try:
        assert await _die_during_deploy(iid, "blue-green", "traffic_switched") == -signal.SIGKILL
        names = await _names(iid)
        assert f"cp-{iid}-0-web-retiring" in names, names
        assert f"cp-{iid}-lease" in names, names
        await asyncio.sleep(1.2)  # the dead holder's lease expires
        status = await provider.status(iid)
        assert status.metadata["operation_state"] == "interrupted", status.metadata
        assert status.metadata["operation"].startswith("deploy by ")
        live = (await provider.releases(iid))[0]
        assert status.metadata["operation_release"] == live.release_id
        assert "finish" in status.metadata["operation_next"]
        assert "deploy interrupted" in status.message
        assert "the next mutating call repairs it first" in status.message
        seen: list[ProgressEvent] = []
        await provider.stop(iid)
        retired = [f"cp-{iid}-{r}{n}" for r in range(2) for n in ("-web", ".pod")]
        assert await _names(iid) == sorted([*retired, f"cp-{iid}-front-web-8080"])
        assert (await provider.releases(iid))[0].release_id == live.release_id
        await provider.start(iid)
        await provider.deploy(
            DeployRequest(
                instance_id=iid,
                services=[{"name": "web", "image": WEB_IMAGE, "env": {"VERSION": "dead"}}],
            ),
            events=seen.append,
        )
        assert not _repairs(seen)  # the stop repaired it already
        assert await assert_consistent(provider, iid) == "dead"
    finally:
        await provider.deprovision(iid)


async def test_a_deploy_killed_before_its_switch_is_undone_by_the_next_call(
    make_id: Callable[[], str],
) -> None:
    """Killed while the first new unit started beside the old one: the next call (a
    scale) puts the old version back everywhere (one live release) before scaling."""
    provider = _provider()
    iid = make_id()
    await provider.provision(request(iid, *WORKLOAD["services"], name="crash"))  # type: ignore[arg-type]
    try:
        before = (await provider.releases(iid))[0]
        assert await _die_during_deploy(iid, "rolling", "unit_started") == -signal.SIGKILL
        assert f"cp-{iid}-0-web-retiring" in await _names(iid)
        await asyncio.sleep(1.2)
        status = await provider.status(iid)
        assert "undo" in status.metadata["operation_next"], status.metadata
        await provider.scale(iid, ResourceSpec(replicas=3))
        assert await assert_consistent(provider, iid, replicas=3) == "v0"
        history = await provider.releases(iid)
        assert [r.release_id for r in history] == [before.release_id]
    finally:
        await provider.deprovision(iid)
