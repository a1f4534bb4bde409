"""Health checks -> Machine ``checks`` (pure).

An http check (``path``) becomes ``{"type": "http", "port", "path", "method": "GET"}``, a
tcp check (``port`` only) ``{"type": "tcp", "port"}``; both with ``interval``,
``timeout`` (the config's defaults when unset) and ``grace_period`` as Go duration
strings. Fly runs them and reports each as a ``CheckStatus`` (``passing``/``critical``)
on the Machine, which gates deploys. Exec checks (``command``) have no Machine check
type: the backend runs them through ``/exec`` with the core probe engine instead, so they
render to nothing here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ctrlplane.provider.fly.config import FlyConfig
from ctrlplane.provider.health import probe_kind
from ctrlplane.provider.spec import HealthCheckSpec

__all__ = ["CHECK_NAME", "go_duration", "machine_checks"]

CHECK_NAME = "health"
"""The name of a service's check on its Machines."""


def go_duration(value: timedelta) -> str:
    """A Go duration string (``"10s"``, ``"250ms"``)."""
    ms = round(value.total_seconds() * 1000)
    if ms <= 0:
        return "0s"
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def machine_checks(hc: HealthCheckSpec | None, config: FlyConfig) -> dict[str, Any]:
    """The ``checks`` of a service's Machines (empty without an http or tcp check)."""
    if hc is None or probe_kind(hc) == "exec":
        return {}
    interval = hc.interval or config.check_interval
    timeout = hc.timeout or min(config.check_timeout, interval)
    check: dict[str, Any] = {
        "type": probe_kind(hc),
        "port": hc.port,
        "interval": go_duration(interval),
        "timeout": go_duration(timeout),
        "grace_period": go_duration(config.check_grace_period),
    }
    if hc.path:
        check.update(path=hc.path, method="GET", protocol="http")
    return {CHECK_NAME: check}
