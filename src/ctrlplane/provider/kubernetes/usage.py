"""``resources`` on the cluster: usage from the metrics API (``metrics.k8s.io``, served by
metrics-server), limits from the pod specs, Kubernetes quantities as plain numbers."""

from __future__ import annotations

from typing import Any, cast

from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Node

from ctrlplane.errors import NotSupported
from ctrlplane.provider.kubernetes.errors import BACKEND, translated
from ctrlplane.provider.kubernetes.podstate import replica_order
from ctrlplane.provider.kubernetes.render.naming import LABEL_INSTANCE
from ctrlplane.provider.kubernetes.session import ClusterSession
from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import ResourceUsage

__all__ = ["PodMetrics", "resource_usage"]

PodMetrics = create_namespaced_resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods")


def _parse_quantity(text: str) -> float:
    """A Kubernetes quantity as a plain number (bytes for memory, cores for CPU)."""
    units = {
        "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
        "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3, "n": 1e-9, "u": 1e-6,
    }  # fmt: skip
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)


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
        limit = 0.0
        for pod in pods:
            for c in pod["spec"].get("containers") or []:
                mem = ((c.get("resources") or {}).get("limits") or {}).get("memory")
                if mem:
                    limit += _parse_quantity(mem)
                    continue
                node = pod["spec"].get("nodeName", "")
                if node and node not in node_memory:
                    with translated(f"read node {node}"):
                        obj = cast(JSON, cast(Any, await client.get(Node, node)).to_dict())
                    alloc = ((obj.get("status") or {}).get("allocatable") or {}).get("memory", "0")
                    node_memory[node] = _parse_quantity(alloc)
                limit += node_memory.get(node, 0.0)
    cpu = sum(
        _parse_quantity(c["usage"]["cpu"]) for m in metrics for c in m.get("containers") or []
    )
    mem = sum(
        _parse_quantity(c["usage"]["memory"]) for m in metrics for c in m.get("containers") or []
    )
    mib = 1024 * 1024
    return ResourceUsage(
        cpu_percent=cpu * 100.0,
        memory_used_mb=int(-(-mem // mib)),
        memory_limit_mb=int(limit // mib),
    )
