"""Provisioning and deprovisioning on the cluster: applying a new instance's objects as its
first release and waiting for its pods (or waiting for an existing instance's), the
all-or-nothing cleanup after a failed or cancelled provision, and deleting every object
of an instance.

What the operation is doing is recorded in its lease (``phase``: ``apply``, ``start``), so
a provision whose process died is found and removed by the next mutating call (see
:mod:`.repair`). Failures:

- a step that cannot succeed (secrets, apply, schedule, pull, init, start, ready) is
  ``ProvisionFailed`` naming it, after everything made was removed;
- the API server lost or silent (``BackendUnavailable``) stays that error (the CLI's exit 5),
  also after the cleanup;
- a cleanup that fails or runs out of time (``deprovision_timeout``) is named in the error
  with the objects it left.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import NoReturn

from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    CtrlplaneError,
    InstanceNotFound,
    OperationTimeout,
    ProvisionFailed,
)
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.deadlines import Deadline, cleanup_to_end, raise_failure, seconds
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.kubernetes.client import Kind
from ctrlplane.provider.kubernetes.config import KubernetesConfig, SidecarMode
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.inspection import service_endpoints
from ctrlplane.provider.kubernetes.instances import load, pods
from ctrlplane.provider.kubernetes.limits import env_refusals, features, sidecar_refusals
from ctrlplane.provider.kubernetes.observe.instance import Instance
from ctrlplane.provider.kubernetes.render import Features, render_objects
from ctrlplane.provider.kubernetes.render.naming import BACKEND, base_name, instance_selector
from ctrlplane.provider.kubernetes.secret_values import resolve_secrets
from ctrlplane.provider.kubernetes.waits import UnitEvents, poll_until, wait_live
from ctrlplane.provider.native import JSON
from ctrlplane.provider.preflight import Preflight
from ctrlplane.provider.releases import Release, snapshot
from ctrlplane.provider.results import Endpoint, ProvisionResult
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["delete_all", "leftovers", "preview", "provision"]

_OBJECT_KINDS: tuple[Kind, ...] = ("Deployment", "StatefulSet", "Service", "Secret", "ConfigMap")
"""What an instance is made of (besides its claims and pods), in deletion order."""

_DEPENDENT_KINDS: tuple[Kind, ...] = ("ReplicaSet", "Pod", "Endpoints")
"""What the cluster makes for an instance's objects and removes after them."""


async def provision(ctx: Context, req: ProvisionRequest) -> ProvisionResult:
    """The body of :meth:`~.provider.KubernetesProvider.provision` (its contract);
    ``req`` passed the preflight."""
    iid = req.instance_id
    steps, units = ctx.steps, UnitEvents(iid, ctx.events)
    created = False
    try:
        async with steps.guard():
            existing: Instance | None = None
            try:
                existing = await load(ctx, iid)
            except InstanceNotFound:
                existing = None
            if existing is not None:
                units.seed(await pods(ctx, iid))
                inst, eps = await _converge(ctx, existing, units)
            else:
                if any(s.secrets for s in req.services):
                    await steps.enter("resolve-secrets")
                try:
                    values = await resolve_secrets(ctx, req)
                except BackendUnavailable:
                    raise
                except CtrlplaneError as exc:
                    raise ProvisionFailed(iid, "resolve-secrets", str(exc)) from exc
                wanted = await ctx.features(req)
                created = True
                inst, eps = await _create(ctx, req, values, wanted, units)
    except BaseException as exc:
        if created:
            await _clean_up_after(ctx, iid, exc, steps.current)
        raise
    return ProvisionResult(
        provider_ref=base_name(iid),
        service_refs={s.name: f"{base_name(iid)}/{s.name}" for s in inst.req.services},
        endpoints=eps,
        metadata=inst.metadata(ctx.config.namespace),
    )


async def _create(
    ctx: Context,
    req: ProvisionRequest,
    values: dict[str, bytes],
    features: Features,
    units: UnitEvents,
) -> tuple[Instance, list[Endpoint]]:
    """Steps ``apply`` and ``start`` of a new instance: apply the objects of ``req`` as
    its first release, then wait. An apply the server refuses is ``ProvisionFailed`` at
    step ``apply`` (the API server unreachable stays ``BackendUnavailable``)."""
    iid = req.instance_id
    release_id = new_id(RELEASE_PREFIX)
    first = Release(
        release_id=release_id,
        created_at=datetime.now(UTC),
        services=snapshot(req.services),
        live=True,
    )
    manifests = render_objects(
        req,
        ctx.config,
        release_id=release_id,
        features=features,
        releases=[first],
        secret_values=values,
    )
    kinds = ", ".join(f"{m['kind']} {m['metadata']['name']}" for m in manifests)
    await ctx.op.note(phase="apply", release_id=release_id)
    await ctx.steps.enter("apply", kinds)
    try:
        await ctx.cluster.apply(manifests, f"provision {iid}")
    except BackendUnavailable:
        raise
    except CtrlplaneError as exc:
        raise ProvisionFailed(iid, "apply", str(exc)) from exc
    return await _converge(ctx, await load(ctx, iid), units)


async def _converge(
    ctx: Context, inst: Instance, units: UnitEvents
) -> tuple[Instance, list[Endpoint]]:
    """Step ``start``: wait (``provision_timeout``) until the pods of ``inst``'s live
    release are ready and steady; ``ProvisionFailed`` names the failed step."""
    iid = inst.req.instance_id
    await ctx.op.note(phase="start")
    await ctx.steps.enter("start", f"{inst.replicas} replica{'s' if inst.replicas != 1 else ''}")
    try:
        await wait_live(
            ctx,
            inst,
            limit=seconds(ctx.config.provision_timeout),
            what=f"provision of {iid}",
            on_pods=units.observe,
        )
    except RolloutFailed as failed:
        raise ProvisionFailed(iid, failed.step, failed.reason) from None
    except OperationTimeout as exc:
        raise ProvisionFailed(iid, "ready", str(exc)) from None
    inst = await load(ctx, iid)
    eps = await service_endpoints(ctx, inst.req, await pods(ctx, iid))
    await ctx.steps.finish()
    return inst, eps


async def _clean_up_after(ctx: Context, iid: str, exc: BaseException, step: str) -> NoReturn:
    """Delete what a failed or cancelled provision of a new instance created and wait
    until it is gone (on a new connection, to the end, even if cancelled again, within
    ``deprovision_timeout`` and the requests' timeouts), then raise ``exc`` (a failed
    cleanup, what it left, appended to the error or noted on a cancellation), or a
    cancellation that arrived meanwhile, caused by it
    (:func:`~ctrlplane.provider.deadlines.raise_failure`)."""
    problem, interrupted = await cleanup_to_end(
        _cleanup(ctx, iid), _cleanup_limit(ctx), f"cleanup of {iid}"
    )
    note = f"cleanup also failed, objects may be left (run deprovision): {problem}"
    failure: BaseException = exc
    if problem:
        if isinstance(exc, asyncio.CancelledError):
            exc.add_note(note)
        elif isinstance(exc, ProvisionFailed):
            failure = ProvisionFailed(iid, exc.step, f"{exc.reason}; {note}")
        elif isinstance(exc, BackendUnavailable):
            failure = BackendUnavailable(f"{exc}; {note}", backend=exc.backend)
            failure.__cause__ = exc
        else:
            failure = ProvisionFailed(iid, step or "apply", f"{exc}; {note}")
            failure.__cause__ = exc
    raise_failure(failure, interrupted)


def _cleanup_limit(ctx: Context) -> float:
    """How long a cleanup may take: the wait for the objects to go, plus the requests
    that delete them."""
    return seconds(ctx.config.deprovision_timeout) + 4 * seconds(ctx.config.request_timeout)


async def _cleanup(ctx: Context, instance_id: str) -> None:
    """Delete every object of the instance and wait until gone (on a new connection)."""
    async with ctx.reconnect() as fresh:
        await delete_all(fresh, instance_id, wait=True)


def _kinds(ctx: Context, *extra: Kind) -> list[Kind]:
    """The kinds of object an instance leaves (claims unless ``keep_volumes``)."""
    kinds: list[Kind] = [*_OBJECT_KINDS, *extra]
    if not ctx.config.keep_volumes:
        kinds.append("PersistentVolumeClaim")
    return kinds


async def leftovers(ctx: Context, instance_id: str) -> list[str]:
    """``Kind/name`` of every object of the instance still there (its pods, ReplicaSets
    and Endpoints included; claims only without ``keep_volumes``; not its Lease)."""
    found: list[str] = []
    for kind in _kinds(ctx, *_DEPENDENT_KINDS):
        found += [
            f"{kind}/{o['metadata']['name']}" for o in await _of_instance(ctx, kind, instance_id)
        ]
    return found


async def delete_all(ctx: Context, instance_id: str, *, wait: bool) -> None:
    """Delete every object of the instance (PVCs unless ``keep_volumes``; not its Lease,
    which the operation holding it releases); with ``wait``, until they and what the
    cluster made of them are gone (``OperationTimeout`` naming what is left after
    ``deprovision_timeout``). A delete the server refuses does not stop the others; the
    ``BackendError`` raised then names every object it could not delete."""
    refused: list[tuple[str, CtrlplaneError]] = []
    for kind in _kinds(ctx):
        for obj in await _of_instance(ctx, kind, instance_id):
            name = obj["metadata"]["name"]
            try:
                await ctx.cluster.delete(kind, name, background=True)
            except BackendUnavailable:
                raise
            except CtrlplaneError as exc:  # the others are still deleted
                refused.append((f"{kind} {name}", exc))
    if refused:
        first = refused[0][1]
        names = ", ".join(what for what, _ in refused)
        raise BackendError(
            f"could not delete {names} of {instance_id}: {first}", backend=BACKEND
        ) from first
    if not wait:
        return
    deadline = Deadline(ctx.config.deprovision_timeout, f"deprovision of {instance_id}")
    left: list[str] = []

    async def gone() -> bool:
        left[:] = await leftovers(ctx, instance_id)
        return not left

    try:
        await poll_until(ctx, gone, deadline, detail="objects remain")
    except OperationTimeout as exc:
        raise OperationTimeout(
            deadline.what, deadline.seconds, detail=f"still there: {', '.join(left[:20])}"
        ) from exc


async def _of_instance(ctx: Context, kind: Kind, instance_id: str) -> list[JSON]:
    """The objects of ``kind`` of the instance."""
    return await ctx.cluster.list_objects(
        kind, labels=instance_selector(instance_id), what=f"list {kind} of {instance_id}"
    )


def preview(
    config: KubernetesConfig,
    preflight: Preflight,
    req: ProvisionRequest,
    server_version: tuple[int, int],
) -> list[JSON]:
    """What ``provision`` would apply for ``req`` (which passed the preflight) on a server
    of ``server_version``: native sidecars from 1.29 per the config's ``sidecars``, the
    claim retention policy from 1.23, secrets redacted; what that server would refuse is
    refused first. Pure."""
    mode = config.sidecars
    if mode is not SidecarMode.CONTAINERS:
        preflight.refuse(sidecar_refusals(req, mode, server_version))
    preflight.refuse(env_refusals(req.services, server_version))
    wanted = features(mode, server_version)
    release = "rel_" + "0" * 26
    return render_objects(req, config, release_id=release, features=wanted, releases=[])
