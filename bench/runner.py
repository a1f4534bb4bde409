"""One run of the benchmarks: each in turn, its report printed, then the JSON written.

A benchmark that raises is marked ``failed`` (with the reason) and the run goes on. On
every way out (the end, an error, Ctrl-C, SIGTERM) the cleanup runs to its end: the
janitor's pending undos, then a sweep of the run's label on every engine used, then the
wide engine is stopped; then the JSON is written (``"interrupted": true`` if so).

Before the first benchmark the bytecode of the ``ctrlplane`` package is compiled
(:func:`compile_package`): an installed package has it (pip compiles it at install), but
an editable checkout under ``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile every
module it imports from source in every CLI process measured (about 0.1 s of CPU per
command here), which is not what users run.

Exit status: 0 when every selected benchmark ran (goals missed or not: this measures,
it does not judge), 1 when one failed or the cleanup left something, 3 when no usable
engine was found, 130 when interrupted.
"""

from __future__ import annotations

import asyncio
import compileall
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    b1_provision,
    b2_concurrency,
    b3_listing,
    b4_logs,
    b5_exec,
    b6_startup,
    b7_rolling,
    b8_requests,
)
from bench.context import Run
from bench.engines import EngineProblem, shared_engine
from bench.janitor import run_to_end
from bench.options import Options, parse_options
from bench.report import print_benchmark, print_summary
from bench.results import BenchmarkResult, memory_summary

__all__ = ["BENCHMARKS", "SCHEMA", "compile_package", "main"]

SCHEMA = "ctrlplane-bench/1"

Bench = Callable[[Run, BenchmarkResult], Awaitable[None]]

BENCHMARKS: dict[str, tuple[str, Bench]] = {
    "B1": (b1_provision.TITLE, b1_provision.run),
    "B2": (b2_concurrency.TITLE, b2_concurrency.run),
    "B3": (b3_listing.TITLE, b3_listing.run),
    "B4": (b4_logs.TITLE, b4_logs.run),
    "B5": (b5_exec.TITLE, b5_exec.run),
    "B6": (b6_startup.TITLE, b6_startup.run),
    "B7": (b7_rolling.TITLE, b7_rolling.run),
    "B8": (b8_requests.TITLE, b8_requests.run),
}

ROOT = Path(__file__).resolve().parent.parent


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return ""
    return out.stdout.strip()


def compile_package() -> str:
    """Write the bytecode of every module of the ``ctrlplane`` package that lacks an
    up-to-date one (as installing it does); says where, for the JSON."""
    import ctrlplane

    package = Path(ctrlplane.__file__).resolve().parent
    ok = compileall.compile_dir(package, quiet=1, workers=1)
    return f"{package}: {'compiled' if ok else 'compiling failed for some modules'}"


def _machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "loadavg_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "platform": platform.platform(),
    }


async def _one(run: Run, bench_id: str) -> BenchmarkResult:
    title, bench = BENCHMARKS[bench_id]
    result = BenchmarkResult(bench_id, title)
    result.extra["loadavg_before"] = list(os.getloadavg())
    started = time.monotonic()
    try:
        await bench(run, result)
    except Exception as exc:
        result.status = "failed"
        result.reason = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
    finally:
        result.elapsed = time.monotonic() - started
        result.extra["loadavg_after"] = list(os.getloadavg())
    if result.status == "ok" and any(c.errors or c.unavailable for c in result.contenders):
        result.status = "partial"
        if not result.reason:
            result.reason = "a contender had errors or could not run (see contenders)"
    return result


async def _cleanup(run: Run) -> dict[str, Any]:
    """Pending undos, then the label sweep of every engine used, then the wide engine."""
    await run.janitor.sweep()
    leftovers: list[str] = []
    for engine in list(run.engines_used.values()):
        try:
            leftovers += [f"{engine.name}: {r}" for r in await run.sweep_labels(engine)]
        except Exception as exc:
            run.janitor.failures.append(f"label sweep of {engine.name}: {exc}")
    try:
        await run.wide.stop()
    except Exception as exc:
        run.janitor.failures.append(f"stopping the wide engine: {exc}")
    return {
        "undone_by_final_sweep": run.janitor.swept,
        "removed_by_label_sweep": leftovers,
        "failures": run.janitor.failures,
    }


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str) + "\n")
    tmp.replace(path)


async def _main(opts: Options, argv: list[str]) -> int:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        shared = await shared_engine()
    except EngineProblem as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 3
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "command": " ".join(["python -m bench", *argv]),
        "quick": opts.quick,
        "started_at": _now(),
        "commit": _git_commit(),
        "machine": _machine(),
        "sizes": {
            "reps": {b: opts.sizes.reps_of(b) for b in opts.only},
            "workloads": opts.sizes.workloads,
            "instances": opts.sizes.instances,
            "log_lines": opts.sizes.log_lines,
            "probe_interval_s": opts.sizes.probe_interval,
        },
        "interrupted": False,
        "bytecode": compile_package(),
    }
    results: list[BenchmarkResult] = []
    status = 0
    with tempfile.TemporaryDirectory(prefix="ctrlplane-bench-") as tmp:
        run = Run(opts, shared, Path(tmp))
        document["run_id"] = run.run_id
        print(
            f"ctrlplane bench {run.run_id}: {', '.join(opts.only)}"
            f"{' (quick)' if opts.quick else ''}; load {os.getloadavg()[0]:.2f}, "
            f"engine {shared.version} at {shared.url}",
            flush=True,
        )
        try:
            for bench_id in opts.only:
                result = await _one(run, bench_id)
                results.append(result)
                print_benchmark(result, sys.stdout)
        except asyncio.CancelledError:
            document["interrupted"] = True
            status = 130
            print("bench: interrupted; cleaning up", file=sys.stderr, flush=True)
        finally:
            try:
                document["cleanup"] = await run_to_end(_cleanup(run))
            except asyncio.CancelledError:
                document["interrupted"] = True
                status = 130
            document["engines"] = {n: e.describe() for n, e in run.engines_used.items()}
            document["finished_at"] = _now()
            document["commit_at_end"] = _git_commit()
            document["machine"]["loadavg_at_end"] = list(os.getloadavg())
            document["benchmarks"] = {r.id: r.to_json() for r in results}
            document["memory"] = memory_summary(results)
            _write(opts.json_path, document)
    print_summary(results, sys.stdout)
    cleanup = document["cleanup"]
    if cleanup["failures"]:
        print(f"bench: cleanup left: {cleanup['failures']}", file=sys.stderr)
    print(f"results: {opts.json_path}", flush=True)
    if status:
        return status
    if any(r.status == "failed" for r in results) or cleanup["failures"]:
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print, write; the exit status (see the module docstring)."""
    args = sys.argv[1:] if argv is None else argv
    opts = parse_options(args)
    try:
        return asyncio.run(_main(opts, args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench: interrupted", file=sys.stderr)
        return 130
