"""The metadata keys the backend writes on Machines (pure), and what they hold.

Workload Machines carry who they are: ``ctrlplane_instance``, ``ctrlplane_service``,
``ctrlplane_replica``, ``ctrlplane_role`` (``main``, ``sidecar``, ``init``),
``ctrlplane_release`` (the release they run), ``ctrlplane_generation`` (which
blue-green set) and Fly's ``fly_process_group`` (the service: it names the Machine in
Fly's internal DNS as ``<service>.process.<app>.internal``).

The control Machine (``ctrlplane_role`` = ``control``) carries the instance: its tenant,
name and kind, ``ctrlplane_spec`` (the request as it is live now: every service's whole
spec, secret references only, never values), ``ctrlplane_release_record`` (the live
release: its snapshot, as :class:`~ctrlplane.provider.releases.Release` JSON) and
``ctrlplane_units`` (the Machines that serve it: service -> Machine ID per replica).
"""

from __future__ import annotations

__all__ = [
    "CONTROL",
    "GENERATION",
    "INSTANCE",
    "KIND",
    "NAME",
    "PROCESS_GROUP",
    "RECORD",
    "RELEASE",
    "REPLICA",
    "ROLE",
    "SERVICE",
    "SPEC",
    "TENANT",
    "UNITS",
]

INSTANCE = "ctrlplane_instance"
TENANT = "ctrlplane_tenant"
NAME = "ctrlplane_name"
KIND = "ctrlplane_kind"
ROLE = "ctrlplane_role"
SERVICE = "ctrlplane_service"
REPLICA = "ctrlplane_replica"
RELEASE = "ctrlplane_release"
GENERATION = "ctrlplane_generation"
SPEC = "ctrlplane_spec"
RECORD = "ctrlplane_release_record"
UNITS = "ctrlplane_units"
PROCESS_GROUP = "fly_process_group"
CONTROL = "control"
"""``ctrlplane_role`` of the control Machine."""
