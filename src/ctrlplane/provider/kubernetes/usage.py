"""``resources`` on the cluster: usage from the metrics API (``metrics.k8s.io``, served by
metrics-server), limits from the pod specs (the node's allocatable memory for containers
without one); the arithmetic is :mod:`.observe.usage`'s."""

from __future__ import annotations

from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.instances import load, pods
from ctrlplane.provider.kubernetes.observe.pods import replica_order
from ctrlplane.provider.kubernetes.observe.usage import (
    allocatable_memory,
    memory_limit,
    unlimited_nodes,
    usage,
)
from ctrlplane.provider.kubernetes.render.naming import instance_selector
from ctrlplane.provider.results import ResourceUsage

__all__ = ["resource_usage"]


async def resource_usage(ctx: Context, instance_id: str) -> ResourceUsage:
    """The body of :meth:`~.provider.KubernetesProvider.resources` (its contract)."""
    await load(ctx, instance_id)
    live = replica_order(await pods(ctx, instance_id))
    metrics = await ctx.cluster.pod_metrics(instance_selector(instance_id))
    node_memory = {
        node: allocatable_memory(await ctx.cluster.get("Node", node))
        for node in unlimited_nodes(live)
    }
    return usage(metrics, memory_limit(live, node_memory))
