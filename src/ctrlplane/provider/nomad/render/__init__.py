"""Spec -> Nomad job (pure: no I/O, no clock): what ``provision`` registers and
``render()`` shows.

- :mod:`~ctrlplane.provider.nomad.render.job`: :func:`translate` (the job) and the bodies
  that register a read job again;
- :mod:`~ctrlplane.provider.nomad.render.tasks`: one task per service;
- :mod:`~ctrlplane.provider.nomad.render.services`: group network ports, registered
  services and their health checks;
- :mod:`~ctrlplane.provider.nomad.render.hooks`: roles and ``depends_on`` as lifecycle
  hooks;
- :mod:`~ctrlplane.provider.nomad.render.volumes`: group volumes, mounts, tmpfs;
- :mod:`~ctrlplane.provider.nomad.render.pull_auth`: registry secrets as the docker
  driver's ``auth`` block;
- :mod:`~ctrlplane.provider.nomad.render.meta`: what the job's ``Meta`` records;
- :mod:`~ctrlplane.provider.nomad.render.names`: job, port, service, Variable and check
  names, and units.

Secret values never enter a job: templates read them from Nomad Variables.
"""

from __future__ import annotations

from ctrlplane.provider.nomad.render.job import (
    JOB_FIELDS,
    resubmittable,
    started,
    translate,
    update_stanza,
    without_canaries,
)
from ctrlplane.provider.nomad.render.meta import ReleaseMeta, job_meta
from ctrlplane.provider.nomad.render.names import (
    check_name,
    cpu_mhz,
    job_id,
    port_label,
    secret_item,
    service_name,
    variable_path,
)

__all__ = [
    "JOB_FIELDS",
    "ReleaseMeta",
    "check_name",
    "cpu_mhz",
    "job_id",
    "job_meta",
    "port_label",
    "resubmittable",
    "secret_item",
    "service_name",
    "started",
    "translate",
    "update_stanza",
    "variable_path",
    "without_canaries",
]
