"""A service's ``health_check`` as an ECS container ``healthCheck`` (pure).

ECS runs the check inside the container (the ECS agent, through Docker), so every probe
becomes a command the image must be able to run:

- exec probes run their argv as is (``["CMD", *command]``);
- http probes run ``http_check_command`` (default busybox/Alpine ``wget -q -O /dev/null
  -T <timeout> http://127.0.0.1:<port><path>``), tcp probes ``tcp_check_command``
  (default ``nc -z -w <timeout> 127.0.0.1 <port>``): configure a ``curl`` command for
  images that have curl instead, or use an exec probe.

Timing is clamped to what ECS accepts (whole seconds): interval 5-300 (default 30),
timeout 2-60 (default 5), retries 1-10 (default 3), start period 0-300.
"""

from __future__ import annotations

import math

from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.ecs.config import EcsConfig
from ctrlplane.provider.health import probe_kind
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import HealthCheckSpec

__all__ = ["health_check"]


def _clamp(value: float, low: int, high: int, default: int) -> int:
    whole = math.ceil(value) if value > 0 else default
    return max(low, min(high, whole))


def health_check(hc: HealthCheckSpec, cfg: EcsConfig) -> JSON:
    """The container ``healthCheck`` of ``hc`` (see the module docs)."""
    interval = _clamp(hc.interval.total_seconds(), 5, 300, 30)
    timeout = _clamp(hc.timeout.total_seconds(), 2, 60, 5)
    kind = probe_kind(hc)
    if kind == "exec":
        command = ["CMD", *hc.command]
    else:
        template = cfg.http_check_command if kind == "http" else cfg.tcp_check_command
        values = {"port": str(hc.port), "path": hc.path, "timeout": str(timeout)}
        command = ["CMD", *(part.format(**values) for part in template)]
    return {
        "command": command,
        "interval": interval,
        "timeout": timeout,
        "retries": _clamp(hc.retries, 1, 10, 3),
        "startPeriod": _clamp(seconds(cfg.health_start_period), 0, 300, 0),
    }
