"""What the agent answered -> our results (pure: no I/O).

- :mod:`~ctrlplane.provider.nomad.observe.allocations`: which allocations count, their
  replica, task events, failures and started tasks;
- :mod:`~ctrlplane.provider.nomad.observe.status`: ``InstanceStatus`` and
  ``ResourceUsage``;
- :mod:`~ctrlplane.provider.nomad.observe.deployments`: deployments, canaries, health;
- :mod:`~ctrlplane.provider.nomad.observe.checks`: check results as probe evidence, and
  ``retries`` counted over them;
- :mod:`~ctrlplane.provider.nomad.observe.placement`: placement failures for missing
  volumes, and what to create;
- :mod:`~ctrlplane.provider.nomad.observe.history`: a job version's request, release
  and the release history;
- :mod:`~ctrlplane.provider.nomad.observe.listing`: the job list as instance summaries;
- :mod:`~ctrlplane.provider.nomad.observe.logframes`: the fs logs frame stream as lines.
"""

from __future__ import annotations

from ctrlplane.provider.nomad.observe.allocations import (
    alloc_replica,
    current_allocs,
    parse_time,
    task_failure,
)
from ctrlplane.provider.nomad.observe.history import request_from_job
from ctrlplane.provider.nomad.observe.status import instance_status

__all__ = [
    "alloc_replica",
    "current_allocs",
    "instance_status",
    "parse_time",
    "request_from_job",
    "task_failure",
]
