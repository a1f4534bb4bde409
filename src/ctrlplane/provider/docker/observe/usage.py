"""Engine stats samples -> :class:`ResourceUsage` (pure functions, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ctrlplane.provider.results import ResourceUsage

__all__ = ["cpu_percent", "memory_used", "sum_usage"]

_MB = 1024 * 1024


def cpu_percent(stats: Mapping[str, Any]) -> float:
    """CPU use between the sample's two readings; 100 is one full core."""
    cpu = stats.get("cpu_stats") or {}
    pre = stats.get("precpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage") or 0
    pre_total = (pre.get("cpu_usage") or {}).get("total_usage") or 0
    system = cpu.get("system_cpu_usage") or 0
    pre_system = pre.get("system_cpu_usage") or 0
    cpu_delta = total - pre_total
    system_delta = system - pre_system
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    return float(cpu_delta) / float(system_delta) * float(online or 1) * 100.0


def memory_used(stats: Mapping[str, Any]) -> int:
    """Bytes in use, page cache excluded (as ``docker stats`` shows it)."""
    mem = stats.get("memory_stats") or {}
    usage = int(mem.get("usage") or 0)
    detail = mem.get("stats") or {}
    cache = detail.get("total_inactive_file", detail.get("inactive_file", detail.get("cache", 0)))
    return max(usage - int(cache or 0), 0)


def sum_usage(
    samples: Sequence[tuple[Mapping[str, Any], int, bool]],
) -> ResourceUsage:
    """Sum over containers. Each sample: (stats, configured memory limit in bytes or 0,
    whether the container owns its network namespace: only owners count network I/O,
    since joined containers share the owner's interfaces)."""
    cpu = 0.0
    used = 0
    limit = 0
    rx = 0
    tx = 0
    for stats, configured, owns_net in samples:
        cpu += cpu_percent(stats)
        used += memory_used(stats)
        mem = stats.get("memory_stats") or {}
        limit += configured or int(mem.get("limit") or 0)
        if owns_net:
            for net in (stats.get("networks") or {}).values():
                rx += int(net.get("rx_bytes") or 0)
                tx += int(net.get("tx_bytes") or 0)
    return ResourceUsage(
        cpu_percent=round(cpu, 3),
        memory_used_mb=-(-used // _MB),  # rounded up: a running process uses some memory
        memory_limit_mb=limit // _MB,
        network_in_mb=round(rx / _MB, 6),
        network_out_mb=round(tx / _MB, 6),
    )
