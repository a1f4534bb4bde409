"""Placement failures read from a job's evaluations (pure; no I/O).

When the scheduler cannot place an allocation it completes the evaluation with
``FailedTGAllocs`` (per task group: ``ConstraintFiltered`` maps a constraint such as
``missing compatible host volumes`` or ``missing CSI Volume pg[1]`` to the number of nodes
it filtered) and leaves a blocked evaluation that waits for the cluster to change.
Volume constraints do not fix themselves (someone must create the volume), so waits
fail on them at once instead of running into their deadline; other reasons (resources
exhausted, ...) may clear, and are left to the deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["volume_placement_failure"]

JSON = dict[str, Any]


def volume_placement_failure(evals: Sequence[JSON], job: JSON) -> str:
    """Why the scheduler could not place allocations of ``job``'s current version for a
    volume constraint, e.g. ``Nomad could not place 1 allocation of group 'unit':
    constraint "missing compatible host volumes" filtered 1 node``; empty if none did."""
    index = job.get("JobModifyIndex")
    for ev in evals:
        if index is not None and ev.get("JobModifyIndex") != index:
            continue
        for group, metric in sorted((ev.get("FailedTGAllocs") or {}).items()):
            filtered = {
                str(k): int(v)
                for k, v in ((metric or {}).get("ConstraintFiltered") or {}).items()
                if "volume" in str(k).lower()
            }
            if not filtered:
                continue
            count = 1 + int((metric or {}).get("CoalescedFailures") or 0)
            reasons = ", ".join(
                f"constraint {k!r} filtered {v} node{'s' if v != 1 else ''}"
                for k, v in sorted(filtered.items())
            )
            plural = "s" if count != 1 else ""
            return f"Nomad could not place {count} allocation{plural} of group {group!r}: {reasons}"
    return ""
