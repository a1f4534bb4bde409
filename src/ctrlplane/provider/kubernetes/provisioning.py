"""Provisioning and deprovisioning on the cluster: applying a new instance's objects as its
first release and waiting for its pods (or waiting for an existing instance's), the
all-or-nothing cleanup after a failed or cancelled provision, and deleting every object
of an instance."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, NoReturn

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import (
    ConfigMap,
    PersistentVolumeClaim,
    Pod,
    Secret,
    Service,
)
from lightkube.types import CascadeType

from ctrlplane.errors import (
    CtrlplaneError,
    InstanceNotFound,
    OperationTimeout,
    ProvisionFailed,
)
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.events import StepTracker as Steps
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.kubernetes.errors import translated
from ctrlplane.provider.kubernetes.render import RenderInputs, render
from ctrlplane.provider.kubernetes.render.history import new_release
from ctrlplane.provider.kubernetes.render.naming import LABEL_INSTANCE, base_name
from ctrlplane.provider.kubernetes.session import (
    ClusterSession,
    Instance,
    RolloutFailed,
    UnitEvents,
)
from ctrlplane.provider.kubernetes.shielding import run_to_end
from ctrlplane.provider.kubernetes.status import metadata, service_endpoints
from ctrlplane.provider.results import Endpoint, ProvisionResult
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.provider.validation import validate_request

__all__ = ["delete_all", "provision_instance"]

_CLEANUP_KINDS: tuple[Any, ...] = (Deployment, StatefulSet, Service, Secret, ConfigMap)


async def provision_instance(
    session: ClusterSession, req: ProvisionRequest, *, events: Subscriber | None = None
) -> ProvisionResult:
    """The body of :meth:`~.provider.KubernetesProvider.provision` (its contract)."""
    validate_request(req)
    render(req, session.config, RenderInputs(release_id="rel_check", native_sidecars=True))
    iid = req.instance_id
    steps, units = Steps(iid, events), UnitEvents(iid, events)
    created = False
    try:
        async with steps.guard(), session._client() as client:
            existing: Instance | None = None
            with contextlib.suppress(InstanceNotFound):
                existing = await session._load(client, iid)
            if existing is not None:
                units.seed(await session._pods(client, iid))
                inst, eps = await _converge(session, client, existing, steps, units)
            else:
                if any(s.secrets for s in req.services):
                    await steps.enter("resolve-secrets")
                try:
                    values = await session._secret_values(req)
                except CtrlplaneError as exc:
                    raise ProvisionFailed(iid, "resolve-secrets", str(exc)) from exc
                native = await session._native_sidecars(client)
                created = True
                inst, eps = await _provision(
                    session, client, req, values, native=native, steps=steps, units=units
                )
    except BaseException as exc:
        if created:
            await _clean_up_after(session, iid, exc, steps.current)
        raise
    return ProvisionResult(
        provider_ref=base_name(iid),
        service_refs={s.name: f"{base_name(iid)}/{s.name}" for s in inst.req.services},
        endpoints=eps,
        metadata=metadata(session, inst),
    )


async def _provision(
    session: ClusterSession,
    client: AsyncClient,
    req: ProvisionRequest,
    values: dict[str, bytes],
    *,
    native: bool,
    steps: Steps,
    units: UnitEvents,
) -> tuple[Instance, list[Endpoint]]:
    """The cluster part of :meth:`provision` for a new instance (steps ``apply`` and
    ``start``): apply the objects of ``req`` as its first release and wait."""
    release_id = new_id(RELEASE_PREFIX)
    manifests = session._render(
        req,
        release_id=release_id,
        native=native,
        releases=[new_release(release_id, req.services)],
        secret_values=values,
    )
    kinds = ", ".join(f"{m['kind']} {m['metadata']['name']}" for m in manifests)
    await steps.enter("apply", kinds)
    await session._apply(client, manifests, f"provision {req.instance_id}")
    return await _converge(
        session, client, await session._load(client, req.instance_id), steps, units
    )


async def _converge(
    session: ClusterSession, client: AsyncClient, inst: Instance, steps: Steps, units: UnitEvents
) -> tuple[Instance, list[Endpoint]]:
    """Step ``start``: wait (``provision_timeout``) until the pods of ``inst``'s live
    release are ready; ``ProvisionFailed`` names the failed step."""
    iid = inst.req.instance_id
    await steps.enter("start", f"{inst.replicas} replica{'s' if inst.replicas != 1 else ''}")
    try:
        await session._wait_live(
            client,
            inst,
            limit=session.config.provision_timeout.total_seconds(),
            what=f"provision of {iid}",
            on_pods=units.observe,
        )
    except RolloutFailed as failed:
        raise ProvisionFailed(iid, failed.step, failed.reason) from None
    except OperationTimeout as exc:
        raise ProvisionFailed(iid, "ready", str(exc)) from None
    inst = await session._load(client, iid)
    eps = await service_endpoints(session, client, inst.req, await session._pods(client, iid))
    await steps.finish()
    return inst, eps


async def _clean_up_after(
    session: ClusterSession, iid: str, exc: BaseException, step: str
) -> NoReturn:
    """Delete what a failed or cancelled provision of a new instance created and wait
    until it is gone (to the end, even if cancelled again), then raise: ``exc``, or a
    cancellation if one arrived meanwhile; a failed cleanup is appended to the reason
    (``ProvisionFailed``, also made from another error) or noted on a cancellation."""
    problem, again = await run_to_end(_cleanup(session, iid))
    note = f"cleanup also failed, objects may be left (run deprovision): {problem}"
    if isinstance(exc, asyncio.CancelledError) or again:
        cancel = exc if isinstance(exc, asyncio.CancelledError) else asyncio.CancelledError()
        if problem:
            cancel.add_note(note)
        raise cancel
    if not problem:
        raise exc
    if isinstance(exc, ProvisionFailed):
        raise ProvisionFailed(iid, exc.step, f"{exc.reason}; {note}") from None
    raise ProvisionFailed(iid, step or "apply", f"{exc}; {note}") from exc


async def _cleanup(session: ClusterSession, instance_id: str) -> str:
    """Delete every object of the instance and wait until gone; '' or why it failed."""
    try:
        await delete_all(session, instance_id, wait=True)
    except CtrlplaneError as exc:
        return str(exc)
    return ""


async def delete_all(session: ClusterSession, instance_id: str, *, wait: bool) -> None:
    """Delete every object of the instance (PVCs unless ``keep_volumes``); with ``wait``,
    until they are gone (``OperationTimeout`` after ``deprovision_timeout``)."""
    ns = session.config.namespace
    labels: dict[str, Any] = {LABEL_INSTANCE: instance_id}
    async with session._client() as client:
        kinds: list[Any] = list(_CLEANUP_KINDS)
        if not session.config.keep_volumes:
            kinds.append(PersistentVolumeClaim)
        for kind in kinds:
            with translated(f"list {kind.__name__} of {instance_id}"):
                names = [
                    o.metadata.name async for o in client.list(kind, namespace=ns, labels=labels)
                ]
            for name in names:
                await session._delete(client, kind, name, cascade=CascadeType.BACKGROUND)
        if not wait:
            return
        timeout = session.config.deprovision_timeout.total_seconds()
        deadline = time.monotonic() + timeout
        while await _leftovers(session, client, instance_id):
            if time.monotonic() >= deadline:
                raise OperationTimeout(
                    f"deprovision of {instance_id}", timeout, detail="objects remain"
                )
            await asyncio.sleep(session.config.poll_interval.total_seconds())


async def _leftovers(session: ClusterSession, client: AsyncClient, instance_id: str) -> list[str]:
    """What of the instance is still there, as ``Kind/name``."""
    ns = session.config.namespace
    labels: dict[str, Any] = {LABEL_INSTANCE: instance_id}
    kinds: list[Any] = [*_CLEANUP_KINDS, Pod]
    if not session.config.keep_volumes:
        kinds.append(PersistentVolumeClaim)
    found: list[str] = []
    for kind in kinds:
        with translated(f"list {kind.__name__} of {instance_id}"):
            found += [
                f"{kind.__name__}/{o.metadata.name}"
                async for o in client.list(kind, namespace=ns, labels=labels)
            ]
    return found
