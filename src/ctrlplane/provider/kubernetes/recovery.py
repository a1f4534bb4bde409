"""What a failed deploy or rollback does: report the failure, restore the previous
release, remove the blue-green/canary auxiliary set, then raise.

Every strategy of :mod:`.rollout` hands any error or cancellation that escapes it after
its first change to :meth:`Recovery._abort`, which runs the undo to its end (further
cancellations wait for it; each step is bounded: ``restore_timeout`` for the restored
controller, ``deprovision_timeout`` for the removal of the auxiliary set, the request
timeout for each call) and only then raises:

- a rollout failure or timeout: ``DeployFailed`` (``rolled_back`` false if the undo failed);
- a cancellation: the cancellation;
- any other error (the API server unreachable, a 5xx answer, a refused call): that same
  error, so callers see the type they expect (``BackendUnavailable``, ``BackendError``...),
  its message extended with ``restoring the previous release failed too: ...`` when the
  undo failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod
from lightkube.types import CascadeType

from ctrlplane.errors import CtrlplaneError, DeployFailed, OperationTimeout
from ctrlplane.provider.events import ProbeObserved, RolledBack, emit
from ctrlplane.provider.events import StepTracker as Steps
from ctrlplane.provider.events import describe_failure as failure_detail
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.kubernetes.observe.pods import is_current, live_pods
from ctrlplane.provider.kubernetes.render.naming import LABEL_TRACK, TRACK_STABLE
from ctrlplane.provider.kubernetes.session import (
    ClusterSession,
    Instance,
    PodObserver,
    RolloutFailed,
    UnitEvents,
)
from ctrlplane.provider.kubernetes.shielding import run_to_end
from ctrlplane.provider.native import JSON

__all__ = ["ABORTING", "Recovery"]

ABORTING = (Exception, asyncio.CancelledError)
"""What a strategy hands to :meth:`Recovery._abort` once it has changed something: every
error and cancellation (not ``KeyboardInterrupt`` and the like)."""

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


class Recovery(ClusterSession):
    """Undoing a deploy (a base class of :class:`~.rollout.Rollouts`)."""

    async def _abort(
        self,
        steps: Steps,
        inst: Instance,
        exc: BaseException,
        *,
        strategy: str,
        undo: Callable[[], Awaitable[None]],
    ) -> NoReturn:
        """Report the failure of the open step, run ``undo`` to its end as step
        ``restore`` (further cancellations wait for it), then raise ``DeployFailed`` for a
        rollout failure or timeout, re-raise a cancellation (also one that arrived during
        ``undo``), or re-raise any other error ``exc`` as it is (see the module).

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
            reason = failure_detail(exc)
        for result in evidence:
            await emit(steps.events, ProbeObserved(instance_id=iid, result=result))
        await steps.fail(f"{step}: {reason}")
        await steps.enter("restore", inst.release_id)
        try:
            _, again = await run_to_end(undo())
        except BaseException as failed:
            await steps.fail(failure_detail(failed))
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

    async def _abort_restoring(
        self,
        steps: Steps,
        inst: Instance,
        exc: BaseException,
        *,
        strategy: str,
        native: bool,
        units: UnitEvents,
    ) -> NoReturn:
        """:meth:`_abort` whose undo is :meth:`_restore` (the one controller back to the
        previous release; a deploy that started no second set)."""
        await self._abort(
            steps,
            inst,
            exc,
            strategy=strategy,
            undo=lambda: self._restore(inst, native, units.observe),
        )

    async def _remove_aux(
        self,
        client: AsyncClient,
        iid: str,
        name: str,
        track: str,
        on_pods: PodObserver | None = None,
    ) -> None:
        """Delete an auxiliary controller and wait until its pods are gone (with a deadline:
        ``deprovision_timeout``)."""
        await self._delete(client, Deployment, name, cascade=CascadeType.BACKGROUND)
        limit = self.config.deprovision_timeout.total_seconds()
        deadline = time.monotonic() + limit
        while True:
            pods = await self._pods(client, iid)
            if on_pods is not None:
                await on_pods(pods)
            if not any((p["metadata"].get("labels") or {}).get(LABEL_TRACK) == track for p in pods):
                return
            if time.monotonic() >= deadline:
                raise OperationTimeout(f"removal of {name}", limit, detail="pods remain")
            await asyncio.sleep(self.config.poll_interval.total_seconds())

    async def _undo_two_sets(
        self,
        inst: Instance,
        native: bool,
        service: JSON | None,
        aux_name: str,
        track: str,
        promoted: bool,
        on_pods: PodObserver | None,
    ) -> None:
        """Traffic back to the main set, the main controller back to its release, the
        auxiliary set removed.

        The set is removed even when restoring the main controller fails (both failures
        are then reported in one error), but not when switching traffic back fails: the
        set still serves the instance's Service then.
        """
        iid = inst.req.instance_id
        async with self._client() as client:
            if service is not None:
                await self._apply(client, [service], f"switch back {iid}")
            restore_failed: Exception | None = None
            if promoted:
                try:
                    await self._restore(inst, native, on_pods)
                except Exception as exc:
                    restore_failed = exc
            try:
                await self._remove_aux(client, iid, aux_name, track, on_pods)
            except Exception as exc:
                if restore_failed is None:
                    raise
                raise _mention(restore_failed, f"removing {aux_name} failed too: {exc}") from exc
            if restore_failed is not None:
                raise restore_failed

    async def _restore(self, inst: Instance, native: bool, on_pods: PodObserver | None) -> None:
        """Re-apply the previous version (same release, history unchanged) and wait for it.

        For a StatefulSet, the pods of another version are deleted after the apply: with
        ``OrderedReady`` the controller would otherwise wait forever for a pod of the failed
        version to get ready (Kubernetes' documented forced rollback); it recreates them
        from the restored template, with their volumes.
        """
        manifest = self._render_live(inst, native)
        iid = inst.req.instance_id
        async with self._client() as client:
            await self._apply(client, [manifest], f"restore {iid}")
            if manifest["kind"] == "StatefulSet":
                await self._delete_pods(
                    client,
                    [
                        p
                        for p in live_pods(await self._pods(client, iid))
                        if (p["metadata"].get("labels") or {}).get(LABEL_TRACK, TRACK_STABLE)
                        == TRACK_STABLE
                        and not is_current(p, inst.release_id, inst.restarted_at)
                    ],
                )
            await self._wait_live(
                client,
                inst,
                limit=self.config.restore_timeout.total_seconds(),
                what=f"restore of {iid}",
                on_pods=on_pods,
            )

    async def _delete_pods(self, client: AsyncClient, pods: Sequence[JSON]) -> None:
        """Delete ``pods`` (already gone is fine); their controller recreates them."""
        for pod in pods:
            await self._delete(client, Pod, pod["metadata"]["name"])
