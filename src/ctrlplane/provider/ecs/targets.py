"""The load balancer of an instance, when a target group is configured (I/O): the target
health gate and the listeners' endpoints.

ECS registers the main service's tasks as ``ip`` targets of ``target_group_arn``; the
load balancer probes them with the target group's health check. :class:`TargetGate`
reads ``DescribeTargetHealth`` for a deployment's tasks: every state change is a probe
result; ``healthy`` passes, ``unhealthy`` fails the gate with the load balancer's reason
(``Target.ResponseCodeMismatch``: "Health checks failed with these codes: [404]"...).
:func:`endpoints` lists the load balancer's listeners that forward to the target group as
the main service's endpoints (public when the load balancer is internet-facing).
:func:`keep_evidence` is how this gate and the container health gate
(:class:`~.waits.HealthGate`) keep their probe results.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from ctrlplane.provider.ecs.context import EcsContext
from ctrlplane.provider.ecs.observe.tasks import task_ip
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import Endpoint
from ctrlplane.provider.rollouts import ProbeSink
from ctrlplane.provider.spec import ServiceSpec

__all__ = ["TargetGate", "endpoints", "keep_evidence", "target_gate", "target_port"]


def target_port(ctx: EcsContext, main: ServiceSpec) -> int:
    """The main service's port the target group reaches."""
    return ctx.config.load_balancer_port or (main.ports[0].container if main.ports else 0)


async def keep_evidence(
    result: ProbeResult, results: list[ProbeResult], on_probe: ProbeSink | None
) -> None:
    """Keep ``result`` in a gate's ``results`` (the evidence of its failure) and pass it
    to ``on_probe``."""
    results.append(result)
    if on_probe is not None:
        await on_probe(result)


class TargetGate:
    """Watches the target health of tasks of the main service ``main``."""

    def __init__(
        self, ctx: EcsContext, main: ServiceSpec, on_probe: ProbeSink | None = None
    ) -> None:
        self.ctx = ctx
        self.main = main
        self.group = ctx.config.target_group_arn
        self.port = target_port(ctx, main)
        self.on_probe = on_probe
        self.results: list[ProbeResult] = []
        self._seen: dict[str, str] = {}

    async def _record(self, replica: int, healthy: bool, observed: str) -> None:
        result = ProbeResult(
            service=self.main.name,
            replica=replica,
            kind="http",
            target=f"target group {self.group.rsplit('/', 2)[-2]}",
            attempt=len(self.results) + 1,
            healthy=healthy,
            observed=observed,
            at=datetime.now(UTC),
        )
        await keep_evidence(result, self.results, self.on_probe)

    async def stopped(self, task: JSON, replica: int) -> None:
        """Record that ECS stopped ``task`` (e.g. for failed load balancer health checks)."""
        await self._record(
            replica, False, f"task stopped: {task.get('stoppedReason') or 'stopped'}"
        )

    async def observe(self, tasks: Sequence[tuple[int, JSON]]) -> bool:
        """Record the target health of ``tasks`` (replica, task); true when every one is
        ``healthy``; ``RolloutFailed`` when one is ``unhealthy``."""
        addresses = {task_ip(t): r for r, t in tasks if task_ip(t)}
        if not addresses:
            return False
        found = await self.ctx.api.target_health(self.group, [(ip, self.port) for ip in addresses])
        passed = len(found) == len(addresses)
        for description in found:
            ip = str((description.get("Target") or {}).get("Id", ""))
            health = description.get("TargetHealth") or {}
            state = str(health.get("State", "unknown"))
            detail = str(health.get("Description") or health.get("Reason") or "")
            replica = addresses.get(ip, 0)
            if self._seen.get(ip) != state:
                self._seen[ip] = state
                observed = f"target health: {state}" + (f" ({detail})" if detail else "")
                await self._record(replica, state == "healthy", observed)
            if state == "unhealthy":
                raise RolloutFailed(
                    f"target health of {self.main.name} (replica {replica})",
                    f"the load balancer reports the task unhealthy: {detail or state}",
                    self.results,
                )
            passed = passed and state == "healthy"
        return passed


def target_gate(
    ctx: EcsContext, main: ServiceSpec, on_probe: ProbeSink | None = None
) -> TargetGate | None:
    """A :class:`TargetGate` when a target group is configured, else ``None``."""
    return TargetGate(ctx, main, on_probe) if ctx.config.target_group_arn else None


async def endpoints(ctx: EcsContext, main: ServiceSpec) -> list[Endpoint]:
    """The listeners of the target group's load balancers that forward to it."""
    group = await ctx.api.target_group(ctx.config.target_group_arn)
    arns = list(group.get("LoadBalancerArns") or [])
    out: list[Endpoint] = []
    for lb in await ctx.api.load_balancers(arns) if arns else []:
        public = lb.get("Scheme") == "internet-facing"
        for listener in await ctx.api.listeners(str(lb["LoadBalancerArn"])):
            targets = {
                str(a.get("TargetGroupArn"))
                for a in listener.get("DefaultActions") or []
                if a.get("Type") == "forward"
            }
            if ctx.config.target_group_arn not in targets:
                continue
            scheme = "https" if listener.get("Protocol") == "HTTPS" else "http"
            port = int(listener.get("Port") or 0)
            out.append(
                Endpoint(
                    service_name=main.name,
                    url=f"{scheme}://{lb['DNSName']}:{port}",
                    port=port,
                    protocol="tcp",
                    public=public,
                )
            )
    return out
