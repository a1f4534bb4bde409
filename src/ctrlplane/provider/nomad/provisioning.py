"""Provisioning and deprovisioning an instance: its Variables and its job (I/O).

``provision`` is idempotent per instance ID, as on Docker: an existing *complete*
instance (one of its retained job versions became ``Stable``, i.e. a deployment of it
succeeded) is returned as it is, registering nothing even when the request differs; an
existing *partial* one (a provision that crashed or never became healthy) is replaced.
Otherwise it resolves the secrets, writes them to Nomad Variables, registers the job and
waits until its allocations are healthy, within ``provision_timeout``. On failure,
timeout or cancellation the job (this call's version and any partial one it replaced)
and its Variables are purged (run to the end even if the caller is cancelled), and
:class:`~ctrlplane.errors.ProvisionFailed` names the step and the failing task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ctrlplane.errors import CtrlplaneError, ProvisionFailed, SecretNotFound
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.deadlines import Deadline, finish
from ctrlplane.provider.enums import SecretType
from ctrlplane.provider.events import StepTracker, Subscriber, UnitStarted, emit
from ctrlplane.provider.failures import RolloutFailed, describe_failure
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.context import NomadContext, agent_version
from ctrlplane.provider.nomad.inspection import instance_status
from ctrlplane.provider.nomad.limits import version_refusals
from ctrlplane.provider.nomad.observe.allocations import started_units
from ctrlplane.provider.nomad.observe.history import created_at, release_meta, request_from_job
from ctrlplane.provider.nomad.render import (
    ReleaseMeta,
    job_id,
    secret_item,
    translate,
    variable_path,
)
from ctrlplane.provider.nomad.render.pull_auth import PASSWORD_ITEM, USERNAME_ITEM
from ctrlplane.provider.nomad.waits import wait_version
from ctrlplane.provider.results import ProvisionResult
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.registry_logins import parse_registry_secret

__all__ = ["UnitReporter", "deprovision", "provision", "resolve_secrets"]


class UnitReporter:
    """Reports ``UnitStarted`` for tasks of allocations created after it was made."""

    def __init__(
        self, instance_id: str, release_id: str, events: Subscriber | None, existing: set[str]
    ) -> None:
        self.instance_id = instance_id
        self.release_id = release_id
        self.events = events
        self.existing = existing
        self.seen: set[tuple[str, str]] = set()

    async def observe(self, allocs: Iterable[Mapping[str, Any]]) -> None:
        """Report the tasks of ``allocs`` that started since the last call."""
        if self.events is None:
            return
        for _, task, replica in started_units(allocs, self.existing, self.seen):
            started = UnitStarted(
                instance_id=self.instance_id,
                service=task,
                replica=replica,
                release_id=self.release_id,
            )
            await emit(self.events, started)


async def resolve_secrets(ctx: NomadContext, req: ProvisionRequest) -> dict[str, dict[str, str]]:
    """Variable items per task (``secret_<i>`` -> value; a registry secret as its
    username and password items). Values are never logged."""
    items: dict[str, dict[str, str]] = {}
    for svc in req.services:
        for i, ref in enumerate(svc.secrets):
            if ctx.secrets is None:
                raise SecretNotFound(ref.key, looked_in="nothing: the provider has no resolver")
            value = await ctx.secrets.resolve(
                ref, tenant_id=req.tenant_id, instance_id=req.instance_id
            )
            mine = items.setdefault(svc.name, {})
            if ref.type is SecretType.REGISTRY:
                login = parse_registry_secret(value, svc.image, ref.key)
                mine.update({USERNAME_ITEM: login.username, PASSWORD_ITEM: login.password})
            else:
                mine[secret_item(i)] = value.decode(errors="replace")
    return items


async def provision(
    ctx: NomadContext, req: ProvisionRequest, events: Subscriber | None = None
) -> ProvisionResult:
    """Provision ``req`` (see the module docs); the preflight already ran. Refuses what
    the agent's version cannot run before anything is written.

    ``events`` receives the steps ``resolve secrets`` (when there are secrets), ``write
    variables`` (when there are Variables), ``register job`` and ``wait for healthy
    allocations``, and a ``UnitStarted`` per task of every allocation this call placed.
    """
    iid = req.instance_id
    ctx.preflight.refuse(version_refusals(req, ctx.config, await agent_version(ctx)))
    existing = await jobs.find_job(ctx, iid)
    if existing is not None and any(v.get("Stable") for v in await jobs.versions(ctx, iid)):
        return await _provisioned(ctx, request_from_job(existing))
    steps = StepTracker(iid, events)
    try:
        async with steps.guard():
            if any(s.secrets for s in req.services):
                await steps.enter("resolve secrets")
            items = await resolve_secrets(ctx, req)
    except CtrlplaneError as exc:
        raise ProvisionFailed(iid, "resolve secrets", str(exc)) from exc
    await steps.finish()
    release = ReleaseMeta(new_id(RELEASE_PREFIX), datetime.now(UTC))
    if existing is not None and request_from_job(existing) == req:
        release = release_meta(existing)
    created = created_at(existing) if existing is not None else None
    job = translate(req, release, ctx.config, created=created)
    before = {str(a["ID"]) for a in await jobs.allocations(ctx, iid)}
    units = UnitReporter(iid, release.release_id, events, before)
    deadline = Deadline(ctx.config.provision_timeout, "provision")
    step = "write variables"
    try:
        async with deadline.timeout():
            if items:
                await steps.enter(step)
            for task, values in items.items():
                await jobs.write_variable(ctx, variable_path(ctx.config, job_id(iid), task), values)
            step = "register job"
            await steps.enter(step, release.release_id)
            await jobs.register(ctx, job)
            step = "wait for healthy allocations"
            await steps.enter(step)
            await wait_version(ctx, iid, step, release=release.release_id, watch=units.observe)
            await steps.finish()
    except BaseException as exc:
        timed_out = isinstance(exc, TimeoutError)
        await steps.fail(describe_failure(deadline.exceeded() if timed_out else exc))
        # Nothing complete existed before (else we returned above): what is left is
        # this call's job or a partial one it replaced; neither may stay.
        await finish(jobs.purge(ctx, iid))
        if isinstance(exc, asyncio.CancelledError):
            raise
        if timed_out:
            raise ProvisionFailed(iid, step, f"timed out after {deadline.seconds:g}s") from None
        if isinstance(exc, RolloutFailed):
            raise ProvisionFailed(iid, exc.step, exc.reason) from None
        if isinstance(exc, CtrlplaneError):
            raise ProvisionFailed(iid, step, str(exc)) from exc
        raise
    return await _provisioned(ctx, req)


async def _provisioned(ctx: NomadContext, req: ProvisionRequest) -> ProvisionResult:
    iid = req.instance_id
    status = await instance_status(ctx, iid)
    return ProvisionResult(
        provider_ref=job_id(iid),
        service_refs={s.name: s.name for s in req.services},
        endpoints=status.endpoints,
        metadata={"job_id": job_id(iid), "namespace": ctx.config.namespace},
    )


async def deprovision(ctx: NomadContext, instance_id: str) -> None:
    """Purge the job (its allocations stop) and delete its Variables. Idempotent."""
    await jobs.purge(ctx, instance_id)
