"""``FakeAws``: the strict fake of the AWS services the ECS backend uses, on real HTTP.

One object serves ECS, CloudWatch Logs, DynamoDB, Secrets Manager, SSM Parameter Store,
Elastic Load Balancing v2 and the Resource Groups Tagging API on one
``http://127.0.0.1:<port>`` endpoint (a client reaches it through aiobotocore's
``endpoint_url``), for one region and account, accepting the access keys it was given
(requests are signed, see :mod:`.sigv4`). Every request and answer is checked against
botocore's service models (:mod:`.shapes`, :mod:`.query`); the semantic rules and the
scheduler are ECS's (:mod:`.ecs`), load balancing ELB's (:mod:`.elbv2`).

Containers are fake processes (:mod:`ctrlplane.testing`): images are
:class:`~ctrlplane.testing.FakeImage` behaviours of the given
:class:`~ctrlplane.testing.FakeBackend`, commands run in the fake shell, and ports are
served on each task's own loopback address. ``time_scale`` shortens every simulated
duration (task start-up, health check intervals, stop steps); the scheduler runs every
``tick`` seconds; Container Insights writes every ``insights_period`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection

from ctrlplane.testing.backend import FakeBackend

from .account import Account, Clock
from .dynamodb import DynamoDb
from .ecs.api import EcsApi
from .ecs.insights import Insights
from .ecs.model import Task
from .ecs.scheduler import Scheduler
from .ecs.state import EcsState
from .ecs.tasks import Agent
from .elbv2 import ElbV2
from .logs import Logs
from .secretsmanager import SecretsManager
from .server import FrontDoor
from .ssm import ParameterStore
from .tagging import Tagging

__all__ = ["FakeAws"]

SUBNETS = ("subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002")
SECURITY_GROUPS = ("sg-0c0ffee0c0ffee001",)
ROLES = ("ecsTaskExecutionRole", "ctrlplane-task")


class FakeAws:
    """The fake services (see the module docs). ``keys`` maps access key IDs to secret
    keys; ``roles`` are the IAM role names that exist (an execution role outside them
    cannot be assumed)."""

    def __init__(
        self,
        backend: FakeBackend,
        *,
        keys: dict[str, str],
        account: Account | None = None,
        time_scale: float = 1.0,
        tick: float = 0.02,
        insights_period: float = 60.0,
        subnets: Collection[str] = SUBNETS,
        security_groups: Collection[str] = SECURITY_GROUPS,
        roles: Collection[str] = ROLES,
    ) -> None:
        self.backend = backend
        self.account = account or Account()
        self.clock = Clock(time_scale)
        self.tick = tick
        self.logs = Logs(self.account, self.clock)
        self.secrets = SecretsManager(self.account, self.clock)
        self.parameters = ParameterStore(self.account, self.clock)
        self.dynamodb = DynamoDb(self.account, self.clock)
        self.state = EcsState()
        self.agent = Agent(
            account=self.account,
            clock=self.clock,
            backend=backend,
            logs=self.logs,
            secrets=self.secrets,
            parameters=self.parameters,
            roles=roles,
        )
        self.elb = ElbV2(self.account, self.clock, self.agent.addresses, self._fetch)
        self.ecs = EcsApi(
            self.state,
            self.agent,
            self.account,
            self.clock,
            subnets=subnets,
            security_groups=security_groups,
            elb=self.elb,
        )
        self.scheduler = Scheduler(self.state, self.agent, self.clock, self.ecs.launch, self.elb)
        self.insights = Insights(self.state, self.logs, self.account, self.clock, insights_period)
        self.tagging = Tagging(self.state)
        self.door = FrontDoor(
            [
                self.ecs.api,
                self.logs.api,
                self.dynamodb.api,
                self.secrets.api,
                self.parameters.api,
                self.tagging.api,
                self.elb.api,
            ],
            keys=keys,
            region=self.account.region,
        )
        self._loop: asyncio.Task[None] | None = None
        self.paused = False
        """While set, the scheduler and the health checkers make no transition (for tests
        that look at a transitional state)."""

    @property
    def endpoint_url(self) -> str:
        return self.door.endpoint_url

    async def start(self) -> None:
        await self.door.start()
        await self.elb.serve()
        self._loop = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        await self.agent.close(list(self.state.tasks.values()))
        await self.elb.close()
        await self.door.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.paused:
                await asyncio.sleep(self.tick)
                continue
            await self.scheduler.tick()
            self.elb.tick()
            await self.elb.serve()
            if self.insights.due(loop.time()):
                self.insights.write()
            await asyncio.sleep(self.tick)

    def _fetch(self, ip: str, port: int, path: str) -> tuple[int, bytes] | None:
        """GET ``path`` on ``ip``:``port`` inside the VPC (a task's port); ``None`` if
        nothing answers there."""
        for task in self.state.tasks.values():
            if task.ip == ip and task.active:
                return self.agent.fetch(task, port, path)
        return None

    # looking inside, for tests

    def tasks_of(self, cluster: str, service: str) -> list[Task]:
        """Every task (stopped ones too) of a service, oldest first."""
        return sorted(
            (
                t
                for t in self.state.tasks.values()
                if t.cluster.name == cluster and t.service == service
            ),
            key=lambda t: t.created_at,
        )
