"""A provision request as a Nomad job in the HTTP API's JSON shape (pure; no I/O).

One job per instance (ID = the instance ID, type ``service``), one task group
(``count`` = the main service's replicas, network mode from the config), one task per
service:

- tasks: :mod:`~ctrlplane.provider.nomad.render.tasks` (docker ``config``, resources,
  templates for config files and secrets, mounts), ordered by lifecycle hooks
  (:mod:`~ctrlplane.provider.nomad.render.hooks`);
- network ports and registered services with their checks:
  :mod:`~ctrlplane.provider.nomad.render.services`, registered and health-checked as the
  job's :class:`~ctrlplane.provider.nomad.render.shape.JobShape` says (the agent's
  version and Consul decide it; ``render()`` assumes the newest agent without Consul);
- volumes: persistent ones as group ``Volumes`` (host or CSI, ``per_alloc`` for
  ``stateful_set``) and task ``VolumeMounts``; tmpfs ones as docker ``mount`` blocks
  (:mod:`~ctrlplane.provider.nomad.render.volumes`);
- the group's ephemeral disk is the largest ``disk_mb`` (300 MB when none);
- ``Meta``: :mod:`~ctrlplane.provider.nomad.render.meta`; ``Update``: the rolling update
  stanza (health from the checks, ctrlplane's probes or the task states; ``auto_revert``).

Also the bodies that register a read job again (:func:`resubmittable`, :func:`started`,
:func:`without_canaries`). What the backend cannot run is refused before translation by
:mod:`~ctrlplane.provider.nomad.limits`.
"""

from __future__ import annotations

from datetime import datetime

from ctrlplane.errors import NotSupported
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.config import BACKEND, NomadConfig
from ctrlplane.provider.nomad.render.hooks import lifecycle_block, phases
from ctrlplane.provider.nomad.render.meta import ReleaseMeta, job_meta
from ctrlplane.provider.nomad.render.names import job_id, nanos
from ctrlplane.provider.nomad.render.services import group_network, group_services
from ctrlplane.provider.nomad.render.shape import Health, JobShape, job_shape
from ctrlplane.provider.nomad.render.tasks import task
from ctrlplane.provider.nomad.render.volumes import canary_conflict, group_volumes
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "JOB_FIELDS",
    "resubmittable",
    "started",
    "translate",
    "update_stanza",
    "without_canaries",
]

JOB_FIELDS = frozenset(
    {"ID", "Name", "Type", "Namespace", "Region", "Datacenters", "Meta", "Update", "TaskGroups"}
)
"""The job-level fields :func:`translate` writes."""

_BOOKKEEPING = (
    "Version",
    "Stable",
    "Status",
    "StatusDescription",
    "SubmitTime",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
)


def translate(
    req: ProvisionRequest,
    release: ReleaseMeta,
    cfg: NomadConfig,
    *,
    canary: int = 0,
    created: datetime | None = None,
    shape: JobShape | None = None,
) -> JSON:
    """The ``Job`` object (API JSON) for ``req`` running ``release``; ``canary`` > 0 asks
    the update stanza for that many canaries (canary and blue-green deploys); ``created``
    is when the instance was first provisioned (kept in ``Meta``; default: the release's
    time); ``shape`` how it registers and is health-checked on its agent (default: on the
    newest agent without Consul).

    ``req`` must be valid and pass the backend's limits; this raises ``NotSupported``
    only for unorderable ``depends_on`` and for canaries with ``per_alloc`` volumes.
    Deterministic: the same inputs give the same job, so re-registering it changes
    nothing.
    """
    job = job_id(req.instance_id)
    shape = shape or job_shape(req, cfg)
    order = phases(req.services)
    conflict = canary_conflict(req, canary)
    if conflict:
        raise NotSupported(BACKEND, Capability.DEPLOY.value, detail=conflict)
    replicas = max(req.main.resources.replicas, 1)
    disk = max((s.resources.disk_mb for s in req.services), default=0)
    group: JSON = {
        "Name": cfg.group_name,
        "Count": replicas,
        "Networks": [group_network(req.services, cfg)],
        "Services": [
            entry for svc in req.services for entry in group_services(req.instance_id, svc, shape)
        ],
        "Tasks": [
            task(req, job, svc, lifecycle_block(order[svc.name]), cfg) for svc in req.services
        ],
        "ReschedulePolicy": {"Attempts": 0, "Unlimited": False},
        "EphemeralDisk": {"SizeMB": disk or 300},
    }
    volumes = group_volumes(req, cfg)
    if volumes:
        group["Volumes"] = volumes
    out: JSON = {
        "ID": job,
        "Name": req.name or job,
        "Type": "service",
        "Namespace": cfg.namespace,
        "Datacenters": list(shape.datacenters),
        "Meta": job_meta(req, release, created),
        "Update": update_stanza(cfg, canary=canary, health=shape.health),
        "TaskGroups": [group],
    }
    if cfg.region:
        out["Region"] = cfg.region
    return out


def update_stanza(cfg: NomadConfig, *, canary: int = 0, health: Health = Health.CHECKS) -> JSON:
    """The job's ``Update`` block: rolling by ``max_parallel``, health from ``health``,
    automatic revert to the last stable version when a deployment fails."""
    return {
        "MaxParallel": cfg.max_parallel,
        "HealthCheck": str(health),
        "MinHealthyTime": nanos(cfg.min_healthy_time),
        "HealthyDeadline": nanos(cfg.healthy_deadline),
        "ProgressDeadline": nanos(cfg.progress_deadline),
        "AutoRevert": True,
        "AutoPromote": False,
        "Canary": canary,
    }


def resubmittable(job: JSON) -> JSON:
    """A read job without the server's bookkeeping, ready to register again."""
    return {k: v for k, v in job.items() if k not in _BOOKKEEPING}


def started(job: JSON) -> JSON:
    """A stopped job's version, registered again to run (``Stop`` false)."""
    body = resubmittable(job)
    body["Stop"] = False
    return body


def without_canaries(job: JSON) -> JSON:
    """A read job version to register again as it was, rolled without canaries (how a
    failed deploy restores the previous version)."""
    body = resubmittable(job)
    body["Update"] = {**(body.get("Update") or {}), "Canary": 0}
    return body
