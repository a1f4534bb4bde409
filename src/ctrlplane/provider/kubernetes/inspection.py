"""Reading instances back: ``status`` (assembled by the pure
:func:`~.observe.status.instance_status`), the endpoints (cluster DNS, plus node ports and
load balancers read from the Service and the nodes), ``units`` (one row per container of every
pod meant to run), ``list_instances`` (one summary per controller of the namespace) and
``releases`` (the history annotation).

``status`` also reports the instance's operation lease (:func:`~ctrlplane.provider.
operations.lease_metadata`: the operation running, or interrupted and what the next call
does about it, see :mod:`.repair`), and its texts are scrubbed of the values the
instance's own Secrets hold (a status message never quotes a secret, whatever a container
or the kubelet wrote)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.kubernetes.config import ServiceType
from ctrlplane.provider.kubernetes.context import Context, Settings
from ctrlplane.provider.kubernetes.instances import CONTROLLERS, load, pods
from ctrlplane.provider.kubernetes.observe.lease import describe
from ctrlplane.provider.kubernetes.observe.status import (
    endpoints,
    instance_status,
    public_addresses,
    summaries,
)
from ctrlplane.provider.kubernetes.observe.unit_rows import unit_rows
from ctrlplane.provider.kubernetes.render.naming import (
    LABEL_MANAGED_BY,
    LABEL_TENANT,
    MANAGER,
    base_name,
)
from ctrlplane.provider.kubernetes.secret_values import instance_secret_values
from ctrlplane.provider.native import JSON
from ctrlplane.provider.operations import interrupted_message, lease_metadata
from ctrlplane.provider.releases import Release
from ctrlplane.provider.reporting import measured_health
from ctrlplane.provider.results import (
    Endpoint,
    HealthStatus,
    InstanceStatus,
    InstanceSummary,
    UnitStatus,
)
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["health", "list_instances", "releases", "service_endpoints", "status", "units"]


async def status(ctx: Context, instance_id: str) -> InstanceStatus:
    """The body of :meth:`~.provider.KubernetesProvider.status`."""
    inst = await load(ctx, instance_id)
    found = await pods(ctx, instance_id)
    eps = await service_endpoints(ctx, inst.req, found)
    metadata = inst.metadata(ctx.config.namespace)
    lease = await ctx.settings.ops.current_lease(instance_id)
    result = instance_status(inst.req, inst.workload, found, eps, metadata)
    if lease is not None:
        extra = dict(lease_metadata(lease))
        update: dict[str, object] = {}
        if lease.expired():
            extra["operation_repair"] = describe(lease)
            message = interrupted_message(lease)
            update["message"] = f"{message}; {result.message}" if result.message else message
        update["metadata"] = {**result.metadata, **extra}
        result = result.model_copy(update=update)
    ctx.op.redactor.add(await instance_secret_values(ctx, inst.req))
    return ctx.op.redactor.status(result)


async def units(ctx: Context, instance_id: str) -> list[UnitStatus]:
    """The body of :meth:`~.provider.KubernetesProvider.units`: the controller read (the
    request, ``InstanceNotFound``) and one pod list by the instance's label selector,
    turned into rows by the pure :func:`~.observe.unit_rows.unit_rows`. A row's message
    quotes the kubelet: only then are the instance's Secrets read, to scrub their values."""
    inst = await load(ctx, instance_id)
    rows = unit_rows(inst.req, await pods(ctx, instance_id), datetime.now(UTC))
    if any(row.message for row in rows):
        ctx.op.redactor.add(await instance_secret_values(ctx, inst.req))
        rows = [r.model_copy(update={"message": ctx.op.redactor.text(r.message)}) for r in rows]
    return rows


async def list_instances(ctx: Context, tenant_id: str | None = None) -> list[InstanceSummary]:
    """The body of :meth:`~.provider.KubernetesProvider.list_instances` (its contract):
    one label-filtered list per controller kind."""
    labels = {LABEL_MANAGED_BY: MANAGER}
    if tenant_id is not None:
        labels[LABEL_TENANT] = tenant_id
    found: list[JSON] = []
    for kind in CONTROLLERS:
        found += await ctx.cluster.list_objects(kind, labels=labels)
    return summaries(found)


async def releases(ctx: Context, instance_id: str) -> list[Release]:
    """The body of :meth:`~.provider.KubernetesProvider.releases`."""
    return (await load(ctx, instance_id)).releases


async def service_endpoints(
    ctx: Context, req: ProvisionRequest, pods: Sequence[JSON]
) -> list[Endpoint]:
    """Cluster DNS endpoints, plus node-port and load-balancer ones for those Service types
    (from the Service and the nodes ``pods`` run on)."""
    config = ctx.config
    host = f"{base_name(req.instance_id)}.{config.namespace}.svc.{config.cluster_domain}"
    if config.service_type is ServiceType.CLUSTER_IP or not any(s.ports for s in req.services):
        return endpoints(req, host)
    service = await ctx.cluster.find("Service", base_name(req.instance_id))
    if service is None:
        return endpoints(req, host)
    nodes = [
        await ctx.cluster.get("Node", name)
        for name in sorted({str(p["spec"]["nodeName"]) for p in pods if p["spec"].get("nodeName")})
    ]
    return endpoints(req, host, public_addresses(service, nodes))


async def health(settings: Settings) -> HealthStatus:
    """The body of :meth:`~.provider.KubernetesProvider.health_check`: ``/version`` asked
    within ``request_timeout``; never raises (unhealthy with the reason)."""
    began = time.monotonic()
    limit = seconds(settings.config.request_timeout)
    try:
        async with asyncio.timeout(limit), settings.reading("", "health") as ctx:
            major, minor = await ctx.server_version()
        message, healthy = f"Kubernetes {major}.{minor}", True
    except TimeoutError:
        message, healthy = f"the API server did not answer within {limit:g}s", False
    except Exception as exc:
        message, healthy = str(exc), False
    return measured_health(healthy, message, began)
