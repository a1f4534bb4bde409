"""The conformance harness of the ECS backend, on the in-repo fake AWS services.

Images are :class:`~ctrlplane.testing.FakeImage` behaviours (those of
:class:`~ctrlplane.testing.conformance.fake_harness.FakeHarness`, plus the busybox image
of the files init container); the fake ECS runs each task's containers as fake processes
and serves their ports on the task's own loopback address, so endpoints, logs (CloudWatch
Logs), health checks and the operation lease (DynamoDB) go through real HTTP.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.ecs import EcsConfig, EcsProvider
from ctrlplane.provider.results import Endpoint
from ctrlplane.secrets import SecretResolver
from ctrlplane.testing.conformance.fake_harness import FakeHarness
from ctrlplane.testing.conformance.harness import RunningUnit
from ctrlplane.testing.images import FakeImage

from .conftest import ACCESS_KEY, SECRET_KEY
from .fake_aws import ROLES, SECURITY_GROUPS, SUBNETS, FakeAws
from .fake_aws.ecs.views import definition_view, service_view, task_view

CLUSTER = "ctrlplane-test"
LEASE_TABLE = "ctrlplane-leases"
LOG_GROUP = "/ctrlplane/test"
FILES_IMAGE = "busybox:files"
TIME_SCALE = 0.05
EXECUTION_ROLE = f"arn:aws:iam::123456789012:role/{ROLES[0]}"
TASK_ROLE = f"arn:aws:iam::123456789012:role/{ROLES[1]}"


def make_fake(harness: FakeHarness, *, insights: str = "enabled", **options: Any) -> FakeAws:
    """A fake AWS for ``harness``'s images: the test cluster, the lease table."""
    harness.backend.add_image(FakeImage(name=FILES_IMAGE))
    fake = FakeAws(
        harness.backend,
        keys={ACCESS_KEY: SECRET_KEY},
        time_scale=TIME_SCALE,
        insights_period=0.3,
        **options,
    )
    fake.ecs.add_cluster(CLUSTER, insights=insights)
    fake.dynamodb.create_table(
        {
            "TableName": LEASE_TABLE,
            "KeySchema": [{"AttributeName": "instance_id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "instance_id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
    )
    return fake


def base_config(endpoint_url: str) -> dict[str, Any]:
    return {
        "region": "us-east-1",
        "endpoint_url": endpoint_url,
        "cluster": CLUSTER,
        "subnets": list(SUBNETS),
        "security_groups": list(SECURITY_GROUPS),
        "execution_role_arn": EXECUTION_ROLE,
        "task_role_arn": TASK_ROLE,
        "log_group": LOG_GROUP,
        "files_image": FILES_IMAGE,
        "lease_table": LEASE_TABLE,
        "poll_interval": "0.05s",
        "provision_timeout": "15s",
        "deploy_timeout": "15s",
        "connect_timeout": "2s",
        "request_timeout": "10s",
        "max_attempts": 2,
        "lease_ttl": "10s",
        "lock_wait": "25s",
        "canary_observation": "1.5s",
        "stop_timeout": "2s",
    }


class EcsHarness(FakeHarness):
    """Runs the suite against :class:`EcsProvider` on one fake AWS per test.

    ``capabilities`` narrows what the providers declare; ``config`` overrides settings.
    """

    timeout = 20.0
    poll_interval = 0.03
    probe_interval = 0.5  # ECS runs checks every 5 s at least; the fake runs them 20x faster
    probe_retries = 2
    log_tick = 0.15
    crash_delay = 0.5
    canary_observation = 1.5
    black_hole_limit = 4.0

    def __init__(self, capabilities: Iterable[Capability] | None = None, **config: Any) -> None:
        super().__init__(capabilities)
        self.aws = make_fake(self)
        self.overrides = config
        self._turn = itertools.count()

    async def setup(self) -> None:
        await self.aws.start()

    async def teardown(self) -> None:
        await self.aws.close()

    def config(self, **extra: Any) -> EcsConfig:
        values = base_config(self.aws.endpoint_url)
        values.update(self.overrides)
        values.update(extra)
        return EcsConfig.model_validate(values)

    def make_provider(self, *, secrets: SecretResolver | None = None) -> EcsProvider:
        return EcsProvider(self.config(), secrets=secrets, capabilities=self.capabilities)

    def black_hole_provider(self, address: str) -> EcsProvider:
        config = self.config(
            endpoint_url=f"http://{address}",
            connect_timeout="0.5s",
            request_timeout="0.5s",
            max_attempts=1,
            lock_wait="1s",
        )
        return EcsProvider(config, capabilities=self.capabilities)

    async def http_get(self, endpoints: Sequence[Endpoint], path: str = "/") -> tuple[int, bytes]:
        if not endpoints:
            raise OSError("no endpoint")
        endpoint = endpoints[next(self._turn) % len(endpoints)]
        url = httpx.URL(endpoint.url + path)
        if url.host.endswith(".elb.amazonaws.com"):  # the tests' DNS for the fake's balancers
            url = url.copy_with(host=self.aws.elb.address_of(url.host))
        async with httpx.AsyncClient(timeout=5.0) as client:
            try:
                resp = await client.get(url)
            except httpx.HTTPError as exc:
                raise OSError(str(exc)) from None
        return resp.status_code, resp.content

    def _names(self, instance_id: str) -> tuple[str, str]:
        base = f"ctrlplane-{instance_id}"
        return base, f"{base}-b"

    async def running(self, instance_id: str) -> list[RunningUnit]:
        units: list[RunningUnit] = []
        for name in self._names(instance_id):
            tasks = [
                t
                for t in self.aws.tasks_of(CLUSTER, name)
                if t.active and t.desired_status == "RUNNING"
            ]
            for replica, task in enumerate(tasks):
                for run in task.containers:
                    if (
                        run.last_status == "RUNNING"
                        and run.process is not None
                        and run.process.running
                    ):
                        units.append(RunningUnit(run.name, replica, str(run.definition["image"])))
        return units

    async def leftovers(self, instance_id: str) -> list[str]:
        found: list[str] = []
        state = self.aws.state
        for name in self._names(instance_id):
            service = state.services.get((CLUSTER, name))
            if service is not None and service.status != "INACTIVE":
                found.append(f"service {name} ({service.status})")
            found += [
                f"task {t.id} of {name} ({t.last_status})"
                for t in self.aws.tasks_of(CLUSTER, name)
                if t.active
            ]
        family = f"ctrlplane-{instance_id}"
        found += [
            f"task definition {d.family}:{d.revision} ({d.status})"
            for d in state.definitions.values()
            if d.family == family and d.status != "DELETE_IN_PROGRESS"
        ]
        found += [f"secret {n}" for n in self.aws.secrets.names() if f"/{instance_id}/" in n]
        found += [f"parameter {n}" for n in self.aws.parameters.names() if f"/{instance_id}/" in n]
        found += [
            f"log stream {s}" for s in self.aws.logs.stream_names(LOG_GROUP, f"{instance_id}/")
        ]
        table = self.aws.dynamodb.tables[LEASE_TABLE]
        found += [f"lease {k}" for k in table.items if instance_id in k]
        return found

    async def backend_text(self, instance_id: str) -> str:
        state = self.aws.state
        account = self.aws.account
        parts: list[str] = []
        for d in state.definitions.values():
            if d.family == f"ctrlplane-{instance_id}":
                parts.append(json.dumps(definition_view(d, account), default=str))
                parts.append(json.dumps(d.tags))
        for name in self._names(instance_id):
            service = state.services.get((CLUSTER, name))
            if service is not None:
                parts.append(
                    json.dumps(
                        service_view(service, state.service_tasks(service), tags=True), default=str
                    )
                )
            parts += [
                json.dumps(task_view(t, account, tags=True), default=str)
                for t in self.aws.tasks_of(CLUSTER, name)
            ]
        parts += [n for n in self.aws.secrets.names() if f"/{instance_id}/" in n]
        return "\n".join(parts)
