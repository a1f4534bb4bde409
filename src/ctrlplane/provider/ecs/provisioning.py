"""Provisioning and deprovisioning an instance (I/O).

``provision`` is idempotent per instance ID: an existing *complete* instance (its
service is tagged ``ready``: a provision of it finished) is returned as it is, whatever
the request says; an existing *partial* one (a provision that failed or was interrupted
half way) is removed first. Otherwise, within ``provision_timeout``, it checks the
cluster and the log group, resolves the secrets and stores them
(:mod:`~ctrlplane.provider.ecs.secrets`), registers the task definition, creates the
service and waits until its deployment completed (every task running, healthy). On
failure, timeout or cancellation everything of the instance is removed
(:mod:`~ctrlplane.provider.ecs.removal`, run to its end even if the caller is
cancelled) and :class:`~ctrlplane.errors.ProvisionFailed` names the step and the
failing service, with its last log lines (scrubbed of secret values by the operation).
"""

from __future__ import annotations

from datetime import UTC, datetime

from ctrlplane.errors import BackendError, CtrlplaneError, ProvisionFailed
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.deadlines import Deadline, cleanup_to_end, raise_failure
from ctrlplane.provider.ecs import secrets
from ctrlplane.provider.ecs.config import BACKEND
from ctrlplane.provider.ecs.context import EcsContext, cluster_facts
from ctrlplane.provider.ecs.inspection import instance_status
from ctrlplane.provider.ecs.instances import find, require
from ctrlplane.provider.ecs.logs import last_lines
from ctrlplane.provider.ecs.observe.instance import Instance
from ctrlplane.provider.ecs.removal import remove_instance
from ctrlplane.provider.ecs.render import ReleaseInfo, create_service, task_definition, task_size
from ctrlplane.provider.ecs.render.names import TAG_STATE, family
from ctrlplane.provider.ecs.render.tags import service_tags
from ctrlplane.provider.ecs.repair import repair
from ctrlplane.provider.ecs.targets import target_gate
from ctrlplane.provider.ecs.units import reporter
from ctrlplane.provider.ecs.waits import TaskFailed, settle
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.failures import RolloutFailed, describe_failure
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.results import ProvisionResult
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["deprovision", "provision", "provisioned"]


async def _explain(ctx: EcsContext, iid: str, exc: TaskFailed, inits: list[str]) -> tuple[str, str]:
    """The step and reason of a failed task, with its container's last lines."""
    name = exc.container
    step = f"init {name}" if name in inits else (f"start {name}" if name else exc.step)
    reason = exc.reason
    if name:
        lines = await last_lines(ctx, iid, name, exc.task)
        if lines:
            reason += f"; last lines: {lines}"
    return step, reason


async def provision(ctx: EcsContext, op: Operation, req: ProvisionRequest) -> ProvisionResult:
    """Provision ``req`` (see the module docs); the preflight already ran."""
    iid = req.instance_id
    try:
        await cluster_facts(ctx)
    except BackendError as exc:
        await op.steps.enter("check the cluster", ctx.config.cluster)
        await op.steps.fail(str(exc))
        raise ProvisionFailed(iid, "check the cluster", str(exc)) from None
    await repair(ctx, op)
    existing = await find(ctx, iid)
    if existing is not None and existing.ready:
        return await provisioned(ctx, existing)
    if existing is not None or await ctx.api.task_definition_arns(
        family(ctx.config, iid), "ACTIVE"
    ):
        await remove_instance(ctx, iid)
    cfg = ctx.config
    steps = op.steps
    inits = [s.name for s in req.services if s.role is ServiceRole.INIT]
    release = ReleaseInfo(new_id(RELEASE_PREFIX), datetime.now(UTC))
    await op.note(phase="provision", release_id=release.release_id)
    deadline = Deadline(cfg.provision_timeout, "provision")
    name = family(cfg, iid)
    replicas = max(req.main.resources.replicas, 1)
    step = "prepare logging"
    try:
        async with deadline.timeout():
            await steps.enter(step, cfg.log_group)
            if cfg.create_log_group:
                await ctx.api.ensure_log_group(cfg.log_group)
            elif not await ctx.api.log_group_exists(cfg.log_group):
                raise CtrlplaneError(
                    f"log group {cfg.log_group!r} does not exist (create it, or set "
                    "create_log_group)"
                )
            references: secrets.References = {}
            if any(s.secrets for s in req.services):
                step = "resolve secrets"
                await steps.enter(step)
                values = await secrets.resolve(op, req)
                step = "store secrets"
                await steps.enter(step, str(cfg.secret_store))
                references = await secrets.store(ctx, req, values)
            step = "register task definition"
            await steps.enter(step, name)
            body = task_definition(
                req,
                release,
                cfg,
                region=ctx.region,
                references=references,
                size=task_size(req.services, cfg),
            )
            definition = await ctx.api.register_task_definition(body)
            arn = str(definition["taskDefinitionArn"])
            step = "create service"
            await steps.enter(step, name)
            tags = service_tags(
                req,
                release.release_id,
                role="live",
                traffic=True,
                replicas=replicas,
                state="provisioning",
            )
            service = await ctx.api.create_service(
                create_service(
                    cfg, name=name, task_definition=arn, desired=replicas, tags=tags, main=req.main
                )
            )
            step = "wait for running tasks"
            await steps.enter(step, f"{replicas} of {name}")
            await settle(
                ctx,
                name,
                target=arn,
                step=step,
                inits=inits,
                targets=target_gate(ctx, req.main),
                on_started=reporter(iid, release.release_id, op.events),
            )
            await ctx.api.tag(str(service["serviceArn"]), {TAG_STATE: "ready"})
            await steps.finish()
    except BaseException as exc:
        timed_out = isinstance(exc, TimeoutError) and deadline.expired()
        reason = describe_failure(deadline.exceeded() if timed_out else exc)
        if isinstance(exc, TaskFailed):
            step, reason = await _explain(ctx, iid, exc, inits)
        elif isinstance(exc, RolloutFailed):
            step, reason = exc.step or step, exc.reason
        elif timed_out:
            reason = f"timed out after {deadline.seconds:g}s"
        await steps.fail(reason)
        left, interrupted = await cleanup_to_end(
            remove_instance(ctx, iid), cfg.deploy_timeout, "removing what the provision created"
        )
        if left:
            reason += f"; {left}"
        failure: BaseException = exc
        if isinstance(exc, CtrlplaneError | RolloutFailed | TimeoutError):
            failure = ProvisionFailed(iid, step, reason)
        raise_failure(failure, interrupted)
    return await provisioned(ctx, await require(ctx, iid))


async def provisioned(ctx: EcsContext, inst: Instance) -> ProvisionResult:
    """The result of a provision of ``inst`` (also of an existing one)."""
    status = await instance_status(ctx, inst)
    req = inst.request
    return ProvisionResult(
        provider_ref=inst.arn,
        service_refs={s.name: s.name for s in req.services},
        endpoints=status.endpoints,
        metadata={
            "backend": BACKEND,
            "cluster": ctx.config.cluster,
            "service": inst.name,
            "task_definition": inst.definition_arn,
            "release_id": inst.release.release_id,
        },
    )


async def deprovision(ctx: EcsContext, op: Operation, instance_id: str) -> None:
    """Remove everything of the instance. Idempotent (an unknown ID is a no-op)."""
    await op.note(phase="deprovision")
    await remove_instance(ctx, instance_id)
