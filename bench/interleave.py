"""Contenders taking turns: A B C A B C ... for a number of repetitions.

Running the contenders next to each other, repetition after repetition, exposes them to
the same state of a shared, noisy machine; ratios are then taken pair by pair (see
:func:`bench.results.ratio_check`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bench.results import BenchmarkResult, Trial

__all__ = ["Contender", "interleave"]


@dataclass(frozen=True)
class Contender:
    """A named way of doing the benchmark's job; ``trial(rep)`` runs and times it once.

    ``unavailable`` (a reason) keeps it out of the run, e.g. a tool that is not installed.
    """

    name: str
    trial: Callable[[int], Awaitable[Trial]]
    unavailable: str = ""


async def interleave(result: BenchmarkResult, contenders: Sequence[Contender], reps: int) -> None:
    """Run every available contender ``reps`` times, taking turns, into ``result``.

    A trial that raises is recorded as an error of its contender (the others go on);
    cancellation and ``KeyboardInterrupt`` stop the whole run.
    """
    result.reps = reps
    for c in contenders:
        entry = result.contender(c.name)
        if c.unavailable:
            entry.unavailable = c.unavailable
    for rep in range(reps):
        for c in contenders:
            if c.unavailable:
                continue
            entry = result.contender(c.name)
            try:
                entry.trials.append(await c.trial(rep))
            except Exception as exc:
                entry.errors.append(f"rep {rep}: {type(exc).__name__}: {exc}")
