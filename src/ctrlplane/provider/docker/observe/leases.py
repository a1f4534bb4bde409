"""The lease container -> the instance's operation lease (pure, no I/O).

A lease container (see :meth:`~ctrlplane.provider.docker.render.bodies.Renderer.lease_body`)
holds the lease as created in its label and, once renewed, the current lease in a file
(:data:`~ctrlplane.provider.docker.render.naming.LEASE_FILE`). Its container ID is the
check-and-set token: a takeover removes exactly that container and creates a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ctrlplane.provider.docker.render.naming import Labels
from ctrlplane.provider.leases import Lease, LeaseRecord

__all__ = ["lease_record", "repair_plan"]


def lease_record(keys: Labels, info: Mapping[str, Any], renewed: str | None) -> LeaseRecord | None:
    """The lease of container ``info`` (an inspect): the ``renewed`` file's text when it
    holds a lease, else the lease of its label; ``None`` when it holds none."""
    lease = Lease.from_json(renewed) if renewed else None
    if lease is None:
        labels = (info.get("Config") or {}).get("Labels") or {}
        lease = Lease.from_json(str(labels.get(keys.lease) or ""))
    if lease is None:
        return None
    return LeaseRecord(lease, str(info.get("Id", "")))


def repair_plan(lease: Lease, live_release: str) -> str:
    """What the next mutating call does first about the interrupted operation of
    ``lease`` (``live_release``: the instance's live release, ``""`` when it has none),
    in the words ``status`` reports."""
    if lease.operation == "deprovision":
        return "finish removing the instance"
    if not live_release:
        return "remove what the unfinished provision created"
    target = lease.intent.get("release_id", "")
    if target == live_release:
        return f"finish: release {target} is live; remove what is left of the one before"
    if target:
        return (
            f"undo: put every unit back on the live release {live_release} "
            f"(the unfinished release {target} is dropped)"
        )
    return f"make every unit run the live release {live_release}"
