"""``provision`` on one engine: the steps that create an instance, and their errors.

The steps run in order (resolve secrets, pull images, remove a partial instance's
leftovers, create the network and volumes, start the replica units, check they stay up),
all within ``provision_timeout``. On a failure, timeout or cancellation everything the
call created is removed (the volumes that existed before are kept) and the error is
mapped to :class:`ProvisionFailed` naming the step. :func:`render_objects` shows the
engine objects the steps would create, without I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ctrlplane.errors import BackendUnavailable, CtrlplaneError, ProvisionFailed
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.provider.docker.materials import ServiceMaterials
from ctrlplane.provider.docker.session import Session
from ctrlplane.provider.docker.translate import Translator, Workload, check_docker
from ctrlplane.provider.docker.units import StepFailed, UnitRunner, first_error, uncancellable
from ctrlplane.provider.events import StepTracker, Subscriber
from ctrlplane.provider.results import ProvisionResult
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.provider.validation import validate_request

__all__ = ["FAILURE_LINGER", "provision_instance", "render_objects"]

JSON = dict[str, Any]


FAILURE_LINGER = 1.0
"""Seconds a failed provision keeps sweeping for objects whose creation was in flight."""


def _seconds(value: timedelta) -> float:
    return value / timedelta(seconds=1)


def _why(exc: BaseException, steps: StepTracker) -> str:
    """One line on why the open step ended badly (no secrets: engine and step errors
    are redacted where they are made)."""
    err = first_error(exc)
    if isinstance(err, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, TimeoutError) or isinstance(err, TimeoutError):
        return f"timed out in step {steps.current}"
    return str(err) or type(err).__name__


def render_objects(tr: Translator, req: ProvisionRequest) -> list[JSON]:
    """The network, named volumes and container create bodies of ``req``, in creation
    order (validated first; secrets not resolved). No I/O."""
    validate_request(req)
    replicas = max(req.main.resources.replicas, 1)
    check_docker(req.services, replicas)
    wl = Workload.from_request(req, "rel_" + "0" * 26)
    out: list[JSON] = [
        {"Kind": "network", "Body": tr.network_config(wl, "1970-01-01T00:00:00+00:00")}
    ]
    volumes = {v["Name"]: v for r in range(wl.replicas) for v in tr.volume_configs(wl, r)}
    out += [{"Kind": "volume", "Body": v} for v in volumes.values()]
    for replica in range(wl.replicas):
        for svc in wl.services:
            out.append(
                {
                    "Kind": "container",
                    "Name": tr.container_name(wl, replica, svc.name),
                    "Body": tr.container_config(wl, svc, replica),
                }
            )
    return out


async def provision_instance(
    ses: Session, req: ProvisionRequest, events: Subscriber | None
) -> ProvisionResult:
    """Create the (validated) instance of ``req`` and wait until its services run; an
    existing complete instance is returned as it is. Cleans up and raises
    :class:`ProvisionFailed` on failure (re-raises a cancellation after cleanup)."""
    iid = req.instance_id
    wl = Workload.from_request(req, new_id(RELEASE_PREFIX))
    existing = await ses.inspect_all(iid)
    if existing:
        current = ses.tr.workload_from_containers(existing)
        if _complete(ses, current, existing):
            return ses.result(current, existing)
    steps = StepTracker(iid, events)
    await steps.enter("resolve secrets")
    try:
        materials = await ses.materials(wl)
    except CtrlplaneError as exc:
        await steps.finish(ok=False, detail=str(exc))
        raise ProvisionFailed(iid, "resolve secrets", str(exc)) from exc
    filters = ses.tr.labels.instance_filter(iid)
    kept = {v["Name"] for v in await ses.engine.list_volumes(filters)}
    try:
        async with asyncio.timeout(_seconds(ses.config.provision_timeout)):
            await _provision_steps(ses, wl, materials, existing, steps)
    except BaseException as exc:
        await uncancellable(steps.finish(ok=False, detail=_why(exc, steps)))
        cleanup = ""
        try:
            await uncancellable(ses.purge(iid, kept, linger=FAILURE_LINGER))
        except CtrlplaneError as failed:
            cleanup = f"; cleanup also failed, objects may be left: {failed}"
        err = _provision_error(ses.config, iid, exc, steps)
        if cleanup and isinstance(err, ProvisionFailed):
            err = ProvisionFailed(iid, err.step, err.reason + cleanup)
        raise err from None
    await steps.finish()
    inspects = await ses.inspect_all(iid)
    return ses.result(wl, inspects)


def _complete(ses: Session, wl: Workload, inspects: Sequence[JSON]) -> bool:
    """Whether every container of every present unit exists."""
    names = {str(i.get("Name", "")).lstrip("/") for i in inspects}
    units = ses.units(inspects)
    expected = {ses.tr.container_name(wl, r, s.name) for r in units for s in wl.services}
    return names == expected and len(units) >= 1


def _provision_error(
    config: DockerConfig, iid: str, exc: BaseException, steps: StepTracker
) -> BaseException:
    err = first_error(exc)
    if isinstance(err, asyncio.CancelledError):
        return err
    if isinstance(exc, TimeoutError) or isinstance(err, TimeoutError):
        timeout = _seconds(config.provision_timeout)
        return ProvisionFailed(iid, steps.current, f"timed out after {timeout:g}s")
    if isinstance(err, StepFailed):
        return ProvisionFailed(iid, err.step, err.reason)
    if isinstance(err, BackendUnavailable):
        return err
    if isinstance(err, CtrlplaneError):
        return ProvisionFailed(iid, steps.current, str(err))
    return err


async def _provision_steps(
    ses: Session,
    wl: Workload,
    materials: Mapping[str, ServiceMaterials],
    existing: Sequence[JSON],
    steps: StepTracker,
) -> None:
    iid = wl.instance_id
    filters = ses.tr.labels.instance_filter(iid)
    await steps.enter("pull images")
    await ses.pull_images(wl.services, materials)
    if existing:
        await steps.enter("remove partial leftovers")
        await asyncio.gather(*(ses.engine.remove_container(i["Id"]) for i in existing))
    if not await ses.engine.list_networks(filters):
        await steps.enter("create network")
        created = datetime.now(UTC).isoformat()
        await ses.create_network(wl, created)
    await steps.enter("create volumes")
    await ses.ensure_volumes(wl, range(wl.replicas))
    await steps.enter("start replica units")
    runner = UnitRunner(ses.engine, ses.tr, wl, materials, events=steps.events)
    async with asyncio.TaskGroup() as tg:
        for replica in range(wl.replicas):
            tg.create_task(runner.bring_up(replica))
    await steps.enter("check services stay up")
    await ses.settle(runner, wl, range(wl.replicas))
    await steps.enter("record release")
    await ses.record(wl, wl.release_id, "")
