"""Pure reading of resource usage: Kubernetes quantities as plain numbers, the memory the
pods may use (their limits, else their nodes' allocatable memory) and the usage the
metrics API reports, summed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import ResourceUsage

__all__ = ["allocatable_memory", "memory_limit", "parse_quantity", "unlimited_nodes", "usage"]

_UNITS = {
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
    "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3, "n": 1e-9, "u": 1e-6,
}  # fmt: skip


def parse_quantity(text: str) -> float:
    """A Kubernetes quantity as a plain number (bytes for memory, cores for CPU)."""
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _UNITS[suffix]
    return float(text)


def memory_limit(pods: Sequence[JSON], node_memory: Mapping[str, float]) -> float:
    """Bytes of memory the pods' containers may use: each container's limit, else the
    allocatable memory of its node (``node_memory``, by node name; 0 when unknown)."""
    limit = 0.0
    for pod in pods:
        for c in pod["spec"].get("containers") or []:
            mem = ((c.get("resources") or {}).get("limits") or {}).get("memory")
            if mem:
                limit += parse_quantity(mem)
            else:
                limit += node_memory.get(pod["spec"].get("nodeName", ""), 0.0)
    return limit


def unlimited_nodes(pods: Sequence[JSON]) -> list[str]:
    """The nodes whose allocatable memory :func:`memory_limit` needs: those running a
    container without a memory limit, in the order they are first met."""
    out: list[str] = []
    for pod in pods:
        for c in pod["spec"].get("containers") or []:
            mem = ((c.get("resources") or {}).get("limits") or {}).get("memory")
            node = pod["spec"].get("nodeName", "")
            if not mem and node and node not in out:
                out.append(node)
    return out


def allocatable_memory(node: JSON) -> float:
    """Bytes of memory the node offers to pods."""
    return parse_quantity(((node.get("status") or {}).get("allocatable") or {}).get("memory", "0"))


def usage(metrics: Sequence[JSON], limit: float) -> ResourceUsage:
    """Usage summed over the pods' ``PodMetrics`` (CPU in cores as a percentage of one
    core, memory in MiB rounded up) and the memory ``limit`` in bytes."""
    containers = [c for m in metrics for c in m.get("containers") or []]
    cpu = sum(parse_quantity(c["usage"]["cpu"]) for c in containers)
    mem = sum(parse_quantity(c["usage"]["memory"]) for c in containers)
    mib = 1024 * 1024
    return ResourceUsage(
        cpu_percent=cpu * 100.0,
        memory_used_mb=int(-(-mem // mib)),
        memory_limit_mb=int(limit // mib),
    )
