"""Reading an instance (I/O): status, resources, release history, listing, units, health.

Status comes from ``DescribeServices`` (the live service, its deployments) and
``DescribeTasks`` of its current tasks, its recently stopped ones (restarts, failure
reasons) and the tasks of every serving service (endpoints): see
:mod:`~ctrlplane.provider.ecs.observe.status`. Resources come from Container Insights
(:mod:`~ctrlplane.provider.ecs.observe.usage`); a cluster without it is ``NotSupported``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from ctrlplane.errors import CtrlplaneError, NotSupported
from ctrlplane.provider.ecs import targets
from ctrlplane.provider.ecs.config import BACKEND
from ctrlplane.provider.ecs.context import EcsContext, cluster_facts, task_definition
from ctrlplane.provider.ecs.instances import current_tasks, require, stopped_tasks
from ctrlplane.provider.ecs.observe.history import history
from ctrlplane.provider.ecs.observe.instance import Instance
from ctrlplane.provider.ecs.observe.records import release_info
from ctrlplane.provider.ecs.observe.status import container_state, endpoints
from ctrlplane.provider.ecs.observe.status import instance_status as build_status
from ctrlplane.provider.ecs.observe.tasks import container, ordered, task_id
from ctrlplane.provider.ecs.observe.usage import memory_limit, performance_group, task_filter, usage
from ctrlplane.provider.ecs.render.names import (
    FILES_CONTAINER,
    TAG_INSTANCE,
    TAG_MANAGED,
    TAG_NAME,
    TAG_RELEASE,
    TAG_ROLE,
    TAG_TENANT,
    family,
)
from ctrlplane.provider.ecs.render.tags import as_map
from ctrlplane.provider.native import JSON
from ctrlplane.provider.releases import Release
from ctrlplane.provider.reporting import measured_health, replica_state
from ctrlplane.provider.results import (
    Endpoint,
    HealthStatus,
    InstanceStatus,
    InstanceSummary,
    ResourceUsage,
    UnitStatus,
)

__all__ = [
    "health",
    "instance_status",
    "list_instances",
    "releases",
    "resources",
    "status",
    "units",
]

INSIGHTS_WINDOW = timedelta(minutes=5)


async def instance_status(ctx: EcsContext, inst: Instance) -> InstanceStatus:
    """The status of ``inst`` (see the module docs)."""
    current = await current_tasks(ctx, inst.name)
    stopped = await stopped_tasks(ctx, inst.name)
    serving: list[JSON] = []
    for service in inst.serving():
        serving += (
            current
            if service is inst.live
            else await current_tasks(ctx, str(service["serviceName"]))
        )
    balanced = await load_balanced(ctx, inst)
    return build_status(inst, current, stopped, serving, balanced)


async def load_balanced(ctx: EcsContext, inst: Instance) -> list[Endpoint]:
    """The load balancer's endpoints of the instance's main service (read once per
    provider object); none without a target group."""
    if not ctx.config.target_group_arn:
        return []
    if ctx.facts.load_balanced is None:
        ctx.facts.load_balanced = await targets.endpoints(ctx, inst.request.main)
    return list(ctx.facts.load_balanced)


async def status(ctx: EcsContext, instance_id: str) -> InstanceStatus:
    return await instance_status(ctx, await require(ctx, instance_id))


async def releases(ctx: EcsContext, inst: Instance) -> list[Release]:
    """The retained releases of ``inst``, newest first (``live`` on the one it runs)."""
    definitions = []
    for arn in await ctx.api.task_definition_arns(family(ctx.config, inst.instance_id), "ACTIVE"):
        found = await task_definition(ctx, arn)
        if found is not None:
            definitions.append(found)
    return history(definitions, inst.definition_arn, ctx.config.release_history)


async def resources(ctx: EcsContext, instance_id: str) -> ResourceUsage:
    """Usage of the instance's current tasks from Container Insights (see the module
    docs); ``NotSupported`` when the cluster does not enable it."""
    inst = await require(ctx, instance_id)
    facts = await cluster_facts(ctx)
    if facts.insights not in ("enabled", "enhanced"):
        raise NotSupported(
            BACKEND,
            "resources",
            detail=(
                f"cluster {ctx.config.cluster!r} does not have CloudWatch Container Insights "
                "enabled (aws ecs update-cluster-settings --settings "
                "name=containerInsights,value=enabled)"
            ),
        )
    tasks = [t for t in await current_tasks(ctx, inst.name) if t.get("lastStatus") == "RUNNING"]
    limit = 0
    for task in tasks:
        definition = await task_definition(ctx, str(task.get("taskDefinitionArn")))
        limit += memory_limit(definition or inst.definition)
    since = int((datetime.now(UTC) - INSIGHTS_WINDOW).timestamp() * 1000)
    events = await ctx.api.filter_log_events(
        performance_group(facts.cluster_arn), task_filter(inst.name), since
    )
    found = usage(events, {task_id(t) for t in tasks}, limit)
    return found if found is not None else ResourceUsage(memory_limit_mb=limit)


async def list_instances(ctx: EcsContext, tenant_id: str | None) -> list[InstanceSummary]:
    """The instances of the configured cluster (of ``tenant_id``), oldest first: one
    tagging-API listing of our live services, then their details."""
    wanted = {TAG_MANAGED: "true", TAG_ROLE: "live"}
    if tenant_id is not None:
        wanted[TAG_TENANT] = tenant_id
    found = await ctx.api.tagged_services(wanted)
    cluster = ctx.config.cluster.rsplit("/", 1)[-1]
    names = [
        str(r["ResourceARN"]).rsplit("/", 1)[-1]
        for r in found
        if f"/{cluster}/" in str(r["ResourceARN"])
    ]
    out: list[InstanceSummary] = []
    for service in await ctx.api.describe_services(names):
        if service.get("status") != "ACTIVE":
            continue
        tags = as_map(service.get("tags"))
        desired, running = service.get("desiredCount"), service.get("runningCount")
        state = replica_state(int(desired or 0), int(running or 0))
        out.append(
            InstanceSummary(
                instance_id=tags.get(TAG_INSTANCE, ""),
                tenant_id=tags.get(TAG_TENANT, ""),
                name=tags.get(TAG_NAME, ""),
                state=state,
                release_id=tags.get(TAG_RELEASE, ""),
                created_at=service.get("createdAt"),
            )
        )
    out.sort(key=lambda s: s.created_at or datetime.min.replace(tzinfo=UTC))
    return out


async def units(ctx: EcsContext, instance_id: str) -> list[UnitStatus]:
    """One row per service per task of the live service and of a deploy's other service."""
    inst = await require(ctx, instance_id)
    req = inst.request
    order = [s.name for s in req.services]
    roles = {s.name: s.role for s in req.services}
    rows: list[UnitStatus] = []
    for service in [inst.live, *inst.others]:
        if service.get("status") != "ACTIVE":
            continue
        tasks = ordered(await current_tasks(ctx, str(service["serviceName"])))
        for replica, task in enumerate(tasks):
            definition = await task_definition(ctx, str(task.get("taskDefinitionArn")))
            release = release_info(definition).release_id if definition else ""
            for name in order:
                c = container(task, name)
                if c is None or name == FILES_CONTAINER:
                    continue
                state, ready = container_state(task, name, roles[name])
                mine = [e for e in endpoints(req, [task]) if e.service_name == name]
                rows.append(
                    UnitStatus(
                        service=name,
                        replica=replica,
                        release_id=release,
                        image=str(c.get("image", "")),
                        state=state,
                        ready=ready,
                        health=_health_word(c),
                        ports=mine,
                        started_at=task.get("startedAt"),
                        provider_ref=str(task.get("taskArn", "")),
                    )
                )
    rows.sort(key=lambda u: (order.index(u.service), u.replica))
    return rows


def _health_word(c: JSON) -> str:
    status = c.get("healthStatus")
    return {"HEALTHY": "healthy", "UNHEALTHY": "unhealthy", "UNKNOWN": "starting"}.get(
        str(status), ""
    )


async def health(ctx: EcsContext) -> HealthStatus:
    """Whether the cluster exists and answers, and the lease table exists; never raises."""
    began = time.monotonic()
    try:
        facts = await cluster_facts(ctx, refresh=True)
        table = await ctx.api.describe_table(ctx.config.lease_table)
        if table is None:
            message = (
                f"cluster {facts.cluster_arn} is active, but the lease table "
                f"{ctx.config.lease_table!r} does not exist (create it: docs/ecs.md)"
            )
            healthy = False
        else:
            message = (
                f"cluster {facts.cluster_arn} is active; lease table {ctx.config.lease_table!r}"
            )
            healthy = True
    except CtrlplaneError as exc:
        message, healthy = str(exc), False
    return measured_health(healthy, message, began)
