"""Changing a running instance in place: ``start`` and ``stop`` (the controller's replica
count, the count to restore kept in an annotation), ``restart`` (a new restart stamp in
the pod template: a rollout restart) and ``scale`` (replicas and the main service's
limits).

``restart`` and ``scale`` change the pod template: when the new pods do not come up and
stay up (a pod the scheduler cannot place, a crash, a failing probe, the deadline), the
previous template is applied again and waited for (within ``restore_timeout``), so a
failed call leaves the instance as it was; the error says why, and whether restoring
worked. A cancelled call restores too before the cancellation goes on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import NoReturn

from ctrlplane.errors import BackendError, OperationTimeout
from ctrlplane.provider.deadlines import Deadline, run_to_end, seconds
from ctrlplane.provider.failures import RolloutFailed, describe_failure
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.instances import controller_kind, load, render_live
from ctrlplane.provider.kubernetes.observe.instance import Instance
from ctrlplane.provider.kubernetes.recovery import restore
from ctrlplane.provider.kubernetes.render import Features
from ctrlplane.provider.kubernetes.render.naming import BACKEND, base_name
from ctrlplane.provider.kubernetes.secret_values import learn_instance_secrets
from ctrlplane.provider.kubernetes.waits import wait_gone, wait_live
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ResourceSpec

__all__ = ["restart", "scale", "start", "stop"]

_SCALED = ("cpu_millis", "memory_mb", "disk_mb", "gpu", "replicas")
"""The fields of a :class:`ResourceSpec` that ``scale`` changes (when not 0/empty)."""


async def _load(ctx: Context, instance_id: str) -> Instance:
    """The instance, its Secrets' values taught to the operation's redactor (its pods'
    failures are reported)."""
    inst = await load(ctx, instance_id)
    await learn_instance_secrets(ctx, inst.req)
    return inst


async def start(ctx: Context, instance_id: str) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.start`: scale a stopped instance
    back to the replica count it had (a running one stays as it is), then wait until its
    pods are ready and steady (``BackendError`` naming the step if they never are)."""
    inst = await _load(ctx, instance_id)
    if inst.replicas == 0:
        await ctx.op.note(phase="start")
        await _scale_to(ctx, inst, inst.remembered)
    what = f"start of {instance_id}"
    try:
        await wait_live(ctx, await load(ctx, instance_id), limit=_limit(ctx), what=what)
    except (RolloutFailed, OperationTimeout) as failed:
        raise BackendError(
            f"{what} failed at {_step(failed)}: {_reason(failed)}; see status() for each "
            "service's state",
            backend=BACKEND,
        ) from None


async def stop(ctx: Context, instance_id: str) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.stop`: scale to 0 and wait
    (``provision_timeout``) until no pod is left."""
    inst = await load(ctx, instance_id)
    if inst.replicas:
        await ctx.op.note(phase="stop")
        await _scale_to(ctx, inst, 0)
    deadline = Deadline(ctx.config.provision_timeout, f"stop of {instance_id}")
    await wait_gone(ctx, instance_id, deadline, detail="pods are still there")


async def restart(ctx: Context, instance_id: str) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.restart` (a stopped instance just
    starts)."""
    inst = await _load(ctx, instance_id)
    if inst.replicas == 0:
        await start(ctx, instance_id)
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    features = await ctx.features(inst.req)
    manifest = render_live(ctx.config, inst, features, restarted_at=stamp)
    await _change(ctx, inst, features, manifest, f"restart of {instance_id}", "restart")


async def scale(ctx: Context, instance_id: str, spec: ResourceSpec) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.scale`; ``spec`` passed the
    preflight. A stopped instance keeps 0 replicas (the new count is what ``start``
    restores)."""
    inst = await _load(ctx, instance_id)
    main = inst.req.main
    changes = {k: v for k, v in spec.model_dump().items() if v and k in _SCALED}
    resources = main.resources.model_copy(update=changes)
    services = [
        s.model_copy(update={"resources": resources}) if s.name == main.name else s
        for s in inst.req.services
    ]
    target = inst.req.model_copy(update={"services": services})
    features = await ctx.features(target)
    manifest = render_live(
        ctx.config,
        inst,
        features,
        target=target,
        replicas=(spec.replicas or inst.replicas) if inst.replicas else 0,
        remembered=spec.replicas or inst.remembered,
    )
    if not inst.replicas:
        await ctx.cluster.apply([manifest], f"scale {instance_id}")
        return
    await _change(ctx, inst, features, manifest, f"scale of {instance_id}", "scale")


def _limit(ctx: Context) -> float:
    return seconds(ctx.config.provision_timeout)


def _step(failed: BaseException) -> str:
    return failed.step if isinstance(failed, RolloutFailed) else "ready"


def _reason(failed: BaseException) -> str:
    return failed.reason if isinstance(failed, RolloutFailed) else describe_failure(failed)


async def _change(
    ctx: Context, before: Instance, features: Features, manifest: JSON, what: str, phase: str
) -> None:
    """Apply ``manifest`` (the controller of ``before`` changed) and wait until its pods
    are ready and steady; on failure or cancellation restore ``before`` (see the module)."""
    iid = before.req.instance_id
    await ctx.op.note(phase=phase)
    await ctx.cluster.apply([manifest], what)
    try:
        await wait_live(ctx, await load(ctx, iid), limit=_limit(ctx), what=what)
    except (RolloutFailed, OperationTimeout, asyncio.CancelledError) as failed:
        await _restore(ctx, before, features, what, failed)


async def _restore(
    ctx: Context, before: Instance, features: Features, what: str, failed: BaseException
) -> NoReturn:
    """Restore ``before`` (to the end, even if cancelled again), then raise: the
    cancellation, or a ``BackendError`` saying why ``what`` failed and how the restore
    went."""
    await ctx.op.note(phase="restore")
    try:
        _, again = await run_to_end(restore(ctx, before, features, None))
        note = "the previous pods were restored"
    except Exception as exc:
        again, note = False, f"restoring the previous pods failed too: {describe_failure(exc)}"
    if isinstance(failed, asyncio.CancelledError) or again:
        raise asyncio.CancelledError
    raise BackendError(
        f"{what} failed at {_step(failed)}: {_reason(failed)}; {note}", backend=BACKEND
    ) from None


async def _scale_to(ctx: Context, inst: Instance, replicas: int) -> None:
    """Set the controller's replica count through its ``scale`` subresource."""
    iid = inst.req.instance_id
    await ctx.cluster.scale(controller_kind(inst), base_name(iid), replicas, instance_id=iid)
