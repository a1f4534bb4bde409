"""Command-line options of ``python -m bench`` and the sizes each mode runs.

The full mode runs the sizes of issue 17 (50 workloads, 200 instances, 1,000,000 log
lines) with several repetitions; ``--quick`` runs tiny sizes once, which only proves
the harness works (the smoke test uses it). ``--reps`` and the size options override
either mode.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["BENCHMARK_IDS", "DEFAULT_JSON", "Options", "Sizes", "parse_options"]

BENCHMARK_IDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8")
DEFAULT_JSON = Path(__file__).parent / "results" / "latest.json"


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is and how often each contender is repeated."""

    reps: dict[str, int] = field(default_factory=dict)
    """Repetitions per benchmark ID (every contender of it runs this many times)."""
    workloads: int = 50
    """B2: workloads provisioned one after another, then all at once."""
    instances: int = 200
    """B3 and the memory figure: instances on the engine while listing."""
    log_lines: int = 1_000_000
    """B4: lines the logging service prints before the readers start."""
    probe_interval: float = 1.0
    """B7: health-check interval (seconds) of both the provider and Swarm."""
    rolling_replicas: int = 2
    """B7: replicas rolled one at a time."""
    fake_replicas: tuple[int, ...] = (1, 3)
    """B8: replica counts provisioned (and read) on each fake; the last one is deployed."""

    def reps_of(self, bench_id: str) -> int:
        """Repetitions of ``bench_id`` (1 when not listed)."""
        return self.reps.get(bench_id, 1)


FULL = Sizes(reps={"B1": 5, "B2": 3, "B3": 10, "B4": 3, "B5": 20, "B6": 10, "B7": 3, "B8": 3})
QUICK = Sizes(
    reps={},
    workloads=1,
    instances=3,
    log_lines=1000,
    probe_interval=0.5,
    rolling_replicas=1,
    fake_replicas=(2,),
)


@dataclass(frozen=True)
class Options:
    """Everything one run needs to know from its command line."""

    quick: bool
    sizes: Sizes
    only: tuple[str, ...]
    json_path: Path
    wide_engine: str
    """``auto``: B2/B3 use the private wide-pool engine only when their size needs more
    networks than the shared engine can spare; ``always``: they always use it."""
    swarm: str = "auto"
    """``auto``: B7 makes a Swarm when the engine allows it (see :mod:`bench.swarm`);
    ``never``: B7 runs without its Swarm contender (for an engine other programs use)."""


def _ids(text: str) -> tuple[str, ...]:
    wanted = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = [w for w in wanted if w not in BENCHMARK_IDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark {', '.join(unknown)} (known: {', '.join(BENCHMARK_IDS)})"
        )
    return wanted


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parser() -> argparse.ArgumentParser:
    """The argument parser (its help text is the command's documentation)."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Run the benchmarks B1-B8 of ctrlplane side by side with their contenders "
            "(interleaved, repeated; median, min and max) and print ratios against the "
            "goals of issue 17. Needs a Docker engine and the local example image: "
            "`bash bench/run.sh` installs and starts what is missing, then runs this."
        ),
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, one repetition: proves the harness works, measures nothing",
    )
    p.add_argument(
        "--only",
        type=_ids,
        default=BENCHMARK_IDS,
        metavar="IDS",
        help="comma-separated benchmark IDs to run (default: all)",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help=f"where to write the JSON results (default: {DEFAULT_JSON})",
    )
    p.add_argument("--reps", type=_positive, help="repetitions of every contender")
    p.add_argument("--workloads", type=_positive, help="B2: number of workloads")
    p.add_argument("--instances", type=_positive, help="B3: number of instances")
    p.add_argument("--lines", type=_positive, help="B4: number of log lines")
    p.add_argument(
        "--wide-engine",
        choices=("auto", "always"),
        default="auto",
        help=(
            "B2/B3 on a private engine with a wide address pool: only when their size "
            "needs it (auto, the default) or always"
        ),
    )
    p.add_argument(
        "--swarm",
        choices=("auto", "never"),
        default="auto",
        help=(
            "B7's Swarm contender: when the engine allows it (auto, the default: not in "
            "swarm mode, no other workload on a user-defined network) or never"
        ),
    )
    return p


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Parse ``argv`` (default: ``sys.argv[1:]``) into :class:`Options`."""
    args = parser().parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.reps is not None:
        sizes = replace(sizes, reps=dict.fromkeys(BENCHMARK_IDS, args.reps))
    if args.workloads is not None:
        sizes = replace(sizes, workloads=args.workloads)
    if args.instances is not None:
        sizes = replace(sizes, instances=args.instances)
    if args.lines is not None:
        sizes = replace(sizes, log_lines=args.lines)
    return Options(
        quick=bool(args.quick),
        sizes=sizes,
        only=tuple(i for i in BENCHMARK_IDS if i in args.only),
        json_path=args.json,
        wide_engine=str(args.wide_engine),
        swarm=str(args.swarm),
    )
