"""How deploys roll out on Docker: the shape of a rollout on the core engine.

The loops (rolling in batches, the canary head and its observation, blue-green's switch
and retirement, the one failure path) are the core's
:func:`~ctrlplane.provider.rollouts.roll_out` over the unit primitives of
:class:`~ctrlplane.provider.docker.replacement.UnitReplacement`. What stays Docker's own
is decided here (:func:`rollout_shape`):

- ``rolling``: units get their new version ``max_surge`` at a time beside the old one
  (which keeps serving until the new one passed its gate, then is switched and retired)
  when the unit can surge (:func:`can_surge`), else ``max_unavailable`` at a time in
  place; each batch is gated by the changed services' health checks and the stability
  window before the next is touched.
- ``canary``: the same, but the first :func:`canary_count` units are then watched for
  ``canary_observation`` (they must keep running and keep passing their probes), one
  round per :func:`probe_interval`, before the rest are promoted.
- ``blue-green``: the whole new set starts beside the old one without the service names,
  every unit is gated, then every unit's names move to it at once; the old set is
  retired ``blue_green_retire_delay`` (at least ``drain_period``) later.

A failure, a failed gate or observation, a cancellation or the progress deadline undoes
every touched unit and raises :class:`~ctrlplane.errors.DeployFailed` with the evidence
(a cancellation re-raises); a successful rollout records the release.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ctrlplane.provider.deadlines import Deadline, seconds
from ctrlplane.provider.docker.config import BACKEND, DockerConfig
from ctrlplane.provider.docker.gate import DEFAULT_POLICY
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.enums import DeployStrategy, ServiceRole, WorkloadKind
from ctrlplane.provider.releases import ReleasePlan
from ctrlplane.provider.rollouts import RolloutShape

__all__ = ["batch_size", "can_surge", "canary_count", "probe_interval", "rollout_shape"]


def canary_count(config: DockerConfig, units: int) -> int:
    """How many of ``units`` units get the new version first in a canary deploy:
    ``canary_fraction`` of them (rounded up) when set, else ``canary_units``; at least
    one and at most all."""
    fraction = config.canary_fraction
    count = math.ceil(units * fraction) if fraction else config.canary_units
    return max(1, min(count, units))


def batch_size(config: DockerConfig, surge: bool) -> int:
    """How many units a rolling step replaces at once: ``max_surge`` beside the old
    ones when surging, else ``max_unavailable`` in place (at least one)."""
    return max(config.max_surge if surge else config.max_unavailable, 1)


def can_surge(config: DockerConfig, wl: Workload, names: Sequence[str]) -> bool:
    """Whether units can get their new version beside the old (``max_surge`` > 0): a
    deployment whose namespace owner is replaced and whose inits are not (published
    ports, fixed or not, are the fronts', so they do not stop a surge)."""
    return (
        config.max_surge > 0
        and wl.kind is WorkloadKind.DEPLOYMENT
        and wl.owner in names
        and not any(wl.is_init(n) for n in names)
    )


def probe_interval(wl: Workload, changed: frozenset[str]) -> float:
    """Seconds between canary observation rounds: the shortest interval of the changed
    services' checks (the default without one)."""
    checked = [s for s in wl.services if s.name in changed and s.role is not ServiceRole.INIT]
    shortest = min(
        (seconds(s.health_check.interval) for s in checked if s.health_check),
        default=0.0,
    )
    return shortest or DEFAULT_POLICY.interval


def rollout_shape(
    config: DockerConfig,
    live: Workload,
    new: Workload,
    plan: ReleasePlan,
    names: Sequence[str],
    units: Sequence[int],
) -> RolloutShape:
    """The shape of rolling ``plan`` (the ``new`` workload) out over the ``units`` of
    the ``live`` workload, replacing the containers of ``names`` in each (see the module
    docs)."""
    blue_green = plan.strategy is DeployStrategy.BLUE_GREEN
    surge = blue_green or can_surge(config, live, names)
    return RolloutShape(
        instance_id=live.instance_id,
        backend=BACKEND,
        strategy=plan.strategy,
        release_id=plan.release_id,
        previous_release=live.release_id,
        units=list(units) if names else [],
        services=list(names),
        deadline=Deadline(config.progress_deadline, "deploy"),
        beside=surge,
        batch=batch_size(config, surge),
        canary=canary_count(config, len(units)) if units else 1,
        observation=seconds(config.canary_observation),
        interval=probe_interval(new, plan.changed),
        retire_delay=seconds(max(config.blue_green_retire_delay, config.drain_period)),
    )
