"""B8: API requests per operation of the Kubernetes and Nomad backends, on the fakes.

No cluster or agent can run here, so the benchmark uses the strict in-repo fakes the
tests use, started through their own entry points: ``running_fake`` of
``tests/kubernetes/fake_apiserver`` (a 1.33 server; it records every request in
``cluster.requests``) and ``NomadHarness`` of ``tests/nomad/harness.py`` (its agent
records them in ``agent.requests``). Both providers use their default poll interval
(0.5 s), so the counts are those a user's provider makes; the fakes' simulated
controllers are faster than real ones, so the waits of provision and deploy poll less
often than they would on a real cluster.

One trial per backend provisions a 3-service workload (an init writing to a volume, an
HTTP main with a health check, a sidecar) with 1 and with 3 replicas (``--quick``: 2),
reads each status, rolls out a new environment to the last one (rolling) and reads its
status again; the requests of each operation are counted (and listed in the details of
the first repetition, instance and allocation IDs replaced by ``<id>``).

Goal (issue 17): ``status`` <= 3 requests whatever the replica count; ``provision`` and
``deploy`` counted and reported.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench.context import Run
from bench.interleave import Contender, interleave
from bench.results import BenchmarkResult, Check, Goal, Trial
from ctrlplane.ids import new_id
from ctrlplane.provider import DeployRequest, Provider, ProvisionRequest, ServiceDeploySpec
from ctrlplane.provider.kubernetes import KubernetesConfig, KubernetesProvider
from ctrlplane.provider.nomad import NomadConfig
from ctrlplane.testing.conformance.fake_harness import conformance_http
from ctrlplane.testing.images import FakeImage

__all__ = ["TITLE", "run"]

TITLE = "Kubernetes and Nomad: API requests per operation, on the in-repo fakes"

APP = "conformance/app:1"
_ID = re.compile(
    r"inst[_-][0-9a-z]{26}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


@dataclass
class _Backend:
    """A provider and the request log of the fake it talks to."""

    provider: Provider
    requests: Callable[[], list[str]]


def _request(replicas: int, volume: bool) -> ProvisionRequest:
    data = [{"name": "data", "mount_path": "/data"}] if volume else []
    return ProvisionRequest.model_validate(
        {
            "instance_id": new_id("inst"),
            "tenant_id": "bench",
            "name": f"b8-{replicas}",
            "services": [
                {
                    "name": "init",
                    "image": APP,
                    "role": "init",
                    "command": ["sh", "-c", "echo ready > /data/ready"],
                    "volumes": data,
                },
                {
                    "name": "web",
                    "image": APP,
                    "env": {"MESSAGE": "v0"},
                    "ports": [{"container": 8080}],
                    "volumes": data,
                    "resources": {"replicas": replicas},
                    "health_check": {"path": "/healthz", "port": 8080, "interval": 1},
                },
                {"name": "side", "image": APP, "role": "sidecar"},
            ],
        }
    )


async def _counted(
    backend: _Backend, work: Awaitable[Any], metrics: dict[str, float], name: str
) -> list[str]:
    before = len(backend.requests())
    began = time.monotonic()
    await work
    metrics[f"{name} seconds"] = time.monotonic() - began
    seen = backend.requests()[before:]
    metrics[f"{name} requests"] = float(len(seen))
    return [_ID.sub("<id>", r) for r in seen]


async def _trial(backend: _Backend, replica_counts: tuple[int, ...], rep: int) -> Trial:
    p = backend.provider
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {"rep": rep}
    began = time.monotonic()
    for replicas in replica_counts:
        req = _request(replicas, volume=True)
        iid = req.instance_id
        n = f"{replicas} replicas"
        try:
            details[f"provision ({n})"] = await _counted(
                backend, p.provision(req), metrics, f"provision ({n})"
            )
            details[f"status ({n})"] = await _counted(
                backend, p.status(iid), metrics, f"status ({n})"
            )
            if replicas == replica_counts[-1]:
                deploy = DeployRequest(
                    instance_id=iid,
                    services=[ServiceDeploySpec(name="web", image=APP, env={"MESSAGE": "v1"})],
                )
                details[f"deploy ({n})"] = await _counted(
                    backend, p.deploy(deploy), metrics, f"deploy ({n})"
                )
                details[f"status after deploy ({n})"] = await _counted(
                    backend, p.status(iid), metrics, f"status after deploy ({n})"
                )
        finally:
            await p.deprovision(iid)
    return Trial(time.monotonic() - began, metrics, details if rep == 0 else {})


def _test_module(name: str) -> Any:
    """A module of the test tree, loaded by name: the fakes are not part of the typed
    packages (mypy does not follow them from here), and they import aiohttp and
    kubernetes-validate (dev dependencies), so they load only when B8 runs."""
    return importlib.import_module(name)


@contextlib.asynccontextmanager
async def _kubernetes(run: Run) -> AsyncIterator[_Backend]:
    fakes = _test_module("tests.kubernetes.fake_apiserver")
    folder = run.workdir / "b8-kubernetes"
    folder.mkdir(exist_ok=True)
    images = [FakeImage(name=APP, http=conformance_http)]
    async with fakes.running_fake(folder, images, version=(1, 33)) as fake:
        provider = KubernetesProvider(KubernetesConfig(kubeconfig=str(fake.kubeconfig)))
        yield _Backend(provider, lambda: [f"{m} {p}" for m, p in fake.cluster.requests])


@contextlib.asynccontextmanager
async def _nomad(run: Run) -> AsyncIterator[_Backend]:
    harness_module = _test_module("tests.nomad.harness")
    default_poll = NomadConfig.model_fields["poll_interval"].default
    harness = harness_module.NomadHarness(poll_interval=default_poll)
    await harness.setup()
    try:
        agent = harness.agent
        yield _Backend(
            harness.make_provider(), lambda: [f"{s.method} {s.path}" for s in agent.requests]
        )
    finally:
        await harness.teardown()


async def run(run: Run, result: BenchmarkResult) -> None:
    """Measure B8 into ``result`` (see the module docstring)."""
    result.engine = "in-repo fakes"
    counts = run.options.sizes.fake_replicas
    result.size = {"replicas": list(counts)}
    async with _kubernetes(run) as kubernetes, _nomad(run) as nomad:

        async def k8s(rep: int) -> Trial:
            return await _trial(kubernetes, counts, rep)

        async def nmd(rep: int) -> Trial:
            return await _trial(nomad, counts, rep)

        await interleave(
            result,
            [Contender("kubernetes (fake API server)", k8s), Contender("nomad (fake agent)", nmd)],
            run.reps("B8"),
        )
    for c in result.contenders:
        backend = c.name.split(" ", 1)[0]
        names = [f"status ({r} replicas)" for r in counts]
        names.append(f"status after deploy ({counts[-1]} replicas)")
        for name in names:
            summary = c.metric(f"{name} requests")
            if summary is not None:
                result.checks.append(
                    Check(f"{backend} {name}: requests", summary.max, "requests", Goal("<=", 3))
                )
        names = [f"provision ({r} replicas)" for r in counts]
        names.append(f"deploy ({counts[-1]} replicas)")
        for name in names:
            summary = c.metric(f"{name} requests")
            if summary is not None:
                result.checks.append(
                    Check(f"{backend} {name}: requests", summary.median, "requests")
                )
