"""ECS-specific behaviour of the provider on the fake AWS: where secrets go, the stores,
refusals with reasons, gates and their evidence, history pruning, sizes, stop/start,
errors, listing, units, the lease and the repair of an interrupted operation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    DeployFailed,
    InvalidSpec,
    NotSupported,
    PermissionDenied,
    ProvisionFailed,
    ReleaseNotFound,
)
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.ecs import EcsConfig, EcsProvider
from ctrlplane.provider.ecs.client import AwsApi, AwsSession
from ctrlplane.provider.ecs.leases import DynamoLeaseStore
from ctrlplane.provider.enums import InstanceState, SecretType, ServiceRole
from ctrlplane.provider.events import ProbeObserved, ProgressEvent, RolledBack
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.spec import (
    ConfigFile,
    DeployRequest,
    ExecRequest,
    HealthCheckSpec,
    PortSpec,
    ProvisionRequest,
    ResourceSpec,
    SecretRef,
    ServiceDeploySpec,
    ServiceSpec,
)
from ctrlplane.secrets import MappingResolver
from ctrlplane.testing.leases import take_over

from .fakes import eventually, running_fake
from .harness import CLUSTER, LEASE_TABLE, EcsHarness

TOKEN = "tok-5b1e-0c9f7a2d4e81"
PASSWORD = "pw-77d0-4c1b-a9e3f2"


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[EcsHarness]:
    async with running_fake() as h:
        yield h


def _request(*services: ServiceSpec) -> ProvisionRequest:
    return ProvisionRequest(
        instance_id=new_id(INSTANCE_PREFIX), tenant_id="t1", name="shop", services=list(services)
    )


def _checked_web(h: EcsHarness, message: str = "v1") -> ServiceSpec:
    check = HealthCheckSpec(path="/healthz", port=8080, interval=timedelta(seconds=5), retries=2)
    return h.http_service("web", port=8080, env={"MESSAGE": message}).model_copy(
        update={"health_check": check}
    )


def _running_process(h: EcsHarness, iid: str, container: str) -> Any:
    for task in h.aws.tasks_of(CLUSTER, f"ctrlplane-{iid}"):
        if task.last_status == "RUNNING":
            run = task.run(container)
            if run.process is not None and run.process.running:
                return run.process
    return None


async def test_secrets_are_stored_and_read_by_the_task_never_written_elsewhere(
    harness: EcsHarness,
) -> None:
    h = harness
    resolver = MappingResolver({"api-token": TOKEN, "db/password": PASSWORD})
    provider = EcsProvider(h.config(), secrets=resolver)
    cfg = ConfigFile(name="app", path="/etc/app/config.json", format="json", content='{"a": 1}')
    app = h.idle_service("app").model_copy(
        update={
            "secrets": [
                SecretRef(key="api-token"),
                SecretRef(key="db/password", type=SecretType.FILE),
            ],
            "config_files": [cfg],
        }
    )
    req = _request(app)
    await provider.provision(req)
    iid = req.instance_id
    stored = {name: h.aws.secrets.value(name) for name in h.aws.secrets.names()}
    assert stored == {
        f"ctrlplane/{iid}/app/api-token": TOKEN,
        f"ctrlplane/{iid}/app/db/password": PASSWORD,
    }
    process = _running_process(h, iid, "app")
    assert process.env["API_TOKEN"] == TOKEN
    assert process.files.read("/run/secrets/db/password") == PASSWORD.encode()
    assert process.files.read("/etc/app/config.json") == b'{"a": 1}'
    text = await h.backend_text(iid)
    assert TOKEN not in text
    assert PASSWORD not in text
    sent = json.dumps([c.body for c in h.aws.door.calls if c.service != "secretsmanager"])
    assert TOKEN not in sent
    assert PASSWORD not in sent
    await provider.deprovision(iid)
    assert h.aws.secrets.names() == []


async def test_the_ssm_store_and_registry_logins(harness: EcsHarness) -> None:
    h = harness
    resolver = MappingResolver({"api-token": TOKEN, "pull": "robot:s3cr3t-pull"})
    provider = EcsProvider(h.config(secret_store="ssm"), secrets=resolver)
    app = h.idle_service("app").model_copy(
        update={
            "secrets": [SecretRef(key="api-token"), SecretRef(key="pull", type=SecretType.REGISTRY)]
        }
    )
    req = _request(app)
    await provider.provision(req)
    iid = req.instance_id
    assert h.aws.parameters.value(f"/ctrlplane/{iid}/app/api-token") == TOKEN
    login = json.loads(str(h.aws.secrets.value(f"ctrlplane/{iid}/app/pull")))
    assert login == {"username": "robot", "password": "s3cr3t-pull"}
    definition = next(d for d in h.aws.state.definitions.values() if d.family == f"ctrlplane-{iid}")
    container = definition.container("app")
    assert container["secrets"][0]["valueFrom"] == (
        f"arn:aws:ssm:us-east-1:123456789012:parameter/ctrlplane/{iid}/app/api-token"
    )
    assert container["repositoryCredentials"]["credentialsParameter"].startswith(
        f"arn:aws:secretsmanager:us-east-1:123456789012:secret:ctrlplane/{iid}/app/pull-"
    )
    assert _running_process(h, iid, "app").env["API_TOKEN"] == TOKEN
    await provider.deprovision(iid)
    assert (h.aws.parameters.names(), h.aws.secrets.names()) == ([], [])


async def test_exec_and_resources_without_insights_are_refused_with_reasons() -> None:
    async with running_fake() as h:
        h.aws.state.clusters[CLUSTER].insights = "disabled"
        provider = h.make_provider()
        req = _request(h.idle_service("app"))
        await provider.provision(req)
        with pytest.raises(NotSupported, match="Container Insights"):
            await provider.resources(req.instance_id)
        with pytest.raises(NotSupported, match="exit code is never reported"):
            await provider.exec(req.instance_id, ExecRequest(command=["true"]))
        await provider.deprovision(req.instance_id)


async def test_a_failed_rolling_gate_restores_the_revision_and_carries_evidence(
    harness: EcsHarness,
) -> None:
    h = harness
    provider = h.make_provider()
    req = _request(_checked_web(h))
    await provider.provision(req)
    iid = req.instance_id
    before = next(iter(h.aws.state.services.values())).task_definition
    seen: list[ProgressEvent] = []
    bad = ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "bad", "HEALTHY": "0"})
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(DeployRequest(instance_id=iid, services=[bad]), events=seen.append)
    failure = caught.value
    assert failure.rolled_back
    assert any(not e.healthy for e in failure.evidence)
    assert (
        "UNHEALTHY" in " ".join(str(e) for e in failure.evidence)
        or "health check" in failure.reason
    )
    assert any(isinstance(e, RolledBack) for e in seen)
    assert any(isinstance(e, ProbeObserved) for e in seen)
    service = h.aws.state.services[(CLUSTER, f"ctrlplane-{iid}")]
    assert service.task_definition == before
    revisions = [d for d in h.aws.state.definitions.values() if d.family == f"ctrlplane-{iid}"]
    assert [d.status for d in revisions if d.arn != before] in ([], ["DELETE_IN_PROGRESS"])
    await provider.deprovision(iid)


async def test_a_crashing_new_version_fails_the_rolling_deploy_naming_the_service(
    harness: EcsHarness,
) -> None:
    h = harness
    provider = h.make_provider()
    req = _request(h.http_service("web", port=8080))
    await provider.provision(req)
    crash = ServiceDeploySpec(
        name="web", image=h.image(2), env={"CRASH_AFTER": "0", "CRASH_PRINT": "MESSAGE"}
    )
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(DeployRequest(instance_id=req.instance_id, services=[crash]))
    assert "web exited with code 3" in caught.value.reason
    assert (await provider.status(req.instance_id)).state == InstanceState.RUNNING
    await provider.deprovision(req.instance_id)


async def test_history_is_pruned_to_the_configured_depth(harness: EcsHarness) -> None:
    h = harness
    provider = EcsProvider(h.config(release_history=3))
    req = _request(h.http_service("web", port=8080))
    await provider.provision(req)
    iid = req.instance_id
    first = (await provider.releases(iid))[0].release_id
    for n in range(3):
        await provider.deploy(
            DeployRequest(
                instance_id=iid,
                services=[ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": str(n)})],
            )
        )
    history = await provider.releases(iid)
    assert len(history) == 3
    assert first not in [r.release_id for r in history]
    active = [
        d
        for d in h.aws.state.definitions.values()
        if d.family == f"ctrlplane-{iid}" and d.status == "ACTIVE"
    ]
    assert len(active) == 3
    with pytest.raises(ReleaseNotFound):
        await provider.rollback(iid, first)
    await provider.deprovision(iid)


async def test_resizing_registers_a_revision_of_the_same_release(harness: EcsHarness) -> None:
    h = harness
    provider = h.make_provider()
    req = _request(h.idle_service("app"))
    await provider.provision(req)
    iid = req.instance_id
    live = (await provider.releases(iid))[0].release_id
    await provider.scale(iid, ResourceSpec(memory_mb=64, cpu_millis=250, replicas=2))
    history = await provider.releases(iid)
    assert [r.release_id for r in history] == [live]
    assert history[0].specs[0].resources.memory_mb == 64
    service = h.aws.state.services[(CLUSTER, f"ctrlplane-{iid}")]
    container = h.aws.state.definitions[service.task_definition].container("app")
    assert (container["memory"], container["cpu"], service.desired) == (64, 256, 2)
    usage = await eventually(lambda: provider.resources(iid), "usage")
    assert usage.memory_limit_mb == 128
    await provider.deprovision(iid)


async def test_stop_remembers_the_desired_count(harness: EcsHarness) -> None:
    h = harness
    provider = h.make_provider()
    req = _request(h.idle_service("app").model_copy(update={"resources": ResourceSpec(replicas=2)}))
    await provider.provision(req)
    iid = req.instance_id
    await provider.stop(iid)
    service = h.aws.state.services[(CLUSTER, f"ctrlplane-{iid}")]
    assert service.desired == 0
    assert {t["key"]: t["value"] for t in service.tags}["ctrlplane:replicas"] == "2"
    status = await provider.status(iid)
    assert (status.state, status.ready) == (InstanceState.STOPPED, False)
    await provider.start(iid)
    assert service.desired == 2
    assert len(await h.running(iid)) == 2
    await provider.deprovision(iid)


async def test_errors_are_translated_and_name_what_to_fix(
    harness: EcsHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    iid = new_id(INSTANCE_PREFIX)
    with monkeypatch.context() as patched:
        patched.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-key-000000000000000000000")
        denied = EcsProvider(h.config(max_attempts=1, connect_timeout="1.5s"))
        with pytest.raises(PermissionDenied, match="InvalidSignatureException"):
            await denied.status(iid)
    closed = EcsProvider(
        h.config(endpoint_url="http://127.0.0.1:9", max_attempts=1, connect_timeout="1s")
    )
    with pytest.raises(BackendUnavailable):
        await closed.status(iid)
    health = await closed.health_check()
    assert not health.healthy
    nowhere = EcsProvider(h.config(cluster="nowhere"))
    with pytest.raises(ProvisionFailed, match="ECS cluster 'nowhere' does not exist"):
        await nowhere.provision(_request(h.idle_service("app")))
    no_table = EcsProvider(h.config(lease_table="missing"))
    with pytest.raises(BackendError, match="DynamoDB table 'missing' of the operation leases"):
        await no_table.deprovision(iid)
    health = await no_table.health_check()
    assert not health.healthy
    assert "lease table 'missing' does not exist" in health.message
    assert (await h.make_provider().health_check()).healthy
    req = _request(h.idle_service("app"))
    await h.make_provider().provision(req)
    status = await no_table.status(req.instance_id)
    assert status.state == InstanceState.RUNNING
    assert status.metadata["operation"].startswith("unknown: the DynamoDB table 'missing'")
    await h.make_provider().deprovision(req.instance_id)


async def test_failing_init_names_the_init_and_quotes_its_last_lines(harness: EcsHarness) -> None:
    h = harness
    init = h.exit_service("migrate", code=3, lines=["starting", "migration failed"]).model_copy(
        update={"role": ServiceRole.INIT}
    )
    req = _request(h.idle_service("app"), init)
    with pytest.raises(ProvisionFailed) as caught:
        await h.make_provider().provision(req)
    assert caught.value.step == "init migrate"
    assert "exited with code 3" in caught.value.reason
    assert "migration failed" in caught.value.reason
    assert await h.leftovers(req.instance_id) == []


async def test_a_lease_lost_while_a_failed_provision_cleans_up_reports_the_failure(
    harness: EcsHarness,
) -> None:
    """The provision fails (an init exits 3), its cleanup hangs on the API, and another
    holder takes the lease meanwhile: the error is the provision's own failure, with a
    note on the lost lease, not a ``LeaseLost`` that hides where it stopped."""
    h = harness
    provider = type(h.make_provider())(h.config(lease_ttl=0.6, request_timeout=2))
    init = h.exit_service("migrate", code=3, lines=["migration failed"]).model_copy(
        update={"role": ServiceRole.INIT}
    )
    req = _request(h.idle_service("app"), init)
    iid = req.instance_id
    door = h.aws.door
    door.holding.add(("ecs", "DeregisterTaskDefinition"))
    task = asyncio.create_task(provider.provision(req))
    async with asyncio.timeout(30):
        while not door.held:  # noqa: ASYNC110 - the fake has no event for it
            await asyncio.sleep(0.05)
    config = h.config()
    store = DynamoLeaseStore(LEASE_TABLE, lambda: AwsApi(config, AwsSession(config)))
    now = datetime.now(UTC)
    taken = await take_over(store, iid, Lease("other-host/4242/abcd", "deploy", now, now, 30.0))
    with pytest.raises(ProvisionFailed) as caught:
        await asyncio.wait_for(task, 30)
    door.holding.clear()
    assert caught.value.step == "init migrate"
    assert any("lost its operation lease" in n for n in caught.value.__notes__)
    await store.delete(iid, taken)  # the other holder is done
    await provider.deprovision(iid)


async def test_instances_are_listed_and_their_units_shown(harness: EcsHarness) -> None:
    h = harness
    provider = h.make_provider()
    first = _request(h.idle_service("app"))
    other = _request(h.http_service("web", port=8080)).model_copy(update={"tenant_id": "t2"})
    await provider.provision(first)
    await provider.provision(other)
    listed = await provider.list_instances()
    assert [s.instance_id for s in listed] == [first.instance_id, other.instance_id]
    assert [s.instance_id for s in await provider.list_instances("t2")] == [other.instance_id]
    assert listed[0].state == InstanceState.RUNNING
    assert listed[0].name == "shop"
    units = await provider.units(other.instance_id)
    assert [(u.service, u.replica, u.state) for u in units] == [("web", 0, InstanceState.RUNNING)]
    assert units[0].ports
    assert units[0].release_id
    for req in (first, other):
        await provider.deprovision(req.instance_id)


async def test_the_lease_store_is_atomic_on_its_token(harness: EcsHarness) -> None:
    config = harness.config()
    session = AwsSession(config)
    store = DynamoLeaseStore(LEASE_TABLE, lambda: AwsApi(config, session))
    now = datetime.now(UTC)
    lease = Lease("me/1/a", "deploy", now, now, 30.0)
    created = await store.create("inst_x", lease)
    assert created is not None
    assert await store.create("inst_x", lease) is None
    assert await store.read("inst_x") == created
    renewed = await store.replace("inst_x", created, Lease("me/1/a", "deploy", now, now, 60.0))
    assert renewed is not None
    assert renewed.token != created.token
    assert await store.replace("inst_x", created, lease) is None  # a stale token
    await store.delete("inst_x", created)  # stale: left alone
    assert await store.read("inst_x") == renewed
    await store.delete("inst_x", renewed)
    assert await store.read("inst_x") is None


async def test_an_interrupted_deploy_is_repaired_by_the_next_operation(harness: EcsHarness) -> None:
    h = harness
    provider = h.make_provider()
    req = _request(h.http_service("web", port=8080, env={"MESSAGE": "v1"}))
    await provider.provision(req)
    iid = req.instance_id
    name = f"ctrlplane-{iid}"
    service = h.aws.state.services[(CLUSTER, name)]
    # A canary that died half way: the new service runs one task, the old one less.
    body = dict(service.request, serviceName=f"{name}-b", desiredCount=1)
    body["tags"] = [t for t in service.tags if t["key"] != "ctrlplane:role"] + [
        {"key": "ctrlplane:role", "value": "candidate"}
    ]
    h.aws.ecs.create_service(body)
    await eventually(
        lambda: len(
            [t for t in h.aws.tasks_of(CLUSTER, f"{name}-b") if t.last_status == "RUNNING"]
        ),
        "the half-deployed canary",
    )
    past = datetime.now(UTC) - timedelta(minutes=5)
    config = h.config()
    store = DynamoLeaseStore(LEASE_TABLE, lambda: AwsApi(config, AwsSession(config)))
    await store.create(
        iid, Lease("dead/1/x", "deploy", past, past, 30.0, {"phase": "canary deploy"})
    )
    status = await provider.status(iid)
    assert status.metadata["operation_state"] == "interrupted"
    assert "deploy interrupted" in status.message
    await provider.deploy(
        DeployRequest(
            instance_id=iid,
            services=[ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "v2"})],
        )
    )
    assert h.aws.state.services[(CLUSTER, f"{name}-b")].status in ("DRAINING", "INACTIVE")
    await eventually(lambda: h.running(iid), "the instance to run")
    assert {u.image for u in await h.running(iid)} == {h.image(2)}
    await provider.deprovision(iid)


def test_config_reads_aws_and_ctrlplane_variables() -> None:
    config = EcsConfig.from_env(
        {
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_PROFILE": "ops",
            "CTRLPLANE_ECS_SUBNETS": "subnet-1, subnet-2",
            "CTRLPLANE_ECS_CANARY_OBSERVATION": "1m",
            "CTRLPLANE_ECS_TCP_CHECK_COMMAND": "bash -c true",
        }
    )
    assert (config.region, config.profile) == ("eu-west-1", "ops")
    assert config.subnets == ["subnet-1", "subnet-2"]
    assert config.canary_observation == timedelta(minutes=1)
    assert config.tcp_check_command == ["bash", "-c", "true"]
    schema = EcsConfig.model_json_schema()["properties"]
    assert all(field.get("description") for field in schema.values())


def test_render_needs_no_network() -> None:
    provider = EcsProvider(
        EcsConfig(
            region="eu-west-1",
            endpoint_url="http://127.0.0.1:9",
            subnets=["subnet-1"],
            execution_role_arn="arn:aws:iam::123456789012:role/r",
        )
    )
    objects = provider.render(_request(ServiceSpec(name="app", image="a:1")))
    assert [next(iter(o)) for o in objects] == ["RegisterTaskDefinition", "CreateService"]
    assert asyncio.iscoroutinefunction(provider.provision)


async def test_the_ec2_launch_type_and_capacity_providers(harness: EcsHarness) -> None:
    h = harness
    ec2 = EcsProvider(h.config(launch_type="EC2"))
    req = _request(h.idle_service("app"))
    with pytest.raises(ProvisionFailed, match="no container instance met all of its requirements"):
        await ec2.provision(req)
    assert await h.leftovers(req.instance_id) == []
    h.aws.state.clusters[CLUSTER].ec2_capacity = True
    await ec2.provision(req)
    task = next(t for t in h.aws.tasks_of(CLUSTER, f"ctrlplane-{req.instance_id}") if t.active)
    assert task.launch_type == "EC2"
    assert task.definition.body["requiresCompatibilities"] == ["EC2"]
    await ec2.deprovision(req.instance_id)
    spot = EcsProvider(h.config(capacity_provider="FARGATE_SPOT"))
    other = _request(h.idle_service("app"))
    await spot.provision(other)
    service = h.aws.state.services[(CLUSTER, f"ctrlplane-{other.instance_id}")]
    assert service.request["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1}
    ]
    assert "launchType" not in service.request
    await spot.deprovision(other.instance_id)


async def test_a_target_group_gates_deploys_and_its_load_balancer_is_the_endpoint(
    harness: EcsHarness,
) -> None:
    h = harness
    _, group = h.aws.elb.add(
        "shop", listener_port=80, target_port=8080, path="/healthz", interval=5
    )
    provider = EcsProvider(h.config(target_group_arn=group))
    assert "strategy:blue-green" not in provider.capabilities()
    req = _request(h.http_service("web", port=8080, env={"MESSAGE": "v1"}))
    await provider.provision(req)
    iid = req.instance_id
    status = await provider.status(iid)
    public = [e for e in status.endpoints if e.public]
    assert [(e.service_name, e.port) for e in public] == [("web", 80)]
    assert public[0].url.startswith("http://shop-")
    assert ".elb.amazonaws.com:80" in public[0].url
    assert await h.http_get(public, "/") == (200, b"v1")
    bad = ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "bad", "HEALTHY": "0"})
    with pytest.raises(DeployFailed) as caught:
        await provider.deploy(DeployRequest(instance_id=iid, services=[bad]))
    evidence = " ".join(str(e) for e in caught.value.evidence)
    assert "target group shop-tg" in evidence
    assert (
        "Health checks failed with these codes: [404]" in evidence
        or "Task failed ELB health checks" in evidence
    ), evidence
    assert caught.value.rolled_back
    assert await h.http_get(public, "/") == (200, b"v1")
    good = ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "v2"})
    await provider.deploy(DeployRequest(instance_id=iid, services=[good], strategy="canary"))

    async def serves_v2() -> bool:
        return await h.http_get(public, "/") == (200, b"v2")

    await eventually(serves_v2, "the load balancer to serve v2")
    with pytest.raises(NotSupported, match="blue-green"):
        await provider.deploy(
            DeployRequest(instance_id=iid, services=[good], strategy="blue-green")
        )
    await provider.deprovision(iid)
    assert await h.leftovers(iid) == []


def test_a_target_group_needs_the_main_service_port() -> None:
    config = EcsConfig(
        region="eu-west-1",
        subnets=["subnet-1"],
        execution_role_arn="arn:aws:iam::123456789012:role/r",
        target_group_arn="arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/x-tg/0123",
        load_balancer_port=9090,
    )
    web = ServiceSpec(name="web", image="w:1", ports=[])
    with pytest.raises(InvalidSpec) as caught:
        EcsProvider(config).render(_request(web))
    assert [p.path for p in caught.value.problems] == ["services[0].ports"]
    rendered = EcsProvider(config.model_copy(update={"load_balancer_port": 0})).render(
        _request(web.model_copy(update={"ports": [PortSpec(container=8080)]}))
    )
    assert rendered[1]["CreateService"]["loadBalancers"] == [
        {"targetGroupArn": config.target_group_arn, "containerName": "web", "containerPort": 8080}
    ]
