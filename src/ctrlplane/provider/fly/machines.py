"""Machine-level steps (I/O): create and confirm, run once, update in place, stop, start,
destroy, each bounded by a deadline.

A Machine that should run is confirmed, not assumed: after it reaches ``started``
(``/wait``, in slices of at most ten seconds, re-reading the Machine between them), its
events must show no exit since the step began and, for a service without a health check,
it must keep running for ``start_settle``; a launch failure, an exit (with its code) or a
state other than ``started`` fails the step
(:class:`~ctrlplane.provider.failures.RolloutFailed`).
Container output is never quoted (the Machines API has no logs).

Each in-place update holds the Machine's own lease (a short Fly Machine lease) and sends
``current_version``: a Machine someone else leased or changed is not touched
(:class:`~.errors.MachineConflict` becomes a failed step).
"""

from __future__ import annotations

import asyncio
import math

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.deadlines import Deadline, cleanup, run_to_end, seconds
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.errors import MachineConflict
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.fly.render.machine import stop_body
from ctrlplane.provider.native import JSON

__all__ = [
    "confirm_started",
    "create",
    "destroy",
    "latest_event_ms",
    "run_once",
    "start",
    "stop",
    "update_in_place",
    "wait_for",
]

_SLICE = 10
"""The longest single ``/wait`` (seconds); shorter when the request timeout is short."""
_MACHINE_LEASE_TTL = 30
_ENDED = ("stopped", "failed", "destroying", "destroyed")


def _slice(ctx: FlyContext, deadline: Deadline) -> int:
    """Seconds of one ``/wait``: within the deadline and well within the request timeout."""
    within = math.floor(seconds(ctx.config.request_timeout) / 2)
    return max(1, min(_SLICE, within, math.ceil(deadline.remaining())))


def latest_event_ms(view: MachineView) -> int:
    """The newest event's time (Unix ms): exits after it are news."""
    return max((int(e.get("timestamp") or 0) for e in view.events), default=0)


async def _read(ctx: FlyContext, app: str, machine_id: str, step: str) -> MachineView:
    found = await ctx.api.get_machine(app, machine_id)
    if found is None:
        raise RolloutFailed(step, f"machine {machine_id} is gone")
    return MachineView.of(found)


async def wait_for(
    ctx: FlyContext,
    app: str,
    machine_id: str,
    state: str,
    deadline: Deadline,
    step: str,
    *,
    version: str = "",
    settled: tuple[str, ...] = (),
    since_ms: int | None = None,
) -> MachineView:
    """Wait (``/wait``) until the Machine is in ``state`` or in one of ``settled`` (states
    from which ``state`` will not come by itself), or (with ``since_ms``) its process
    exited by itself since then; the Machine as read then."""
    while True:
        view = await _read(ctx, app, machine_id, step)
        if view.state == state and (not version or view.version == version):
            return view
        if view.state in settled:
            return view
        if since_ms is not None and view.crashes(since_ms):
            return view
        if deadline.expired():
            raise RolloutFailed(
                step, f"machine {machine_id} did not reach {state} within {deadline.seconds:g}s"
            )
        await ctx.api.wait(app, machine_id, state, _slice(ctx, deadline), version=version)


def _failure(view: MachineView, since_ms: int) -> str:
    """Why a Machine that should run does not (``""``: it runs)."""
    if view.state == "failed":
        return f"failed to launch: {view.launch_error()}"
    crashes = view.crashes(since_ms)
    if crashes:
        last = crashes[-1]
        oom = " (out of memory)" if last.oom else ""
        return f"exited with code {last.code}{oom}"
    if view.state != "started":
        return f"is {view.state}"
    return ""


async def confirm_started(
    ctx: FlyContext,
    app: str,
    machine_id: str,
    step: str,
    deadline: Deadline,
    *,
    since_ms: int,
    version: str = "",
    settle: bool = True,
) -> MachineView:
    """The Machine reached ``started`` and did not exit since ``since_ms`` (see the
    module docs); ``settle``: it also keeps running for ``start_settle``."""
    view = await wait_for(
        ctx,
        app,
        machine_id,
        "started",
        deadline,
        step,
        version=version,
        settled=_ENDED,
        since_ms=since_ms,
    )
    why = _failure(view, since_ms)
    if why:
        raise RolloutFailed(step, f"machine {machine_id} {why}")
    if settle and seconds(ctx.config.start_settle) > 0:
        await asyncio.sleep(min(seconds(ctx.config.start_settle), deadline.remaining()))
        view = await _read(ctx, app, machine_id, step)
        why = _failure(view, since_ms)
        if why:
            raise RolloutFailed(step, f"machine {machine_id} {why}")
    return view


async def create(ctx: FlyContext, app: str, body: JSON, step: str) -> MachineView:
    """Create a Machine (``body`` is a ``CreateMachineRequest``); errors fail ``step``."""
    try:
        created = await ctx.api.create_machine(app, body, region=str(body.get("region", "")))
    except CtrlplaneError as exc:
        raise RolloutFailed(step, str(exc)) from exc
    return MachineView.of(created)


async def run_once(
    ctx: FlyContext, app: str, body: JSON, step: str, deadline: Deadline
) -> MachineView:
    """Run an init Machine (``auto_destroy``, restart ``no``) to its end: wait until it
    stopped, then read its exit code from its ``exit`` event; a launch failure, a missing
    exit or a non-zero code fails ``step``. A Machine that did not finish in time is
    destroyed; one that mounts a volume is waited on until destroyed (the volume is then
    free for the service that mounts it next)."""
    view = await create(ctx, app, body, step)
    limit = Deadline(min(seconds(ctx.config.init_timeout), deadline.remaining()), step)
    try:
        done = await wait_for(ctx, app, view.id, "stopped", limit, step, settled=_ENDED)
    except RolloutFailed:
        await destroy(ctx, app, view.id)
        raise
    if done.state == "failed":
        await destroy(ctx, app, view.id)
        raise RolloutFailed(step, f"machine {view.id} failed to launch: {done.launch_error()}")
    exits = done.exits()
    if not exits:
        raise RolloutFailed(step, f"machine {view.id} stopped without an exit code")
    code = exits[-1].code
    if code != 0:
        raise RolloutFailed(step, f"exited with code {code}")
    if done.volume_id and done.state != "destroyed":
        # Its volume is free for the next Machine only once this one is destroyed.
        done = await wait_for(ctx, app, view.id, "destroyed", limit, step)
    return done


async def update_in_place(
    ctx: FlyContext,
    app: str,
    view: MachineView,
    config: JSON,
    step: str,
    deadline: Deadline,
    *,
    purpose: str,
    launch: bool = True,
    settle: bool = True,
) -> MachineView:
    """Replace the Machine's configuration with ``config`` (holding its Machine lease,
    ``current_version`` = the version read) and, when ``launch``, confirm its new version
    started (see the module docs)."""
    # Taken to its end even if the caller is cancelled meanwhile (a lease the server
    # granted but whose nonce we never read could not be released).
    lease, interrupted = await run_to_end(
        ctx.api.create_lease(app, view.id, _MACHINE_LEASE_TTL, purpose)
    )
    if lease is None:
        held = await ctx.api.get_lease(app, view.id) or {}
        raise RolloutFailed(
            step,
            f"machine {view.id} is leased by {held.get('owner', 'another client')} "
            f"({str(held.get('description', ''))[:80]}); nothing was changed",
        )
    nonce = str(lease.get("nonce", ""))
    since = latest_event_ms(view)
    try:
        if interrupted:
            raise asyncio.CancelledError
        body = {"config": config, "current_version": view.version, "skip_launch": not launch}
        try:
            updated = MachineView.of(await ctx.api.update_machine(app, view.id, body, nonce=nonce))
        except MachineConflict as exc:
            raise RolloutFailed(step, f"machine {view.id} changed meanwhile: {exc}") from exc
        except CtrlplaneError as exc:
            raise RolloutFailed(step, str(exc)) from exc
        if not launch:
            return updated
        return await confirm_started(
            ctx,
            app,
            view.id,
            step,
            deadline,
            since_ms=since,
            version=updated.version,
            settle=settle,
        )
    finally:
        await cleanup(
            ctx.api.release_lease(app, view.id, nonce),
            ctx.config.request_timeout,
            f"release the lease of machine {view.id}",
        )


async def stop(ctx: FlyContext, app: str, view: MachineView, deadline: Deadline) -> None:
    """Stop a running Machine gracefully and wait until it stopped (no-op otherwise)."""
    if view.state not in ("started", "starting", "replacing"):
        return
    await ctx.api.action(app, view.id, "stop", body=stop_body(ctx.config))
    step = f"stop machine {view.id}"
    await wait_for(ctx, app, view.id, "stopped", deadline, step, settled=_ENDED)


async def start(
    ctx: FlyContext, app: str, view: MachineView, step: str, deadline: Deadline, *, settle: bool
) -> MachineView:
    """Start a stopped Machine and confirm it runs (a started one is only confirmed)."""
    since = latest_event_ms(view)
    if view.state in ("stopped", "created", "failed"):
        try:
            await ctx.api.action(app, view.id, "start")
        except CtrlplaneError as exc:
            raise RolloutFailed(step, str(exc)) from exc
    return await confirm_started(ctx, app, view.id, step, deadline, since_ms=since, settle=settle)


async def destroy(ctx: FlyContext, app: str, machine_id: str, *, nonce: str = "") -> None:
    """Destroy a Machine (forcing a running one to stop) and wait until it is destroyed
    (bounded by the request timeout; a Machine already gone is fine)."""
    await ctx.api.destroy_machine(app, machine_id, nonce=nonce)
    limit = Deadline(ctx.config.request_timeout, f"destroy machine {machine_id}")
    while not limit.expired():
        found = await ctx.api.get_machine(app, machine_id)
        if found is None or found.get("state") == "destroyed":
            return
        await ctx.api.wait(app, machine_id, "destroyed", _slice(ctx, limit))
