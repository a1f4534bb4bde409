"""Check results (pure): as probe evidence, and counted against ``HealthCheckSpec.retries``.

:func:`probe_results` turns an allocation's ``/checks`` answer into
:class:`~ctrlplane.provider.health.ProbeResult` evidence. ``retries`` on Nomad: a check is
unhealthy after that many consecutive failures.

Nomad's native service checks have no failure threshold (``failures_before_critical``
exists only for Consul), and ``/v1/client/allocation/:id/checks`` returns only the latest
result of each check. So the provider counts: while it waits on a deployment (provision,
deploy, rollback, start, scale) it polls the check results of the new allocations,
counts each check's consecutive failing results (a result is identified by its
``Timestamp``; a passing result resets the count) and fails the gate once a check has
failed ``retries`` times in a row (3 when unset). The count is exact as long as the
provider polls at least once per check interval (``poll_interval`` < Nomad's minimum
interval of 1 s); a result it did not see cannot be counted.

With ``service_provider = consul`` the translation also sets the check's
``FailuresBeforeCritical`` to ``retries``, so Consul (and Nomad's deployment health,
which reads Consul) apply the same threshold.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.nomad.render.names import check_name
from ctrlplane.provider.nomad.render.services import DEFAULT_RETRIES
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["FailureCounter", "Tripped", "check_limits", "probe_results"]


def probe_results(checks: Mapping[str, Mapping[str, Any]], replica: int) -> list[ProbeResult]:
    """An allocation's check results (``/v1/client/allocation/:id/checks``) as probe
    results of ``replica``; a result without a time is taken as now."""
    return [
        ProbeResult(
            service=str(result.get("Task") or result.get("Service", "")),
            replica=replica,
            kind="http" if result.get("StatusCode") else "tcp",
            target=str(result.get("Check", "")),
            attempt=1,
            healthy=result.get("Status") == "success",
            observed=str(result.get("Output", "")),
            status_code=int(result["StatusCode"]) if result.get("StatusCode") else None,
            at=datetime.fromtimestamp(int(result.get("Timestamp") or time.time()), UTC),
        )
        for result in checks.values()
    ]


def check_limits(req: ProvisionRequest) -> dict[str, int]:
    """Check name -> consecutive failures that make it unhealthy, for every long-lived
    service with a health check."""
    return {
        check_name(s.name): s.health_check.retries or DEFAULT_RETRIES
        for s in req.services
        if s.health_check is not None and s.role is not ServiceRole.INIT
    }


@dataclass(frozen=True)
class Tripped:
    """A check that failed its limit of consecutive results in one allocation."""

    alloc_id: str
    check: str
    task: str
    failures: int
    output: str

    def __str__(self) -> str:
        return (
            f"check {self.check!r} of task {self.task!r} failed {self.failures} consecutive "
            f"times (last: {self.output or 'no output'})"
        )


@dataclass
class FailureCounter:
    """Consecutive failing results per (allocation, check), fed with polled results."""

    limits: Mapping[str, int]
    _last: dict[tuple[str, str], int] = field(default_factory=dict)
    _count: dict[tuple[str, str], int] = field(default_factory=dict)

    def feed(self, alloc_id: str, results: Mapping[str, Mapping[str, Any]]) -> Tripped | None:
        """Count the new results of one allocation (``/checks`` answer); the first check
        that reached its limit, if any."""
        for result in results.values():
            name = str(result.get("Check", ""))
            limit = self.limits.get(name)
            if limit is None:
                continue
            key = (alloc_id, name)
            stamp = int(result.get("Timestamp") or 0)
            if self._last.get(key) == stamp:
                continue
            self._last[key] = stamp
            if result.get("Status") == "success":
                self._count[key] = 0
                continue
            self._count[key] = self._count.get(key, 0) + 1
            if self._count[key] >= limit:
                return Tripped(
                    alloc_id,
                    name,
                    str(result.get("Task", "")),
                    self._count[key],
                    str(result.get("Output", "")),
                )
        return None
