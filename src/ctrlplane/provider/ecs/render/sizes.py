"""Task and container sizes (pure): ``cpu_millis``/``memory_mb`` to ECS units, and the
task size, checked against Fargate's valid combinations before any call.

A service's ``cpu_millis`` becomes its container's ``cpu`` (1000 millis = 1024 units,
rounded up) and its ``memory_mb`` the container's hard ``memory`` limit; services without
them share the task's. The task size is the configured ``task_cpu``/``task_memory``, or
the smallest Fargate size that holds the sums of the containers' (at least 0.25 vCPU and
512 MiB). On Fargate the pair must be one Fargate offers; on EC2 the sums are used as
they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ctrlplane.provider.ecs.config import EcsConfig, LaunchType
from ctrlplane.provider.spec import ServiceSpec

__all__ = ["TaskSize", "container_cpu", "fargate_memories", "task_size"]

_FARGATE_CPUS = (256, 512, 1024, 2048, 4096, 8192, 16384)


def fargate_memories(cpu: int) -> list[int]:
    """The task memory values (MiB) Fargate offers with ``cpu`` units (Linux)."""
    if cpu == 256:
        return [512, 1024, 2048]
    steps = {
        512: (1, 4, 1),
        1024: (2, 8, 1),
        2048: (4, 16, 1),
        4096: (8, 30, 1),
        8192: (16, 60, 4),
        16384: (32, 120, 8),
    }
    if cpu not in steps:
        return []
    low, high, step = steps[cpu]
    return [gib * 1024 for gib in range(low, high + 1, step)]


def container_cpu(millis: int) -> int:
    """CPU units of ``millis`` (0 stays 0: no reservation)."""
    return math.ceil(millis * 1024 / 1000) if millis > 0 else 0


@dataclass(frozen=True)
class TaskSize:
    """A task's ``cpu`` units and ``memory`` MiB, or ``problem`` saying why none fits."""

    cpu: int = 0
    memory: int = 0
    problem: str = ""


def task_size(services: Sequence[ServiceSpec], cfg: EcsConfig) -> TaskSize:
    """The task size for ``services`` (see the module docs)."""
    need_cpu = sum(container_cpu(s.resources.cpu_millis) for s in services)
    need_memory = sum(s.resources.memory_mb for s in services)
    fargate = cfg.launch_type is LaunchType.FARGATE or bool(cfg.capacity_provider)
    if cfg.task_cpu or cfg.task_memory:
        cpu, memory = cfg.task_cpu or max(need_cpu, 256), cfg.task_memory or max(need_memory, 512)
        if fargate and memory not in fargate_memories(cpu):
            return TaskSize(
                problem=(
                    f"task_cpu {cpu} with task_memory {memory} MiB is not a Fargate task size "
                    f"(with {cpu} units Fargate offers {_offers(cpu)})"
                )
            )
        if need_cpu > cpu or need_memory > memory:
            return TaskSize(
                problem=(
                    f"the services need {need_cpu} CPU units and {need_memory} MiB, more than the "
                    f"configured task size ({cpu} units, {memory} MiB)"
                )
            )
        return TaskSize(cpu, memory)
    want_cpu, want_memory = max(need_cpu, 256), max(need_memory, 512)
    if not fargate:
        return TaskSize(want_cpu, want_memory)
    for cpu in _FARGATE_CPUS:
        if cpu < want_cpu:
            continue
        fits = [m for m in fargate_memories(cpu) if m >= want_memory]
        if fits:
            return TaskSize(cpu, fits[0])
    return TaskSize(
        problem=(
            f"the services need {need_cpu} CPU units and {need_memory} MiB together; the largest "
            "Fargate task has 16384 units (16 vCPU) and 122880 MiB"
        )
    )


def _offers(cpu: int) -> str:
    memories = fargate_memories(cpu)
    if not memories:
        return "nothing: Fargate's CPU sizes are " + ", ".join(str(c) for c in _FARGATE_CPUS)
    return f"{memories[0]} to {memories[-1]} MiB"
