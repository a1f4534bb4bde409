"""How a job is shaped for the agent it runs on (pure): where its services register, who
decides its allocations' health, which datacenters it names.

- **registration** (``NomadConfig.service_provider``): ``auto`` is Consul when the
  client nodes run it, Nomad's own service discovery from 1.3, and no registration
  before (the ports are still allocated and published; only discovery by name in a
  catalog is missing);
- **health**: ``checks`` when the registration can run every health check of the spec
  (Consul runs http, tcp and script checks; Nomad's native checks, from 1.4, http and
  tcp); ``probes`` otherwise: the job's update stanza says ``health_check = "manual"``
  and the provider runs the checks with its own probe engine
  (:mod:`ctrlplane.provider.health`, see :mod:`~ctrlplane.provider.nomad.probes`) and
  reports each allocation's health to the deployment; ``task_states`` when the spec has
  no health check (an allocation is healthy once its tasks run);
- **datacenters**: the configured ones; the default ``*`` (every datacenter, Nomad
  1.5+) becomes the datacenters of the client nodes on older agents.

:func:`job_shape` decides from the request, the configuration and what is known of the
agent (nothing known: the newest agent without Consul, e.g. for ``render()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ctrlplane.provider.nomad.config import NomadConfig, ServiceProvider
from ctrlplane.provider.nomad.versions import (
    DATACENTER_GLOB,
    NATIVE_CHECKS,
    NATIVE_SERVICES,
    at_least,
)
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["Health", "JobShape", "Registration", "job_shape"]


class Registration(StrEnum):
    """Where the job's services are registered."""

    CONSUL = "consul"
    NOMAD = "nomad"
    NONE = "none"


class Health(StrEnum):
    """Who decides an allocation's health in a deployment (the update stanza's
    ``health_check``): the registered ``checks``, ctrlplane's ``probes`` (``manual``),
    or the ``task_states``."""

    CHECKS = "checks"
    PROBES = "manual"
    TASK_STATES = "task_states"


@dataclass(frozen=True)
class JobShape:
    """Registration, health and datacenters of one job (see the module docs)."""

    registration: Registration = Registration.NOMAD
    health: Health = Health.CHECKS
    datacenters: tuple[str, ...] = ("*",)


def _registration(cfg: NomadConfig, version: str, consul: bool | None) -> Registration:
    if cfg.service_provider == ServiceProvider.AUTO:
        if consul:
            return Registration.CONSUL
        return Registration.NOMAD if at_least(version, NATIVE_SERVICES) else Registration.NONE
    return Registration(str(cfg.service_provider))


def _health(req: ProvisionRequest, registration: Registration, version: str) -> Health:
    checks = [s.health_check for s in req.services if s.health_check is not None]
    if not checks:
        return Health.TASK_STATES
    if registration is Registration.CONSUL:
        return Health.CHECKS
    native = registration is Registration.NOMAD and at_least(version, NATIVE_CHECKS)
    if native and not any(hc.command for hc in checks):
        return Health.CHECKS
    return Health.PROBES


def job_shape(
    req: ProvisionRequest,
    cfg: NomadConfig,
    *,
    version: str = "",
    consul: bool | None = None,
    datacenters: tuple[str, ...] | None = None,
) -> JobShape:
    """The shape of ``req``'s job on an agent of ``version`` whose nodes run Consul (or
    not) in ``datacenters`` (see the module docs)."""
    registration = _registration(cfg, version, consul)
    wanted = tuple(cfg.datacenters)
    if wanted == ("*",) and not at_least(version, DATACENTER_GLOB) and datacenters:
        wanted = datacenters
    return JobShape(registration, _health(req, registration, version), wanted)
