"""What a benchmark produces: trials, their summaries, goal checks, and the JSON of a run.

A contender's trial yields one :class:`Trial` (its seconds, other numeric metrics and
free-form details). The trials of a contender become a :class:`ContenderResult` whose
figures are :class:`Summary` objects (median, min, max of the repetitions). A
:class:`Check` compares one figure (a ratio, a count, a time) with the issue's goal.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BenchmarkResult",
    "Check",
    "ContenderResult",
    "Goal",
    "Summary",
    "Trial",
    "memory_summary",
    "summarize",
]

JSON = dict[str, Any]


@dataclass(frozen=True)
class Trial:
    """One measured run of one contender."""

    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    """Other numbers of this run (e.g. ``up_s``, ``list_calls``, ``lines``)."""
    details: JSON = field(default_factory=dict)
    """Anything else worth keeping (e.g. the provision steps), copied into the JSON."""


@dataclass(frozen=True)
class Summary:
    """Median, min and max of the repetitions of one figure (and the samples)."""

    median: float
    min: float
    max: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Iterable[float]) -> Summary:
        """The summary of ``samples`` (at least one)."""
        values = tuple(samples)
        if not values:
            raise ValueError("no samples to summarize")
        return cls(statistics.median(values), min(values), max(values), values)

    def to_json(self) -> JSON:
        return {
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "n": len(self.samples),
            "samples": list(self.samples),
        }


def summarize(trials: Sequence[Trial]) -> tuple[Summary | None, dict[str, Summary]]:
    """The summary of the trials' seconds and of each metric any trial has."""
    if not trials:
        return None, {}
    names: list[str] = []
    for t in trials:
        names += [n for n in t.metrics if n not in names]
    metrics = {n: Summary.of(t.metrics[n] for t in trials if n in t.metrics) for n in sorted(names)}
    return Summary.of(t.seconds for t in trials), metrics


@dataclass(frozen=True)
class Goal:
    """A bound from the issue's table: ``value <= target`` or ``value >= target``."""

    op: Literal["<=", ">="]
    target: float

    def met(self, value: float) -> bool:
        """Whether ``value`` meets the goal."""
        return value <= self.target if self.op == "<=" else value >= self.target

    def __str__(self) -> str:
        return f"{self.op} {self.target:g}"


@dataclass(frozen=True)
class Check:
    """One figure compared with its goal (``goal`` ``None``: reported, not judged)."""

    name: str
    value: float
    unit: str
    """``x`` for ratios, ``s`` for seconds, ``calls``, ``requests``, ``MiB``..."""
    goal: Goal | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.value)

    def to_json(self) -> JSON:
        out: JSON = {"name": self.name, "value": self.value, "unit": self.unit}
        if self.goal is not None:
            out["goal"] = str(self.goal)
            out["met"] = self.met
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class ContenderResult:
    """The trials of one contender, summarized; ``unavailable`` says why it did not run."""

    name: str
    trials: list[Trial] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unavailable: str = ""

    @property
    def seconds(self) -> Summary | None:
        return summarize(self.trials)[0]

    def metric(self, name: str) -> Summary | None:
        """The summary of metric ``name`` over the trials (``None`` if no trial has it)."""
        return summarize(self.trials)[1].get(name)

    def to_json(self) -> JSON:
        seconds, metrics = summarize(self.trials)
        out: JSON = {
            "name": self.name,
            "seconds": seconds.to_json() if seconds else None,
            "metrics": {k: v.to_json() for k, v in metrics.items()},
            "errors": self.errors,
        }
        details = [t.details for t in self.trials if t.details]
        if details:
            out["details"] = details
        if self.unavailable:
            out["unavailable"] = self.unavailable
        return out


@dataclass
class BenchmarkResult:
    """Everything one benchmark measured, judged and noted."""

    id: str
    title: str
    status: Literal["ok", "partial", "skipped", "failed"] = "ok"
    reason: str = ""
    engine: str = ""
    size: JSON = field(default_factory=dict)
    reps: int = 0
    contenders: list[ContenderResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: JSON = field(default_factory=dict)
    elapsed: float = 0.0

    def contender(self, name: str) -> ContenderResult:
        """The contender called ``name`` (created empty if new)."""
        for c in self.contenders:
            if c.name == name:
                return c
        created = ContenderResult(name)
        self.contenders.append(created)
        return created

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "engine": self.engine,
            "size": self.size,
            "reps": self.reps,
            "elapsed_s": self.elapsed,
            "contenders": [c.to_json() for c in self.contenders],
            "checks": [c.to_json() for c in self.checks],
            "notes": self.notes,
            "extra": self.extra,
        }


def _values(c: ContenderResult, metric: str | None) -> list[float]:
    if metric is None:
        return [t.seconds for t in c.trials]
    return [t.metrics[metric] for t in c.trials if metric in t.metrics]


def ratio_check(
    name: str,
    a: ContenderResult,
    b: ContenderResult,
    goal: Goal | None,
    *,
    metric: str | None = None,
    note: str = "",
) -> Check | None:
    """``a / b`` of seconds (or of ``metric``) as a :class:`Check`, ``None`` when either
    side has no figure.

    When both sides ran the same number of times the ratio is the median of the ratios
    of each repetition's pair (A and B ran next to each other, so a drift of the
    machine's speed cancels); otherwise it is the ratio of the medians.
    """
    av, bv = _values(a, metric), _values(b, metric)
    if not av or not bv:
        return None
    if len(av) == len(bv) and all(v > 0 for v in bv):
        value = statistics.median(x / y for x, y in zip(av, bv, strict=True))
    else:
        below = statistics.median(bv)
        if below <= 0:
            return None
        value = statistics.median(av) / below
    return Check(name, value, "x", goal, note)


def memory_summary(results: Iterable[BenchmarkResult]) -> dict[str, float]:
    """Every peak-RSS figure of the run (MiB), by benchmark and process: what the
    benchmarks put in ``extra["memory_mib"]``."""
    out: dict[str, float] = {}
    for result in results:
        for name, mib in dict(result.extra.get("memory_mib") or {}).items():
            out[f"{result.id} {name}"] = float(mib)
    return out
