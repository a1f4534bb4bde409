"""Fixtures of the Docker suite: a REAL engine (started by scripts/test.sh), never skipped.

- The session fails loudly (``pytest.exit``) when the engine is unreachable or the test
  image is missing: these tests never skip.
- ``make_id`` mints instance IDs for a test and, after it, asserts that no container,
  network or volume of those instances is left (and removes whatever is).
- ``local_registry`` (session, on demand) runs scripts/local-registry.sh: a real registry
  with basic auth on 127.0.0.1 holding the test image; the session fails if it cannot start.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiodocker
import pytest

from ctrlplane.ids import new_id
from ctrlplane.provider.docker import DockerConfig, DockerProvider
from ctrlplane.secrets import MappingResolver

IMAGE = "ctrlplane-example/busybox:latest"
HERE = Path(__file__).parent
ROOT = HERE.parent.parent

SECRETS = {
    "db-password": "hunter2-s3cr3t-value",
    "tls-cert": "-----BEGIN CERT----- c3VwZXJzZWNyZXQ= -----END CERT-----",
    "api-token": "tok-0123456789abcdef",
}


def _engine_problem() -> str | None:
    async def check() -> str | None:
        try:
            client = aiodocker.Docker()
        except Exception as exc:
            return f"no Docker engine configured: {exc}"
        try:
            await client.version()
            try:
                await client.images.inspect(IMAGE)
            except aiodocker.DockerError:
                return f"test image {IMAGE} is missing: run scripts/docker-engine.sh"
        except Exception as exc:
            return f"Docker engine unreachable: {exc}"
        finally:
            await client.close()
        return None

    return asyncio.run(check())


@pytest.fixture(scope="session", autouse=True)
def _real_engine() -> None:
    problem = _engine_problem()
    if problem:
        pytest.exit(
            f"tests/docker need a real Docker engine: {problem}. "
            "Run scripts/test.sh (it starts one) or scripts/docker-engine.sh.",
            returncode=3,
        )


def fast_config(**overrides: object) -> DockerConfig:
    """A config for fast tests: short stop timeout and settle time."""
    values: dict[str, object] = {
        "stop_timeout": 1,
        "settle_time": 0.2,
        "init_timeout": 20,
        "provision_timeout": 60,
        "pull_policy": "never",
        "canary_observation": 1,
        "blue_green_retire_delay": 0.2,
    }
    values.update(overrides)
    return DockerConfig.model_validate(values)


@pytest.fixture
def provider() -> DockerProvider:
    return DockerProvider(fast_config(), secrets=MappingResolver(SECRETS))


def _leftovers(instance_id: str) -> list[str]:
    found: list[str] = []
    flt = f"label=io.ctrlplane.instance={instance_id}"
    for kind, cmd in (
        ("container", ["docker", "ps", "-aq", "--filter", flt]),
        ("network", ["docker", "network", "ls", "-q", "--filter", flt]),
        ("volume", ["docker", "volume", "ls", "-q", "--filter", flt]),
    ):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        found += [f"{kind} {ref}" for ref in out]
    return found


def _remove(instance_id: str) -> None:
    flt = f"label=io.ctrlplane.instance={instance_id}"
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", flt], capture_output=True, text=True
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    for kind in ("network", "volume"):
        refs = subprocess.run(
            ["docker", kind, "ls", "-q", "--filter", flt], capture_output=True, text=True
        ).stdout.split()
        if refs:
            subprocess.run(["docker", kind, "rm", *refs], capture_output=True)


@pytest.fixture
def make_id() -> Iterator[Callable[[], str]]:
    """Mint instance IDs; after the test, assert none of them left anything behind."""
    minted: list[str] = []

    def mint() -> str:
        iid = new_id("inst")
        minted.append(iid)
        return iid

    yield mint
    left = {iid: _leftovers(iid) for iid in minted}
    for iid in minted:
        _remove(iid)
    dirty = {k: v for k, v in left.items() if v}
    assert not dirty, f"objects left behind: {json.dumps(dirty)}"


@pytest.fixture
async def cleanup(provider: DockerProvider) -> AsyncIterator[list[str]]:
    """Instance IDs to deprovision after the test (before ``make_id`` checks leftovers)."""
    ids: list[str] = []
    yield ids
    for iid in ids:
        await provider.deprovision(iid)


@dataclass(frozen=True)
class LocalRegistry:
    """The registry started by scripts/local-registry.sh (see that script)."""

    address: str
    username: str
    password: str = field(repr=False)
    image: str
    log: Path
    started_in: float

    def log_size(self) -> int:
        """A mark in the log; :meth:`requests_since` reads what came after it."""
        return self.log.stat().st_size

    def requests_since(self, mark: int, repository: str) -> list[str]:
        """Access-log lines (``"GET /v2/<repository>/... HTTP/1.1" <status>``) after ``mark``."""
        with self.log.open("rb") as f:
            f.seek(mark)
            text = f.read().decode("utf-8", "replace")
        needle = f"/v2/{repository}/"
        return [ln for ln in text.splitlines() if needle in ln and ln.startswith("127.0.0.1 ")]


@pytest.fixture(scope="session")
def local_registry() -> LocalRegistry:
    """Start (or reuse) the local registry; fail the session, never skip, if it cannot."""
    started = time.monotonic()
    try:
        proc = subprocess.run(
            ["bash", str(ROOT / "scripts" / "local-registry.sh")],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"scripts/local-registry.sh did not finish within 600 s: {exc.stderr!r}")
    if proc.returncode != 0:
        pytest.fail(
            f"scripts/local-registry.sh failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    values = dict(ln.split("=", 1) for ln in proc.stdout.splitlines() if "=" in ln)
    return LocalRegistry(
        address=values["CTRLPLANE_REGISTRY"],
        username=values["CTRLPLANE_REGISTRY_USER"],
        password=values["CTRLPLANE_REGISTRY_PASSWORD"],
        image=values["CTRLPLANE_REGISTRY_IMAGE"],
        log=Path(values["CTRLPLANE_REGISTRY_LOG"]),
        started_in=time.monotonic() - started,
    )
