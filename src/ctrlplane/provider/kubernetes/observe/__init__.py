"""Pure reading of what the API server returned into our results: no I/O.

:mod:`.pods` (order, readiness, release and container states of pods), :mod:`.instance`
(an instance read back from its controller), :mod:`.status` (status, endpoints,
summaries), :mod:`.usage` (resource usage), :mod:`.rollouts` (rollout verdicts and probe
evidence), :mod:`.units` (units started and removed between polls), :mod:`.unit_rows` (one row per
container for ``units``) and :mod:`.loglines`
(log lines as records).
"""

from __future__ import annotations

from ctrlplane.provider.kubernetes.observe.instance import Instance, read_instance
from ctrlplane.provider.kubernetes.observe.pods import (
    is_current,
    is_ready,
    live_pods,
    replica_order,
    started_containers,
)
from ctrlplane.provider.kubernetes.observe.rollouts import Verdict, assess, probe_evidence
from ctrlplane.provider.kubernetes.observe.status import endpoints, instance_status, summaries
from ctrlplane.provider.kubernetes.observe.units import UnitTracker

__all__ = [
    "Instance",
    "UnitTracker",
    "Verdict",
    "assess",
    "endpoints",
    "instance_status",
    "is_current",
    "is_ready",
    "live_pods",
    "probe_evidence",
    "read_instance",
    "replica_order",
    "started_containers",
    "summaries",
]
