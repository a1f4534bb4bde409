"""Provisioning and deprovisioning an instance: its Variables and its job (I/O).

``provision`` is idempotent per instance ID, as on Docker: an existing *complete*
instance (one of its retained job versions became ``Stable``, i.e. a deployment of it
succeeded) is returned as it is, registering nothing even when the request differs; an
existing *partial* one (a provision that crashed or never became healthy) is replaced.
Otherwise it resolves the secrets (through the operation's resolver, which teaches the
operation's redactor every value), records its intent in the operation lease, writes
the secrets to Nomad Variables, registers the job (shaped for the agent:
:mod:`~ctrlplane.provider.nomad.render.shape`) and waits until its allocations are
healthy and stay up, within ``provision_timeout``. On failure, timeout or cancellation
the job (this call's version and any partial one it replaced) and its Variables are
purged (run to the end even if the caller is cancelled, within ``cleanup_timeout``), and
:class:`~ctrlplane.errors.ProvisionFailed` names the step and the failing task (and what
the cleanup left, if anything). An agent lost meanwhile raises
:class:`~ctrlplane.errors.BackendUnavailable` instead, with the same account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ctrlplane.errors import BackendUnavailable, CtrlplaneError, ProvisionFailed
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.deadlines import Deadline, cleanup_to_end, raise_failure
from ctrlplane.provider.enums import SecretType
from ctrlplane.provider.events import Subscriber, UnitStarted, emit
from ctrlplane.provider.failures import RolloutFailed, describe_failure
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.context import NomadContext, agent_version, shape_for
from ctrlplane.provider.nomad.inspection import instance_status
from ctrlplane.provider.nomad.limits import version_refusals
from ctrlplane.provider.nomad.observe.allocations import started_units
from ctrlplane.provider.nomad.observe.history import (
    created_at,
    release_meta,
    request_from_job,
    succeeded,
)
from ctrlplane.provider.nomad.render import (
    ReleaseMeta,
    job_id,
    secret_item,
    translate,
    variable_path,
)
from ctrlplane.provider.nomad.render.pull_auth import PASSWORD_ITEM, USERNAME_ITEM
from ctrlplane.provider.nomad.render.shape import JobShape
from ctrlplane.provider.nomad.waits import wait_version
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.results import ProvisionResult
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.registry_logins import parse_registry_secret
from ctrlplane.secrets import SecretResolver

__all__ = ["UnitReporter", "deprovision", "provision", "refuse_unsupported", "resolve_secrets"]


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


async def resolve_secrets(
    resolver: SecretResolver, req: ProvisionRequest
) -> dict[str, dict[str, str]]:
    """Variable items per task (``secret_<i>`` -> value; a registry secret as its
    username and password items). Values are never logged."""
    items: dict[str, dict[str, str]] = {}
    for svc in req.services:
        for i, ref in enumerate(svc.secrets):
            value = await resolver.resolve(
                ref, tenant_id=req.tenant_id, instance_id=req.instance_id
            )
            mine = items.setdefault(svc.name, {})
            if ref.type is SecretType.REGISTRY:
                login = parse_registry_secret(value, svc.image, ref.key)
                mine.update({USERNAME_ITEM: login.username, PASSWORD_ITEM: login.password})
            else:
                mine[secret_item(i)] = value.decode(errors="replace")
    return items


async def refuse_unsupported(ctx: NomadContext, req: ProvisionRequest) -> JobShape:
    """``NotSupported`` for what the agent cannot run of ``req`` (reads only, so it runs
    before anything is written, the operation lease included); else the job's shape."""
    shape = await shape_for(ctx, req)
    version = await agent_version(ctx)
    ctx.preflight.refuse(version_refusals(req, ctx.config, version, shape))
    return shape


async def provision(ctx: NomadContext, op: Operation, req: ProvisionRequest) -> ProvisionResult:
    """Provision ``req`` (see the module docs); the preflight already ran. Refuses what
    the agent's version cannot run before anything is written.

    ``op.events`` receives the steps ``resolve secrets`` (when there are secrets),
    ``write variables`` (when there are Variables), ``register job`` and ``wait for
    healthy allocations``, and a ``UnitStarted`` per task of every allocation this call
    placed.
    """
    iid = req.instance_id
    shape = await refuse_unsupported(ctx, req)
    existing = await jobs.find_job(ctx, iid)
    if existing is not None and any(succeeded(v) for v in await jobs.versions(ctx, iid)):
        return await _provisioned(ctx, request_from_job(existing))
    steps = op.steps
    try:
        async with steps.guard():
            if any(s.secrets for s in req.services):
                await steps.enter("resolve secrets")
            items = await resolve_secrets(op.secrets, req)
    except CtrlplaneError as exc:
        raise ProvisionFailed(iid, "resolve secrets", str(exc)) from exc
    await steps.finish()
    release = ReleaseMeta(new_id(RELEASE_PREFIX), datetime.now(UTC))
    if existing is not None and request_from_job(existing) == req:
        release = release_meta(existing)
    created = created_at(existing) if existing is not None else None
    job = translate(req, release, ctx.config, created=created, shape=shape)
    before = {str(a["ID"]) for a in await jobs.allocations(ctx, iid)}
    units = UnitReporter(iid, release.release_id, op.events, before)
    deadline = Deadline(ctx.config.provision_timeout, "provision")
    step = "write variables"
    try:
        async with deadline.timeout():
            await op.note(phase="provision", release_id=release.release_id)
            if items:
                await steps.enter(step)
            for task, values in items.items():
                await jobs.write_variable(ctx, variable_path(ctx.config, job_id(iid), task), values)
            step = "register job"
            await steps.enter(step, release.release_id)
            await jobs.register(ctx, job)
            step = "wait for healthy allocations"
            await steps.enter(step)
            await wait_version(
                ctx, iid, step, release=release.release_id, watch=units.observe, events=op.events
            )
            await steps.finish()
    except BaseException as exc:
        timed_out = isinstance(exc, TimeoutError)
        await steps.fail(describe_failure(deadline.exceeded() if timed_out else exc))
        # Nothing complete existed before (else we returned above): what is left is
        # this call's job or a partial one it replaced; neither may stay.
        left, interrupted = await cleanup_to_end(
            jobs.purge(ctx, iid),
            ctx.config.cleanup_timeout,
            f"purging job {job_id(iid)!r} and its Variables",
        )
        failure: BaseException = exc
        note = f" ({left})" if left else ""
        if isinstance(exc, BackendUnavailable):
            exc.message += f"; {left}" if left else "; nothing was left"
        elif timed_out:
            reason = f"timed out after {deadline.seconds:g}s"
            failure = ProvisionFailed(iid, step, reason + note)
        elif isinstance(exc, RolloutFailed):
            failure = ProvisionFailed(iid, exc.step, exc.reason + note)
        elif isinstance(exc, CtrlplaneError):
            failure = ProvisionFailed(iid, step, str(exc) + note)
            failure.__cause__ = exc
        raise_failure(failure, interrupted)
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
