"""What the job calls things, and the units it counts in (pure).

Every name is derived from the instance and service names, so a fresh provider object
finds what another one registered: the job (ID = instance ID), group network port labels,
registered service names, the Variable paths and items that hold secrets, check names.
Durations in the job are integer nanoseconds; CPU is MHz.
"""

from __future__ import annotations

import math
from datetime import timedelta

from ctrlplane.provider.nomad.config import NomadConfig

__all__ = [
    "check_name",
    "cpu_mhz",
    "job_id",
    "nanos",
    "port_label",
    "secret_item",
    "service_name",
    "variable_path",
]


def job_id(instance_id: str) -> str:
    """The job of an instance: its ID is the instance ID."""
    return instance_id


def port_label(service: str, port: int) -> str:
    """The group network port label of ``service``'s container ``port``."""
    return f"{service.replace('-', '_')}_{port}"


def service_name(instance_id: str, service: str) -> str:
    """The registered service name: ``<service>-<instance suffix>`` (DNS-safe, unique)."""
    suffix = instance_id.rpartition("_")[2]
    return f"{service[:36]}-{suffix}"


def check_name(service: str) -> str:
    """The name of a service's health check in the job (and in check results)."""
    return f"{service}-health"


def variable_path(cfg: NomadConfig, job: str, task: str) -> str:
    """The Variable holding ``task``'s secrets (readable by that task only)."""
    return f"{cfg.variables_prefix}/{job}/{cfg.group_name}/{task}"


def secret_item(index: int) -> str:
    """The Variable item key of a service's ``index``-th secret."""
    return f"secret_{index}"


def nanos(value: timedelta) -> int:
    """A duration as the job's integer nanoseconds (microsecond precision)."""
    return int(value / timedelta(microseconds=1)) * 1000


def cpu_mhz(cfg: NomadConfig, cpu_millis: int) -> int:
    """``cpu_millis`` as MHz (rounded up); the default when 0."""
    if cpu_millis <= 0:
        return cfg.default_cpu_mhz
    return max(1, math.ceil(cpu_millis * cfg.mhz_per_core / 1000))
