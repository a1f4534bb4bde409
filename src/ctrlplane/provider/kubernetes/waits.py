"""Waiting on the cluster: until the pods of a release are ready (or why they never will
be), until pods or objects are gone; and the unit events the pods seen meanwhile give.

Every wait polls every ``poll_interval`` within a :class:`~ctrlplane.provider.deadlines.
Deadline` (its own, or the one of a whole operation shared by its waits) and ends with
:class:`~ctrlplane.errors.OperationTimeout` when it passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from ctrlplane.errors import BackendError, OperationTimeout
from ctrlplane.provider.deadlines import Deadline, seconds
from ctrlplane.provider.events import Subscriber, emit
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.instances import load, pods, unhealthy_events
from ctrlplane.provider.kubernetes.observe.instance import Instance
from ctrlplane.provider.kubernetes.observe.pods import replica_order
from ctrlplane.provider.kubernetes.observe.rollouts import assess, probe_evidence
from ctrlplane.provider.kubernetes.observe.units import UnitTracker
from ctrlplane.provider.kubernetes.render.naming import BACKEND, LABEL_TRACK, TRACK_STABLE
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "PodObserver",
    "UnitEvents",
    "poll_until",
    "wait_gone",
    "wait_live",
    "wait_ready",
    "wait_release",
]

PodObserver = Callable[[Sequence[JSON]], Awaitable[None]]
"""Called by waits with every pod of the instance at each poll (for progress events)."""


class UnitEvents:
    """A :class:`~.observe.units.UnitTracker` whose events go to a subscriber
    (:meth:`observe` is the :data:`PodObserver` waits call at every poll)."""

    def __init__(self, instance_id: str, events: Subscriber | None) -> None:
        self.tracker = UnitTracker(instance_id)
        self.events = events

    def seed(self, pods: Sequence[JSON]) -> None:
        """See :meth:`~.observe.units.UnitTracker.seed`."""
        self.tracker.seed(pods)

    async def observe(self, pods: Sequence[JSON]) -> None:
        """Report the units started and removed since the last call."""
        for event in self.tracker.diff(pods):
            await emit(self.events, event)


async def poll_until(
    ctx: Context,
    done: Callable[[], Awaitable[bool]],
    deadline: Deadline,
    *,
    what: str = "",
    detail: str = "",
) -> None:
    """Call ``done`` every ``poll_interval`` until it is true; past ``deadline``,
    :class:`OperationTimeout` naming ``what`` (else the deadline's operation). ``done``
    is called at least once, also when the deadline has passed already."""
    interval = seconds(ctx.config.poll_interval)
    while not await done():
        if deadline.expired():
            raise OperationTimeout(what or deadline.what, deadline.seconds, detail=detail)
        await asyncio.sleep(min(interval, max(deadline.remaining(), 0.001)))


def _on_track(pod: JSON, track: str) -> bool:
    return (pod["metadata"].get("labels") or {}).get(LABEL_TRACK) == track


async def wait_release(
    ctx: Context,
    req: ProvisionRequest,
    *,
    release: str,
    restarted_at: str,
    limit: float | Deadline,
    what: str,
    name: str | None = None,
    track: str = TRACK_STABLE,
    updated: int | None = None,
    on_pods: PodObserver | None = None,
) -> None:
    """Poll until the pods of ``release`` of one controller (the instance's, or the
    auxiliary Deployment ``name`` of ``track``) are ready; raise ``RolloutFailed`` or
    ``OperationTimeout`` (after ``limit`` seconds, or when the operation's deadline
    passes; ``0`` or a passed deadline checks once).

    ``updated`` is how many pods must run ``release`` (``None``: all; see
    :func:`~.observe.rollouts.assess`). ``on_pods`` sees every pod of the instance at each
    poll.
    """
    deadline = limit if isinstance(limit, Deadline) else Deadline(limit, what)

    async def ready() -> bool:
        if name is None:
            workload = (await load(ctx, req.instance_id)).workload
        else:
            workload = await ctx.cluster.get("Deployment", name)
        every = await pods(ctx, req.instance_id)
        if on_pods is not None:
            await on_pods(every)
        mine = [p for p in every if _on_track(p, track)]
        events = await unhealthy_events(ctx, mine)
        verdict = assess(
            req,
            workload,
            mine,
            release=release,
            restarted_at=restarted_at,
            events=events,
            updated=updated,
        )
        if verdict.failed:
            gate = verdict.step == "gate"
            evidence = probe_evidence(req, replica_order(mine), events) if gate else []
            raise RolloutFailed(verdict.step, verdict.reason, evidence)
        return verdict.done

    await poll_until(ctx, ready, deadline, what=what, detail="pods are not ready")


async def wait_live(
    ctx: Context,
    inst: Instance,
    *,
    limit: float,
    what: str,
    on_pods: PodObserver | None = None,
) -> None:
    """:func:`wait_release` for the pods of ``inst``'s live release (and restart stamp)."""
    await wait_release(
        ctx,
        inst.req,
        release=inst.release_id,
        restarted_at=inst.restarted_at,
        limit=limit,
        what=what,
        on_pods=on_pods,
    )


async def wait_ready(ctx: Context, inst: Instance, what: str) -> None:
    """:func:`wait_live` within ``provision_timeout``; a rollout failure is a
    ``BackendError`` naming the step (``start``, ``restart`` and ``scale`` have no
    release to restore)."""
    try:
        await wait_live(ctx, inst, limit=seconds(ctx.config.provision_timeout), what=what)
    except RolloutFailed as failed:
        raise BackendError(
            f"{what} failed at {failed.step}: {failed.reason}; see status() for each "
            "service's state",
            backend=BACKEND,
        ) from None


async def wait_gone(
    ctx: Context,
    instance_id: str,
    deadline: Deadline,
    *,
    track: str | None = None,
    on_pods: PodObserver | None = None,
    detail: str,
) -> None:
    """Poll until the instance has no pod left (of ``track``, if given), every poll's pods
    seen by ``on_pods``; :class:`OperationTimeout` with ``detail`` past ``deadline``."""

    async def gone() -> bool:
        found = await pods(ctx, instance_id)
        if on_pods is not None:
            await on_pods(found)
        return not any(track is None or _on_track(p, track) for p in found)

    await poll_until(ctx, gone, deadline, detail=detail)
