"""What to do about an interrupted operation (pure; no I/O).

An operation records its intent in the instance's lease (``phase``, and for a deploy or
rollback the ``release_id`` it rolls out with the ``previous_release`` and
``previous_version`` it replaces). When its holder dies, the next mutating call gets
that lease and repairs first, so that one release serves; ``status`` shows what that
repair will be. :func:`repair_plan` decides from the lease and what the agent holds:

- an interrupted ``deprovision``, or a ``provision`` none of whose versions ever
  succeeded (no stable running version): **purge** the job and its Variables;
- a ``deploy``/``rollback`` whose release is still the job's and not stable: **fail** its
  deployment (Nomad stops the canaries and auto-reverts) and **restore** the previous
  version, waiting until it runs healthy;
- any other operation whose deployment still runs (a scale, a start): **wait** for it
  (Nomad reverts it if it fails);
- otherwise the operation had finished what matters: **nothing**.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ctrlplane.provider.leases import Lease
from ctrlplane.provider.nomad.observe.history import live_release, succeeded

__all__ = ["Repair", "RepairPlan", "repair_plan"]


class Repair(StrEnum):
    """What the repair does."""

    NOTHING = "nothing"
    PURGE = "purge"
    RESTORE = "restore"
    WAIT = "wait"


@dataclass(frozen=True)
class RepairPlan:
    """The repair of an interrupted operation: ``action``, said in ``description``; the
    running ``deployment`` to fail or wait for, and the job ``version`` to restore."""

    action: Repair
    description: str
    deployment: str = ""
    version: int | None = None


def _previous(
    versions: Sequence[Mapping[str, Any]], lease: Lease, current: int
) -> Mapping[str, Any] | None:
    """The version to restore: the one the operation recorded (if still retained), else
    the newest version before ``current`` that succeeded."""
    wanted = lease.intent.get("previous_version", "")
    for v in versions:
        if wanted and str(v.get("Version")) == wanted:
            return v
    older = [v for v in versions if int(v.get("Version", 0)) < current and succeeded(v)]
    return max(older, key=lambda v: int(v.get("Version", 0)), default=None)


def repair_plan(
    lease: Lease,
    job: Mapping[str, Any] | None,
    versions: Sequence[Mapping[str, Any]],
    deployment: Mapping[str, Any] | None,
) -> RepairPlan:
    """The repair of the operation ``lease`` records, given the instance's ``job`` (its
    current version, ``None`` if there is none), its retained ``versions`` and its newest
    ``deployment`` (see the module docs)."""
    op = lease.operation
    if job is None:
        if op in ("provision", "deprovision"):
            return RepairPlan(Repair.PURGE, f"remove what the interrupted {op} left (Variables)")
        return RepairPlan(Repair.NOTHING, "nothing: the instance's job is gone")
    if op == "deprovision":
        return RepairPlan(Repair.PURGE, "finish the interrupted deprovision (purge the job)")
    if op == "provision" and not any(succeeded(v) for v in versions):
        return RepairPlan(
            Repair.PURGE,
            "purge the job of the interrupted provision (it never became healthy) "
            "and its Variables",
        )
    current = int(job.get("Version", 0))
    running = (
        deployment is not None
        and deployment.get("Status") == "running"
        and deployment.get("JobVersion") == current
    )
    release = lease.intent.get("release_id", "")
    stable = any(succeeded(v) and int(v.get("Version", 0)) == current for v in versions)
    if op in ("deploy", "rollback") and release and live_release(job) == release and not stable:
        previous = _previous(versions, lease, current)
        if previous is not None:
            dep = str(deployment["ID"]) if running and deployment is not None else ""
            fail = f"fail deployment {dep} and " if dep else ""
            return RepairPlan(
                Repair.RESTORE,
                f"{fail}restore release {live_release(previous)!r} (job version "
                f"{previous.get('Version')}) in place of the interrupted {op} of {release!r}",
                deployment=dep,
                version=int(previous.get("Version", 0)),
            )
    if running and deployment is not None:
        return RepairPlan(
            Repair.WAIT,
            f"wait for deployment {deployment['ID']} of job version {current} (left by the "
            f"interrupted {op}) to finish",
            deployment=str(deployment["ID"]),
        )
    return RepairPlan(Repair.NOTHING, f"nothing: the interrupted {op} left a consistent job")
