"""``resources`` on the cluster: usage from the metrics API (``metrics.k8s.io``, served by
metrics-server), limits from the pod specs, Kubernetes quantities as plain numbers."""

from __future__ import annotations

from typing import Any, cast

from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Node

from ctrlplane.errors import NotSupported
from ctrlplane.provider.kubernetes.errors import BACKEND, translated
from ctrlplane.provider.kubernetes.observe.pods import replica_order
from ctrlplane.provider.kubernetes.observe.status import (
    allocatable_memory,
    memory_limit,
    unlimited_nodes,
    usage,
)
from ctrlplane.provider.kubernetes.render.naming import LABEL_INSTANCE
from ctrlplane.provider.kubernetes.session import ClusterSession
from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import ResourceUsage

__all__ = ["PodMetrics", "resource_usage"]

PodMetrics = create_namespaced_resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods")


async def resource_usage(session: ClusterSession, instance_id: str) -> ResourceUsage:
    """The body of :meth:`~.provider.KubernetesProvider.resources` (its contract)."""
    async with session._client() as client:
        await session._load(client, instance_id)
        pods = replica_order(await session._pods(client, instance_id))
        try:
            with translated("read pod metrics"):
                metrics: list[JSON] = [
                    cast(Any, m).to_dict()
                    async for m in client.list(
                        PodMetrics,
                        namespace=session.config.namespace,
                        labels={LABEL_INSTANCE: instance_id},
                    )
                ]
        except Exception as exc:
            cause = exc.__cause__ or exc
            if isinstance(cause, ApiError) and cause.status.code in (404, 503):
                raise NotSupported(
                    BACKEND,
                    "resources",
                    detail="the cluster serves no metrics API (metrics-server)",
                ) from None
            raise
        node_memory: dict[str, float] = {}
        for node in unlimited_nodes(pods):
            with translated(f"read node {node}"):
                obj = cast(JSON, cast(Any, await client.get(Node, node)).to_dict())
            node_memory[node] = allocatable_memory(obj)
    return usage(metrics, memory_limit(pods, node_memory))
