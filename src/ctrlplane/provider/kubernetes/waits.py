"""Waiting on the cluster: until the pods of a release are ready and stay so (or why they
never will), until pods or objects are gone; and the unit events the pods seen meanwhile
give.

Every wait polls every ``poll_interval`` within a :class:`~ctrlplane.provider.deadlines.
Deadline` (its own, or the one of a whole operation shared by its waits) and ends with
:class:`~ctrlplane.errors.OperationTimeout` when it passes.

"Ready" means ready and steady: once every pod of the release is ready, they must stay
ready for a stability window (``steady`` seconds) with every container's restart count
unchanged; a container that crashed and was restarted by the kubelet meanwhile (a main that
exits at once, or soon) fails the wait at step ``start``, whatever state it is back in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from ctrlplane.errors import OperationTimeout
from ctrlplane.provider.deadlines import Deadline, seconds
from ctrlplane.provider.events import Subscriber, emit
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.instances import load, pods, unhealthy_events
from ctrlplane.provider.kubernetes.observe.instance import Instance
from ctrlplane.provider.kubernetes.observe.pods import (
    container_statuses,
    live_pods,
    replica_order,
)
from ctrlplane.provider.kubernetes.observe.rollouts import assess, probe_evidence
from ctrlplane.provider.kubernetes.observe.units import UnitTracker
from ctrlplane.provider.kubernetes.render.naming import LABEL_TRACK, TRACK_STABLE
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "PodObserver",
    "Steadiness",
    "UnitEvents",
    "poll_until",
    "wait_gone",
    "wait_live",
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


Restarts = dict[tuple[str, str], int]
"""(pod uid, container) -> restart count."""


def _restarts(pods: Sequence[JSON]) -> Restarts:
    out: Restarts = {}
    for pod in pods:
        uid = str(pod["metadata"].get("uid") or pod["metadata"]["name"])
        for name, cs in container_statuses(pod).items():
            out[(uid, name)] = int(cs.get("restartCount") or 0)
    return out


def _crash(pods: Sequence[JSON], before: Restarts, now: Restarts, window: float) -> str:
    """Why the pods are no longer steady: a container restarted (with its last exit
    code) or a pod went away (``""`` when they are steady)."""
    for key, count in now.items():
        if count > before.get(key, count):
            uid, name = key
            pod = next(
                p for p in pods if str(p["metadata"].get("uid") or p["metadata"]["name"]) == uid
            )
            last = (container_statuses(pod)[name].get("lastState") or {}).get("terminated") or {}
            code = last.get("exitCode")
            exited = f" (exit code {code})" if code is not None else ""
            return (
                f"{name} of pod {pod['metadata']['name']} crashed and was restarted{exited} "
                f"within the {window:g}s stability window"
            )
    gone = {uid for uid, _ in before} - {uid for uid, _ in now}
    if gone:
        return f"a pod went away within the {window:g}s stability window"
    return ""


class Steadiness:
    """The stability window of one wait (see the module): started when every pod is
    ready, it fails with :class:`RolloutFailed` at step ``start`` when a container
    restarts, a pod goes or stops being ready before the window ends."""

    def __init__(self, seconds: float, deadline: Deadline) -> None:
        self.seconds = seconds
        self.deadline = deadline
        self._before: Restarts | None = None
        self._until = 0.0

    def check(self, pods: Sequence[JSON], ready: bool) -> bool:
        """Whether the window has passed with ``pods`` steady."""
        now = _restarts(pods)
        if self._before is None:
            if not ready:
                return False
            self._before = now
            self._until = time.monotonic() + self.seconds
            self.deadline.extend(self.seconds)  # the window does not eat the budget
        crash = _crash(pods, self._before, now, self.seconds)
        if crash:
            raise RolloutFailed("start", crash)
        if not ready:
            raise RolloutFailed(
                "start",
                f"the pods stopped being ready within the {self.seconds:g}s stability window",
            )
        return time.monotonic() >= self._until


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
    steady: float = 0.0,
) -> None:
    """Poll until the pods of ``release`` of one controller (the instance's, or the
    auxiliary Deployment ``name`` of ``track``) are ready and stay ready for ``steady``
    seconds with no container restarted (see :class:`Steadiness`); raise
    ``RolloutFailed`` or ``OperationTimeout`` (after ``limit`` seconds, or when the
    operation's deadline passes; ``0`` or a passed deadline checks once).

    ``updated`` is how many pods must run ``release`` (``None``: all; see
    :func:`~.observe.rollouts.assess`). ``on_pods`` sees every pod of the instance at each
    poll.
    """
    deadline = limit if isinstance(limit, Deadline) else Deadline(limit, what)
    window = Steadiness(steady, deadline) if steady > 0 else None

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
        if window is None:
            return verdict.done
        return window.check(live_pods(mine), verdict.done)

    await poll_until(ctx, ready, deadline, what=what, detail="pods are not ready")


async def wait_live(
    ctx: Context,
    inst: Instance,
    *,
    limit: float,
    what: str,
    on_pods: PodObserver | None = None,
    steady: bool = True,
) -> None:
    """:func:`wait_release` for the pods of ``inst``'s live release (and restart stamp),
    steady for the config's ``stability_window`` (unless not ``steady``)."""
    await wait_release(
        ctx,
        inst.req,
        release=inst.release_id,
        restarted_at=inst.restarted_at,
        limit=limit,
        what=what,
        on_pods=on_pods,
        steady=seconds(ctx.config.stability_window) if steady else 0.0,
    )


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
