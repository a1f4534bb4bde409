"""A fake Elastic Load Balancing v2: application load balancers, their listeners and
target groups, with target health checks (the query protocol, see :mod:`.query`).

Load balancers and target groups are made by the test (:meth:`ElbV2.add`), as an
operator would; ECS registers a service's tasks as ``ip`` targets (:meth:`ElbV2.register`,
:meth:`ElbV2.deregister`). A target starts ``initial`` (``Elb.RegistrationInProgress``),
is probed every ``HealthCheckIntervalSeconds`` (scaled by the fake's clock) with
``GET <HealthCheckPath>`` on its port, and turns ``healthy`` after
``HealthyThresholdCount`` passes in a row (the ``Matcher`` codes), ``unhealthy``
after ``UnhealthyThresholdCount`` failures (``Target.ResponseCodeMismatch`` naming the
codes, or ``Target.FailedHealthChecks`` for a refused connection); a deregistered target
is ``draining`` (``Target.DeregistrationInProgress``) for the deregistration delay, then
gone. Each listener answers on the load balancer's own loopback address, forwarding to
the healthy targets in turn (503 when none is). Operations: ``DescribeLoadBalancers``,
``DescribeListeners``, ``DescribeTargetGroups``, ``DescribeTargetHealth``.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .account import Account, Clock
from .ecs.network import Addresses, Listener
from .errors import AwsError
from .wire import ServiceApi

__all__ = ["ElbV2", "Fetch"]

JSON = dict[str, Any]
Fetch = Callable[[str, int, str], "tuple[int, bytes] | None"]
"""GET ``path`` from ``ip``:``port`` inside the VPC; ``None`` when refused."""
DEREGISTRATION_SECONDS = 10.0


@dataclass
class _Target:
    ip: str
    port: int
    state: str = "initial"
    reason: str = "Elb.RegistrationInProgress"
    description: str = "Target registration is in progress"
    passes: int = 0
    fails: int = 0
    next_at: float = 0.0
    gone_at: float = 0.0


@dataclass
class _TargetGroup:
    name: str
    arn: str
    port: int
    path: str
    interval: int
    healthy: int
    unhealthy: int
    matcher: str
    target_type: str
    load_balancers: list[str] = field(default_factory=list)
    targets: dict[tuple[str, int], _Target] = field(default_factory=dict)


@dataclass
class _LoadBalancer:
    name: str
    arn: str
    dns: str
    scheme: str
    created: datetime
    address: str
    listeners: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Port -> (listener ARN, the target group it forwards to)."""
    servers: list[Listener] = field(default_factory=list)


def _matches(matcher: str, status: int) -> bool:
    for part in matcher.split(","):
        low, _, high = part.partition("-")
        if int(low) <= status <= int(high or low):
            return True
    return False


class ElbV2:
    """The fake service's state, its health checker and handlers (:attr:`api`)."""

    def __init__(self, account: Account, clock: Clock, addresses: Addresses, fetch: Fetch) -> None:
        self.account = account
        self.clock = clock
        self.addresses = addresses
        self.fetch = fetch
        self.load_balancers: dict[str, _LoadBalancer] = {}
        self.groups: dict[str, _TargetGroup] = {}
        self._turn = itertools.count()
        self._started = False
        self.api = ServiceApi(
            "elbv2",
            {
                "DescribeLoadBalancers": self.describe_load_balancers,
                "DescribeListeners": self.describe_listeners,
                "DescribeTargetGroups": self.describe_target_groups,
                "DescribeTargetHealth": self.describe_target_health,
            },
            validation_code="ValidationError",
        )

    # what the operator and ECS do

    def add(
        self,
        name: str,
        *,
        listener_port: int = 80,
        target_port: int = 8080,
        path: str = "/",
        interval: int = 30,
        healthy: int = 2,
        unhealthy: int = 2,
        matcher: str = "200",
        target_type: str = "ip",
        scheme: str = "internet-facing",
    ) -> tuple[str, str]:
        """A load balancer with one listener forwarding to a new target group; their ARNs."""
        suffix = "".join(random.choice("0123456789abcdef") for _ in range(16))
        lb_arn = self.account.arn("elasticloadbalancing", f"loadbalancer/app/{name}/{suffix}")
        tg_arn = self.account.arn("elasticloadbalancing", f"targetgroup/{name}-tg/{suffix}")
        dns = f"{name}-{random.randint(10**8, 10**9 - 1)}.{self.account.region}.elb.amazonaws.com"
        self.groups[tg_arn] = _TargetGroup(
            name=f"{name}-tg",
            arn=tg_arn,
            port=target_port,
            path=path,
            interval=interval,
            healthy=healthy,
            unhealthy=unhealthy,
            matcher=matcher,
            target_type=target_type,
            load_balancers=[lb_arn],
        )
        lb = _LoadBalancer(name, lb_arn, dns, scheme, self.clock.now(), self.addresses.take())
        lb.listeners[listener_port] = (
            self.account.arn("elasticloadbalancing", f"listener/app/{name}/{suffix}/{suffix[:8]}"),
            tg_arn,
        )
        self.load_balancers[lb_arn] = lb
        return lb_arn, tg_arn

    def group(self, arn: str) -> _TargetGroup | None:
        return self.groups.get(arn)

    def register(self, arn: str, ip: str, port: int) -> None:
        group = self.groups[arn]
        loop = asyncio.get_running_loop()
        group.targets[(ip, port)] = _Target(
            ip, port, next_at=loop.time() + self.clock.scaled(group.interval)
        )

    def deregister(self, arn: str, ip: str, port: int) -> None:
        target = self.groups[arn].targets.get((ip, port))
        if target is None or target.state == "draining":
            return
        target.state = "draining"
        target.reason = "Target.DeregistrationInProgress"
        target.description = "Target deregistration is in progress"
        target.gone_at = asyncio.get_running_loop().time() + self.clock.scaled(
            DEREGISTRATION_SECONDS
        )

    def state(self, arn: str, ip: str, port: int) -> str:
        target = self.groups[arn].targets.get((ip, port))
        return target.state if target is not None else "unused"

    def address_of(self, dns: str) -> str:
        """The loopback address a load balancer's DNS name stands for (the tests' DNS)."""
        for lb in self.load_balancers.values():
            if lb.dns == dns:
                return lb.address
        raise KeyError(dns)

    # health checks and listeners

    def tick(self) -> None:
        now = asyncio.get_running_loop().time()
        for group in self.groups.values():
            for key, target in list(group.targets.items()):
                if target.state == "draining":
                    if now >= target.gone_at:
                        del group.targets[key]
                    continue
                if now < target.next_at:
                    continue
                target.next_at = now + self.clock.scaled(group.interval)
                self._probe(group, target)

    def _probe(self, group: _TargetGroup, target: _Target) -> None:
        answer = self.fetch(target.ip, target.port, group.path)
        if answer is not None and _matches(group.matcher, answer[0]):
            target.passes, target.fails = target.passes + 1, 0
            if target.state != "healthy" and target.passes >= group.healthy:
                target.state, target.reason, target.description = "healthy", "", ""
            return
        target.fails, target.passes = target.fails + 1, 0
        if target.fails < group.unhealthy or target.state == "unhealthy":
            return
        target.state = "unhealthy"
        if answer is None:
            target.reason = "Target.FailedHealthChecks"
            target.description = "Health checks failed"
        else:
            target.reason = "Target.ResponseCodeMismatch"
            target.description = f"Health checks failed with these codes: [{answer[0]}]"

    async def serve(self) -> None:
        """Listen on every listener that does not yet (load balancers added after the
        fake started too)."""
        for lb in self.load_balancers.values():
            if lb.servers:
                continue
            for port, (_, tg) in lb.listeners.items():

                def answer(path: str, tg: str = tg) -> tuple[int, bytes]:
                    healthy = [t for t in self.groups[tg].targets.values() if t.state == "healthy"]
                    if not healthy:
                        return 503, b"no healthy target\n"
                    target = healthy[next(self._turn) % len(healthy)]
                    found = self.fetch(target.ip, target.port, path)
                    return found if found is not None else (502, b"bad gateway\n")

                server = Listener(lb.address, port, answer)
                if await server.open():
                    lb.servers.append(server)

    async def close(self) -> None:
        self._started = False
        for lb in self.load_balancers.values():
            for server in lb.servers:
                await server.close()
            lb.servers.clear()

    # handlers

    def _lb_view(self, lb: _LoadBalancer) -> JSON:
        return {
            "LoadBalancerArn": lb.arn,
            "DNSName": lb.dns,
            "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K",
            "CreatedTime": lb.created,
            "LoadBalancerName": lb.name,
            "Scheme": lb.scheme,
            "VpcId": "vpc-0c0ffee0c0ffee001",
            "State": {"Code": "active"},
            "Type": "application",
            "IpAddressType": "ipv4",
        }

    def describe_load_balancers(self, body: JSON) -> JSON:
        arns = body.get("LoadBalancerArns")
        names = body.get("Names")
        found = [
            lb
            for lb in self.load_balancers.values()
            if (arns is None or lb.arn in arns) and (names is None or lb.name in names)
        ]
        missing = [a for a in arns or [] if a not in self.load_balancers]
        if missing:
            raise AwsError(
                "LoadBalancerNotFound", f"One or more load balancers not found: {missing}"
            )
        return {"LoadBalancers": [self._lb_view(lb) for lb in found]}

    def describe_listeners(self, body: JSON) -> JSON:
        arn = body.get("LoadBalancerArn")
        if arn is not None and arn not in self.load_balancers:
            raise AwsError("LoadBalancerNotFound", "One or more load balancers not found")
        found = []
        for lb in self.load_balancers.values():
            if arn is not None and lb.arn != arn:
                continue
            for port, (listener, tg) in lb.listeners.items():
                found.append(
                    {
                        "ListenerArn": listener,
                        "LoadBalancerArn": lb.arn,
                        "Port": port,
                        "Protocol": "HTTP",
                        "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}],
                    }
                )
        return {"Listeners": found}

    def _group_view(self, g: _TargetGroup) -> JSON:
        return {
            "TargetGroupArn": g.arn,
            "TargetGroupName": g.name,
            "Protocol": "HTTP",
            "Port": g.port,
            "VpcId": "vpc-0c0ffee0c0ffee001",
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPort": "traffic-port",
            "HealthCheckEnabled": True,
            "HealthCheckIntervalSeconds": g.interval,
            "HealthCheckTimeoutSeconds": 5,
            "HealthyThresholdCount": g.healthy,
            "UnhealthyThresholdCount": g.unhealthy,
            "HealthCheckPath": g.path,
            "Matcher": {"HttpCode": g.matcher},
            "LoadBalancerArns": list(g.load_balancers),
            "TargetType": g.target_type,
            "ProtocolVersion": "HTTP1",
            "IpAddressType": "ipv4",
        }

    def describe_target_groups(self, body: JSON) -> JSON:
        arns = body.get("TargetGroupArns")
        missing = [a for a in arns or [] if a not in self.groups]
        if missing:
            raise AwsError("TargetGroupNotFound", f"One or more target groups not found: {missing}")
        lb = body.get("LoadBalancerArn")
        found = [
            g
            for g in self.groups.values()
            if (arns is None or g.arn in arns) and (lb is None or lb in g.load_balancers)
        ]
        return {"TargetGroups": [self._group_view(g) for g in found]}

    def describe_target_health(self, body: JSON) -> JSON:
        group = self.groups.get(body["TargetGroupArn"])
        if group is None:
            raise AwsError("TargetGroupNotFound", "One or more target groups not found")
        wanted = body.get("Targets")
        if wanted is None:
            keys = list(group.targets)
        else:
            keys = [(t["Id"], int(t.get("Port") or group.port)) for t in wanted]
        out = []
        for ip, port in keys:
            target = group.targets.get((ip, port))
            health: JSON
            if target is None:
                health = {
                    "State": "unused",
                    "Reason": "Target.NotRegistered",
                    "Description": "Target is not registered to the target group",
                }
            else:
                health = {"State": target.state}
                if target.reason:
                    health.update(Reason=target.reason, Description=target.description)
            out.append(
                {
                    "Target": {"Id": ip, "Port": port},
                    "HealthCheckPort": str(port),
                    "TargetHealth": health,
                }
            )
        return {"TargetHealthDescriptions": out}
