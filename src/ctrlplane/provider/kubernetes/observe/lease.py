"""The instance's operation lease, read from its ``Lease`` object, and what the next
mutating call does about an interrupted operation (see :mod:`..repair`). Pure.

The record is the ``ctrlplane.io/operation`` annotation (see :mod:`..render.lease`); a
Lease without it (written by another tool) is read from its ``spec`` as an operation
named ``unknown``, so it is waited for (and taken over once expired) like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from ctrlplane.provider.kubernetes.observe.pods import parse_time
from ctrlplane.provider.kubernetes.render.naming import ANN_OPERATION
from ctrlplane.provider.leases import Lease, LeaseRecord
from ctrlplane.provider.native import JSON

__all__ = ["CARRIED", "describe", "interrupted", "read_lease"]


def read_lease(obj: JSON) -> LeaseRecord:
    """The lease ``obj`` holds, with its ``resourceVersion`` as the token."""
    meta = obj.get("metadata") or {}
    token = str(meta.get("resourceVersion") or "")
    recorded = Lease.from_json(str((meta.get("annotations") or {}).get(ANN_OPERATION, "")))
    if recorded is not None:
        return LeaseRecord(recorded, token)
    spec = obj.get("spec") or {}
    epoch = datetime.fromtimestamp(0, UTC)
    acquired = parse_time(spec.get("acquireTime")) or epoch
    lease = Lease(
        holder=str(spec.get("holderIdentity") or "unknown"),
        operation="unknown",
        acquired_at=acquired,
        renewed_at=parse_time(spec.get("renewTime")) or acquired,
        ttl=float(spec.get("leaseDurationSeconds") or 0),
    )
    return LeaseRecord(lease, token)


CARRIED = "repairing"
"""The intent key of a repairing operation naming the operation it repairs (its intent
follows under ``repairing_<key>``; emptied once the repair is done)."""


def interrupted(lease: Lease) -> tuple[str, Mapping[str, str]]:
    """The operation ``lease`` records and its intent; for a repair that died too, the
    operation it was repairing."""
    intent = dict(lease.intent)
    if intent.get(CARRIED):
        prefix = f"{CARRIED}_"
        return intent[CARRIED], {
            k[len(prefix) :]: v for k, v in intent.items() if k.startswith(prefix)
        }
    return lease.operation, intent


def describe(lease: Lease) -> str:
    """What the next mutating call does about the interrupted operation of ``lease``."""
    operation, intent = interrupted(lease)
    release, previous = intent.get("release_id", ""), intent.get("previous", "")
    if operation == "provision" and release:
        return "the next mutating call deletes what this provision made (it never finished)"
    if operation == "deprovision":
        return "the next mutating call finishes deleting the instance"
    if operation in ("deploy", "rollback"):
        return (
            "the next mutating call removes any canary or green set and switches traffic "
            f"back, then finishes the rollout of {release or 'the new release'} if the "
            f"controller already runs it (restoring {previous or 'the previous release'} "
            "if it does not come up), else applies the live release again"
        )
    return f"nothing of the interrupted {operation} needs undoing; the next call goes on"
