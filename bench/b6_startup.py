"""B6: start-up of the CLI and of the library, against a bare interpreter.

Whole processes, taking turns: ``python -c pass`` (the interpreter of the virtualenv,
the same one the ``ctrlplane`` script runs on), ``ctrlplane --version``, ``ctrlplane
--help`` and ``python -c "import ctrlplane.provider"``; wall time and peak RSS of each.
They run in an empty folder with an empty configuration home, so no ``ctrlplane.toml``
is found.

Goals (issue 17): ``--version`` <= 5x, ``--help`` <= 5x, ``import ctrlplane.provider``
<= 3x ``python -c pass``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

from bench.context import Run, cli_path
from bench.interleave import Contender, interleave
from bench.procs import run_process
from bench.results import BenchmarkResult, Goal, Trial, ratio_check

__all__ = ["TITLE", "run"]

TITLE = "start-up: ctrlplane --version, --help, import ctrlplane.provider vs python -c pass"

BASELINE = "python -c pass"


async def run(run: Run, result: BenchmarkResult) -> None:
    """Measure B6 into ``result`` (see the module docstring)."""
    home = run.workdir / "b6-home"
    (home / "config").mkdir(parents=True, exist_ok=True)
    env = {"XDG_CONFIG_HOME": str(home / "config"), "HOME": str(home)}
    ctrlplane = str(cli_path())
    commands = {
        BASELINE: [sys.executable, "-c", "pass"],
        "ctrlplane --version": [ctrlplane, "--version"],
        "ctrlplane --help": [ctrlplane, "--help"],
        "import ctrlplane.provider": [sys.executable, "-c", "import ctrlplane.provider"],
    }

    def process(argv: list[str]) -> Callable[[int], Awaitable[Trial]]:
        async def trial(rep: int) -> Trial:
            done = (await run_process(argv, env=env, cwd=home, within=60)).check()
            return Trial(done.wall, {"peak RSS_mib": done.max_rss_kib / 1024})

        return trial

    await interleave(
        result,
        [Contender(name, process(argv)) for name, argv in commands.items()],
        run.reps("B6"),
    )
    base = result.contender(BASELINE)
    for name, target in (
        ("ctrlplane --version", 5.0),
        ("ctrlplane --help", 5.0),
        ("import ctrlplane.provider", 3.0),
    ):
        check = ratio_check(
            f"{name} / {BASELINE}", result.contender(name), base, Goal("<=", target)
        )
        if check:
            result.checks.append(check)
    memory: dict[str, float] = {}
    for name in commands:
        rss = result.contender(name).metric("peak RSS_mib")
        if rss is not None:
            memory[name] = rss.median
    result.extra["memory_mib"] = memory
