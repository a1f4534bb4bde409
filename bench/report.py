"""The printed report of a run: per benchmark, its contenders' figures and its checks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from bench.results import BenchmarkResult, ContenderResult, Summary

__all__ = ["print_benchmark", "print_summary"]


def _num(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _spread(s: Summary) -> str:
    return f"{_num(s.median):>9} {_num(s.min):>9} {_num(s.max):>9} {len(s.samples):>3}"


def print_benchmark(result: BenchmarkResult, out: TextIO) -> None:
    """Print one benchmark: header, contenders (seconds, then other metrics), checks."""
    head = f"{result.id}  {result.title}  [{result.status}]"
    if result.engine:
        head += f"  engine: {result.engine}"
    if result.reps:
        head += f", {result.reps} rep(s)"
    print(head, file=out)
    if result.reason:
        print(f"  {result.reason}", file=out)
    if result.contenders:
        print(
            f"  {'contender / metric':<44} {'median':>9} {'min':>9} {'max':>9} {'n':>3}", file=out
        )
    for c in result.contenders:
        if c.unavailable:
            print(f"  {c.name:<44} unavailable: {c.unavailable}", file=out)
            continue
        seconds = c.seconds
        line = f"  {c.name + ' (s)':<44} " + (_spread(seconds) if seconds else "no trial")
        print(line, file=out)
        for name in _metric_names(c):
            summary = c.metric(name)
            if summary is not None:
                print(f"    {name:<42} {_spread(summary)}", file=out)
        for err in c.errors[:3]:
            print(f"    error: {err[:300]}", file=out)
    for check in result.checks:
        verdict = "" if check.met is None else ("met" if check.met else "MISSED")
        goal = f"goal {check.goal}" if check.goal else ""
        note = f"({check.note})" if check.note else ""
        print(
            f"  check {check.name:<46} {_num(check.value):>8} {check.unit:<5} {goal:<12} "
            f"{verdict:<6} {note}".rstrip(),
            file=out,
        )
    for note in result.notes:
        print(f"  note: {note}", file=out)
    print(f"  ({result.elapsed:.1f} s)", file=out)
    print(file=out, flush=True)


def _metric_names(c: ContenderResult) -> list[str]:
    """The metric names of ``c``'s trials, in the order they first appear."""
    names: list[str] = []
    for trial in c.trials:
        names += [n for n in trial.metrics if n not in names]
    return names


def print_summary(results: Iterable[BenchmarkResult], out: TextIO) -> None:
    """One line per goal check of the run: met or missed."""
    print("goals:", file=out)
    for result in results:
        for check in result.checks:
            if check.goal is None:
                continue
            verdict = "met" if check.met else "MISSED"
            print(
                f"  {result.id} {check.name:<50} {_num(check.value):>8} {check.unit:<5} "
                f"goal {check.goal!s:<8} {verdict}",
                file=out,
            )
        if result.status in ("skipped", "failed"):
            print(f"  {result.id} {result.status}: {result.reason}", file=out)
