"""What a failed deploy or rollback does: report the failure, restore the previous
release, remove the blue-green/canary auxiliary set, then raise.

Every strategy of :mod:`.strategies` hands any error or cancellation that escapes it after
its first change to :func:`abort`, which runs the undo to its end (further cancellations
wait for it; each step is bounded: ``restore_timeout`` for the restored controller,
``deprovision_timeout`` for the removal of the auxiliary set, the request timeout for each
call; the undo runs on a new connection) and only then raises:

- a rollout failure or timeout: ``DeployFailed`` (``rolled_back`` false if the undo failed);
- a cancellation: the cancellation;
- any other error (the API server unreachable, a 5xx answer, a refused call): that same
  error, so callers see the type they expect (``BackendUnavailable``, ``BackendError``...),
  its message extended with ``restoring the previous release failed too: ...`` when the
  undo failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn

from ctrlplane.errors import CtrlplaneError, DeployFailed, OperationTimeout
from ctrlplane.provider.deadlines import Deadline, run_to_end, seconds
from ctrlplane.provider.events import ProbeObserved, RolledBack, StepTracker, emit
from ctrlplane.provider.failures import RolloutFailed, describe_failure
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.instances import delete_pods, pods, render_live
from ctrlplane.provider.kubernetes.observe.instance import Instance
from ctrlplane.provider.kubernetes.observe.pods import is_current, live_pods
from ctrlplane.provider.kubernetes.render import Features
from ctrlplane.provider.kubernetes.render.naming import LABEL_TRACK, TRACK_STABLE
from ctrlplane.provider.kubernetes.waits import PodObserver, UnitEvents, wait_gone, wait_live
from ctrlplane.provider.native import JSON

__all__ = ["ABORTING", "abort", "abort_restoring", "remove_aux", "restore", "undo_two_sets"]

ABORTING = (Exception, asyncio.CancelledError)
"""What a strategy hands to :func:`abort` once it has changed something: every error and
cancellation (not ``KeyboardInterrupt`` and the like)."""

_GATED = (RolloutFailed, OperationTimeout)
"""The errors that become ``DeployFailed`` (the new version did not get ready)."""


def _mention(exc: BaseException, note: str) -> BaseException:
    """``exc`` with ``note`` appended to its message (ctrlplane errors) or as a note."""
    if isinstance(exc, CtrlplaneError):
        exc.message = f"{exc.message}; {note}"
        exc.args = (exc.message,)
    else:
        exc.add_note(note)
    return exc


async def abort(
    steps: StepTracker,
    inst: Instance,
    exc: BaseException,
    *,
    strategy: str,
    undo: Callable[[], Awaitable[None]],
) -> NoReturn:
    """Report the failure of the open step, run ``undo`` to its end as step ``restore``
    (further cancellations wait for it), then raise ``DeployFailed`` for a rollout failure
    or timeout, re-raise a cancellation (also one that arrived during ``undo``), or
    re-raise any other error ``exc`` as it is (see the module).

    If ``undo`` itself fails, ``DeployFailed`` has ``rolled_back`` false and another
    error's message ends with ``restoring the previous release failed too: ...``.
    """
    iid = inst.req.instance_id
    cancelled = isinstance(exc, asyncio.CancelledError)
    gated = isinstance(exc, _GATED)
    evidence: list[ProbeResult] = []
    step = steps.current
    if isinstance(exc, RolloutFailed):
        step, reason, evidence = exc.step, exc.reason, list(exc.evidence)
    else:
        reason = describe_failure(exc)
    for result in evidence:
        await emit(steps.events, ProbeObserved(instance_id=iid, result=result))
    await steps.fail(f"{step}: {reason}")
    await steps.enter("restore", inst.release_id)
    try:
        _, again = await run_to_end(undo())
    except BaseException as failed:
        await steps.fail(describe_failure(failed))
        if isinstance(failed, asyncio.CancelledError):
            raise
        if not gated and not cancelled:
            note = f"restoring the previous release failed too: {failed}"
            raise _mention(exc, note) from exc.__cause__  # keep the client error
        raise DeployFailed(
            iid,
            strategy=strategy,
            step=step,
            reason=f"{reason}; restoring the previous release failed too: {failed}",
            evidence=evidence,
            rolled_back=False,
        ) from failed
    await steps.finish()
    await emit(
        steps.events,
        RolledBack(instance_id=iid, to_release=inst.release_id, reason=f"{step}: {reason}"),
    )
    if cancelled:
        raise exc
    if again:
        raise asyncio.CancelledError
    if not gated:
        raise exc
    raise DeployFailed(
        iid, strategy=strategy, step=step, reason=reason, evidence=evidence
    ) from None


async def abort_restoring(
    ctx: Context,
    steps: StepTracker,
    inst: Instance,
    exc: BaseException,
    *,
    strategy: str,
    features: Features,
    units: UnitEvents,
) -> NoReturn:
    """:func:`abort` whose undo is :func:`restore` (the one controller back to the
    previous release; a deploy that started no second set)."""
    await abort(
        steps,
        inst,
        exc,
        strategy=strategy,
        undo=lambda: restore(ctx, inst, features, units.observe),
    )


async def remove_aux(
    ctx: Context, iid: str, name: str, track: str, on_pods: PodObserver | None = None
) -> None:
    """Delete an auxiliary controller and wait until its pods are gone (with a deadline:
    ``deprovision_timeout``)."""
    await ctx.cluster.delete("Deployment", name, background=True)
    deadline = Deadline(ctx.config.deprovision_timeout, f"removal of {name}")
    await wait_gone(ctx, iid, deadline, track=track, on_pods=on_pods, detail="pods remain")


async def undo_two_sets(
    ctx: Context,
    inst: Instance,
    features: Features,
    service: JSON | None,
    aux_name: str,
    track: str,
    promoted: bool,
    on_pods: PodObserver | None,
) -> None:
    """Traffic back to the main set, the main controller back to its release, the
    auxiliary set removed (on a new connection).

    The set is removed even when restoring the main controller fails (both failures
    are then reported in one error), but not when switching traffic back fails: the
    set still serves the instance's Service then.
    """
    iid = inst.req.instance_id
    async with ctx.reconnect() as fresh:
        if service is not None:
            await fresh.cluster.apply([service], f"switch back {iid}")
        restore_failed: Exception | None = None
        if promoted:
            try:
                await restore(fresh, inst, features, on_pods)
            except Exception as exc:
                restore_failed = exc
        try:
            await remove_aux(fresh, iid, aux_name, track, on_pods)
        except Exception as exc:
            if restore_failed is None:
                raise
            raise _mention(restore_failed, f"removing {aux_name} failed too: {exc}") from exc
        if restore_failed is not None:
            raise restore_failed


async def restore(
    ctx: Context, inst: Instance, features: Features, on_pods: PodObserver | None
) -> None:
    """Re-apply the previous version (same release, history unchanged) and wait for it,
    on a new connection.

    For a StatefulSet, the pods of another version are deleted after the apply: with
    ``OrderedReady`` the controller would otherwise wait forever for a pod of the failed
    version to get ready (Kubernetes' documented forced rollback); it recreates them
    from the restored template, with their volumes.
    """
    manifest = render_live(ctx.config, inst, features)
    iid = inst.req.instance_id
    async with ctx.reconnect() as fresh:
        await fresh.cluster.apply([manifest], f"restore {iid}")
        if manifest["kind"] == "StatefulSet":
            await delete_pods(
                fresh,
                [
                    p
                    for p in live_pods(await pods(fresh, iid))
                    if (p["metadata"].get("labels") or {}).get(LABEL_TRACK, TRACK_STABLE)
                    == TRACK_STABLE
                    and not is_current(p, inst.release_id, inst.restarted_at)
                ],
            )
        await wait_live(
            fresh,
            inst,
            limit=seconds(ctx.config.restore_timeout),
            what=f"restore of {iid}",
            on_pods=on_pods,
            steady=False,
        )
