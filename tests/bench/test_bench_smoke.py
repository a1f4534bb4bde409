"""Smoke test of the benchmarks (bench/): ``python -m bench --quick`` completes, cleans up
and writes well-formed JSON holding every benchmark ID.

No timing is asserted: the numbers are taken side by side on the machine kind (see
docs/performance.md). Like tests/docker, this needs the real Docker engine that
scripts/test.sh starts, found the same way (``aiodocker.Docker()``), and fails, never
skips, without it. (This folder has no ``__init__.py``: as a package it would be
imported as ``bench`` and hide the benchmarks' own package.)
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiodocker
import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "ctrlplane-example/busybox:latest"
BENCHMARK_IDS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8"]

pytestmark = pytest.mark.docker


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
                return f"image {IMAGE} is missing: run scripts/docker-engine.sh"
        except Exception as exc:
            return f"Docker engine unreachable: {exc}"
        finally:
            await client.close()
        return None

    return asyncio.run(check())


def test_quick_bench_completes_and_writes_every_benchmark(tmp_path: Path) -> None:
    problem = _engine_problem()
    if problem:
        pytest.fail(
            f"the bench smoke test needs a real Docker engine: {problem}. "
            "Run scripts/test.sh (it starts one) or scripts/docker-engine.sh."
        )
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        # no Swarm: the other test lanes' instances share this engine, and leaving a Swarm
        # erases the DNS names of their networks (bench/swarm.py)
        [sys.executable, "-m", "bench", "--quick", "--swarm", "never", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    document = json.loads(out.read_text())
    assert document["schema"] == "ctrlplane-bench/1"
    assert document["quick"] is True
    assert document["interrupted"] is False
    assert sorted(document["benchmarks"]) == BENCHMARK_IDS
    for bench_id, bench in document["benchmarks"].items():
        assert bench["id"] == bench_id
        assert bench["status"] in ("ok", "partial", "skipped"), (bench_id, bench["reason"])
        assert bench["contenders"], bench_id
        for contender in bench["contenders"]:
            ran = contender["seconds"] is not None
            assert ran or contender.get("unavailable") or contender["errors"], contender
            if ran:
                assert set(contender["seconds"]) >= {"median", "min", "max", "n", "samples"}
        for check in bench["checks"]:
            assert isinstance(check["value"], int | float), check
    assert document["cleanup"]["failures"] == []
