"""The group's network ports and registered services, with their health checks (pure).

- ports: group network ports labelled ``<service>_<port>`` (a dynamic host port mapped
  ``To`` the container port; a fixed ``host`` port is reserved). In ``host`` mode the
  tasks bind the host's ports directly, so each port is reserved at its container port.
  A health check's port that the service does not declare gets a port too;
- one service per port (``<service>-<instance suffix>``, tagged ``ctrlplane`` and
  ``port-<n>``, ``canary`` while a canary) registered where the job's
  :class:`~ctrlplane.provider.nomad.render.shape.JobShape` says (none: no service
  blocks, the ports are still allocated);
- when the registration runs the checks (``Health.CHECKS``), the health check on the
  service of its port: ``http`` (path) or ``tcp`` (port only); an exec check is a
  ``script`` check on a service of its own (Consul only). Nomad's minimum check
  interval and timeout is 1 s, so shorter values are raised to it. With Consul,
  ``FailuresBeforeCritical`` is the check's ``retries`` (:data:`DEFAULT_RETRIES` when
  unset). Otherwise the services carry no checks: the provider probes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.config import NetworkMode, NomadConfig
from ctrlplane.provider.nomad.render.names import check_name, nanos, port_label, service_name
from ctrlplane.provider.nomad.render.shape import Health, JobShape, Registration
from ctrlplane.provider.spec import HealthCheckSpec, ServiceSpec

__all__ = ["DEFAULT_RETRIES", "group_network", "group_services"]

DEFAULT_RETRIES = 3
"""Consecutive failures that make a check unhealthy when ``retries`` is unset."""

_MIN_CHECK = timedelta(seconds=1)
_DEFAULT_INTERVAL = timedelta(seconds=10)
_DEFAULT_TIMEOUT = timedelta(seconds=2)


def _check(svc: ServiceSpec, hc: HealthCheckSpec, shape: JobShape) -> JSON:
    interval = max(hc.interval or _DEFAULT_INTERVAL, _MIN_CHECK)
    timeout = min(max(hc.timeout or _DEFAULT_TIMEOUT, _MIN_CHECK), interval)
    check: JSON = {
        "Name": check_name(svc.name),
        "Interval": nanos(interval),
        "Timeout": nanos(timeout),
    }
    if hc.command:
        check.update({"Type": "script", "Command": hc.command[0], "Args": hc.command[1:]})
        check["TaskName"] = svc.name
    elif hc.path:
        check.update({"Type": "http", "Path": hc.path, "PortLabel": port_label(svc.name, hc.port)})
    else:
        check.update({"Type": "tcp", "PortLabel": port_label(svc.name, hc.port)})
    if shape.registration is Registration.CONSUL and not hc.command:
        check["FailuresBeforeCritical"] = hc.retries or DEFAULT_RETRIES
    return check


def _ports_of(svc: ServiceSpec) -> list[tuple[int, int]]:
    """(container, host) ports of a service, plus its health check's port if extra."""
    found = [(p.container, p.host) for p in svc.ports]
    hc = svc.health_check
    if hc is not None and hc.port and not hc.command and hc.port not in {c for c, _ in found}:
        found.append((hc.port, 0))
    return found


def group_network(services: Sequence[ServiceSpec], cfg: NomadConfig) -> JSON:
    """The group's one ``Networks`` entry: mode and ports of every service."""
    dynamic: list[JSON] = []
    reserved: list[JSON] = []
    host_mode = cfg.network_mode == NetworkMode.HOST
    for svc in services:
        for container, host in _ports_of(svc):
            label = port_label(svc.name, container)
            if host_mode:
                reserved.append({"Label": label, "Value": container})
            elif host:
                reserved.append({"Label": label, "Value": host, "To": container})
            else:
                dynamic.append({"Label": label, "To": container})
    net: JSON = {"Mode": str(cfg.network_mode)}
    if dynamic:
        net["DynamicPorts"] = dynamic
    if reserved:
        net["ReservedPorts"] = reserved
    return net


def group_services(instance_id: str, svc: ServiceSpec, shape: JobShape) -> list[JSON]:
    """The registered services of one ctrlplane service (one per port, and one for an
    exec check), with its health check on the right one when the registration runs it;
    none without registration."""
    out: list[JSON] = []
    if shape.registration is Registration.NONE:
        return out
    hc = svc.health_check if shape.health is Health.CHECKS else None
    for container, _ in _ports_of(svc):
        entry: JSON = {
            "Name": service_name(instance_id, svc.name),
            "PortLabel": port_label(svc.name, container),
            "Provider": str(shape.registration),
            "TaskName": svc.name,
            "Tags": ["ctrlplane", f"port-{container}"],
            "CanaryTags": ["ctrlplane", f"port-{container}", "canary"],
        }
        if hc is not None and not hc.command and hc.port == container:
            entry["Checks"] = [_check(svc, hc, shape)]
        out.append(entry)
    if hc is not None and hc.command:
        script: JSON = {
            "Name": service_name(instance_id, svc.name),
            "Provider": str(shape.registration),
            "TaskName": svc.name,
            "Tags": ["ctrlplane", "script-check"],
            "Checks": [_check(svc, hc, shape)],
        }
        out.append(script)
    return out
