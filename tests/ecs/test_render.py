"""Pure translation: specs to ECS requests (checked against botocore's models and ECS's
rules), refusals, and reading ECS's answers back. No server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ctrlplane.errors import InvalidSpec, NotSupported
from ctrlplane.provider.ecs import EcsConfig, EcsProvider
from ctrlplane.provider.ecs.observe.history import history, surplus
from ctrlplane.provider.ecs.observe.records import release_info, request_of
from ctrlplane.provider.ecs.observe.status import container_state, endpoints, restarts
from ctrlplane.provider.ecs.observe.usage import memory_limit, usage
from ctrlplane.provider.ecs.render import ReleaseInfo, task_definition, task_size
from ctrlplane.provider.ecs.render.sizes import fargate_memories
from ctrlplane.provider.enums import InstanceState, SecretType, ServiceRole, WorkloadKind
from ctrlplane.provider.spec import (
    ConfigFile,
    HealthCheckSpec,
    PortSpec,
    ProvisionRequest,
    ResourceSpec,
    SecretRef,
    ServiceSpec,
)

from .fake_aws.ecs.rules import FARGATE_SIZES, check_task_definition
from .fake_aws.shapes import input_problems
from .fake_aws.wire import load_model
from .harness import EXECUTION_ROLE

IID = "inst_01jd0000000000000000000001"
RELEASE = ReleaseInfo("rel_01jd0000000000000000000001", datetime(2026, 1, 1, tzinfo=UTC))
JSON = dict[str, Any]


def _config(**extra: Any) -> EcsConfig:
    values: JSON = {
        "region": "eu-west-1",
        "cluster": "apps",
        "subnets": ["subnet-0a1b2c3d4e5f60001"],
        "security_groups": ["sg-0c0ffee0c0ffee001"],
        "execution_role_arn": EXECUTION_ROLE,
        "endpoint_url": "http://127.0.0.1:9",  # nothing listens: render must not call it
    }
    values.update(extra)
    return EcsConfig.model_validate(values)


def _request(*services: ServiceSpec, **extra: Any) -> ProvisionRequest:
    return ProvisionRequest(
        instance_id=IID, tenant_id="t1", name="shop", services=list(services), **extra
    )


def _web(**extra: Any) -> ServiceSpec:
    fields: JSON = {
        "name": "web",
        "image": "shop/web:1",
        "command": ["sh", "-c"],
        "args": ["httpd -f -p 8080"],
        "env": {"B": "2", "A": "1"},
        "ports": [PortSpec(container=8080)],
    }
    fields.update(extra)
    return ServiceSpec(**fields)


def _render(req: ProvisionRequest, cfg: EcsConfig | None = None) -> list[JSON]:
    return EcsProvider(cfg or _config()).render(req)


def _containers(rendered: list[JSON]) -> dict[str, JSON]:
    body = rendered[0]["RegisterTaskDefinition"]
    return {c["name"]: c for c in body["containerDefinitions"]}


def _valid(rendered: list[JSON]) -> None:
    """The requests pass botocore's model and ECS's rules (as the fake checks them)."""
    ecs = load_model("ecs")
    register = rendered[0]["RegisterTaskDefinition"]
    assert input_problems(ecs.operation_model("RegisterTaskDefinition").input_shape, register) == []
    check_task_definition(register)
    create = rendered[1]["CreateService"]
    assert input_problems(ecs.operation_model("CreateService").input_shape, create) == []


def test_every_service_is_a_container_of_one_awsvpc_fargate_task() -> None:
    init_a = ServiceSpec(name="init-a", image="tools:1", role=ServiceRole.INIT)
    init_b = ServiceSpec(
        name="init-b", image="tools:1", role=ServiceRole.INIT, depends_on=["init-a"]
    )
    db = ServiceSpec(
        name="db",
        image="db:1",
        role=ServiceRole.SIDECAR,
        health_check=HealthCheckSpec(command=["pg_isready"]),
    )
    agent = ServiceSpec(name="agent", image="agent:1", role=ServiceRole.SIDECAR, depends_on=["web"])
    web = _web(depends_on=["db"], resources=ResourceSpec(replicas=3))
    rendered = _render(_request(agent, web, db, init_b, init_a))
    _valid(rendered)
    body = rendered[0]["RegisterTaskDefinition"]
    assert (body["networkMode"], body["requiresCompatibilities"]) == ("awsvpc", ["FARGATE"])
    assert body["family"] == f"ctrlplane-{IID}"
    names = [c["name"] for c in body["containerDefinitions"]]
    assert names.index("init-a") < names.index("init-b") < names.index("db") < names.index("web")
    c = _containers(rendered)
    assert {n: c[n]["essential"] for n in c} == {
        "init-a": False,
        "init-b": False,
        "db": True,
        "web": True,
        "agent": True,
    }
    assert c["init-b"]["dependsOn"] == [{"containerName": "init-a", "condition": "SUCCESS"}]
    assert c["web"]["dependsOn"] == [
        {"containerName": "init-b", "condition": "SUCCESS"},
        {"containerName": "init-a", "condition": "SUCCESS"},
        {"containerName": "db", "condition": "HEALTHY"},
    ]
    assert {"containerName": "web", "condition": "START"} in c["agent"]["dependsOn"]
    assert (c["web"]["entryPoint"], c["web"]["command"]) == (["sh", "-c"], ["httpd -f -p 8080"])
    assert c["web"]["environment"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert c["web"]["portMappings"] == [
        {"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}
    ]
    log = c["web"]["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    assert log["options"]["awslogs-stream-prefix"] == IID
    service = rendered[1]["CreateService"]
    assert service["desiredCount"] == 3
    assert service["launchType"] == "FARGATE"
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True,
        "rollback": True,
    }
    assert service["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == [
        "subnet-0a1b2c3d4e5f60001"
    ]


def test_secrets_are_references_to_the_store_never_values() -> None:
    web = _web(
        secrets=[
            SecretRef(key="api-token"),
            SecretRef(key="db/password", type=SecretType.FILE),
            SecretRef(key="pull", type=SecretType.REGISTRY),
        ]
    )
    rendered = _render(_request(web))
    _valid(rendered)
    c = _containers(rendered)
    assert c["web"]["secrets"] == [
        {
            "name": "API_TOKEN",
            "valueFrom": (
                f"arn:aws:secretsmanager:eu-west-1:<account>:secret:ctrlplane/{IID}/web/api-token"
            ),
        }
    ]
    assert c["web"]["repositoryCredentials"]["credentialsParameter"].endswith(
        f"ctrlplane/{IID}/web/pull"
    )
    files = c["ctrlplane_files"]
    assert files["essential"] is False
    assert files["secrets"][0]["valueFrom"].endswith(f"ctrlplane/{IID}/web/db/password")
    assert c["web"]["mountPoints"] == [
        {
            "sourceVolume": "ctrlplane-files-web-0",
            "containerPath": "/run/secrets/db",
            "readOnly": True,
        }
    ]
    ssm = _containers(_render(_request(web), _config(secret_store="ssm")))
    assert ssm["web"]["secrets"][0]["valueFrom"] == (
        f"arn:aws:ssm:eu-west-1:<account>:parameter/ctrlplane/{IID}/web/api-token"
    )


def test_config_files_are_written_by_the_files_init_into_the_services_volume() -> None:
    cfg = ConfigFile(name="app", path="/etc/app/config.json", format="json", content='{"a": 1}')
    side = ServiceSpec(name="side", image="side:1", role=ServiceRole.SIDECAR)
    rendered = _render(_request(_web(config_files=[cfg]), side))
    _valid(rendered)
    c = _containers(rendered)
    files = c["ctrlplane_files"]
    assert files["environment"] == [{"name": "CTRLPLANE_FILE_0", "value": '{"a": 1}'}]
    assert files["command"] == [
        "printf '%s' \"$CTRLPLANE_FILE_0\" > /ctrlplane/ctrlplane-files-web-0/config.json"
    ]
    assert c["web"]["mountPoints"][0]["containerPath"] == "/etc/app"
    assert "mountPoints" not in c["side"]
    for name in ("web", "side"):
        assert {"containerName": "ctrlplane_files", "condition": "SUCCESS"} in c[name]["dependsOn"]
    assert rendered[0]["RegisterTaskDefinition"]["volumes"] == [{"name": "ctrlplane-files-web-0"}]


@pytest.mark.parametrize(
    ("hc", "command"),
    [
        (
            HealthCheckSpec(path="/healthz", port=8080),
            ["CMD", "wget", "-q", "-O", "/dev/null", "-T", "5", "http://127.0.0.1:8080/healthz"],
        ),
        (HealthCheckSpec(port=8080), ["CMD", "nc", "-z", "-w", "5", "127.0.0.1", "8080"]),
        (HealthCheckSpec(command=["pg_isready", "-q"]), ["CMD", "pg_isready", "-q"]),
    ],
)
def test_health_checks_are_commands_in_the_container(
    hc: HealthCheckSpec, command: list[str]
) -> None:
    c = _containers(_render(_request(_web(health_check=hc))))
    assert c["web"]["healthCheck"]["command"] == command


def test_health_check_timing_is_clamped_to_what_ecs_accepts() -> None:
    fast = HealthCheckSpec(
        path="/",
        port=8080,
        interval=timedelta(seconds=0.5),
        timeout=timedelta(seconds=0.5),
        retries=100_000,
    )
    check = _containers(_render(_request(_web(health_check=fast))))["web"]["healthCheck"]
    assert (check["interval"], check["timeout"], check["retries"]) == (5, 2, 10)
    curl = _config(http_check_command="curl -fsS http://127.0.0.1:{port}{path}")
    check = _containers(_render(_request(_web(health_check=fast)), curl))["web"]["healthCheck"]
    assert check["command"] == ["CMD", "curl", "-fsS", "http://127.0.0.1:8080/"]


def test_fargate_sizes_agree_with_the_fakes_table() -> None:
    for cpu, memories in FARGATE_SIZES.items():
        assert fargate_memories(cpu) == memories


@pytest.mark.parametrize(
    ("millis", "memory", "size"),
    [
        (0, 0, (256, 512)),
        (250, 600, (256, 1024)),
        (3000, 100, (4096, 8192)),
        (500, 20_000, (4096, 20_480)),
    ],
)
def test_the_task_size_is_the_smallest_fargate_size_that_holds_the_services(
    millis: int, memory: int, size: tuple[int, int]
) -> None:
    web = _web(resources=ResourceSpec(cpu_millis=millis, memory_mb=memory))
    found = task_size([web], _config())
    assert (found.cpu, found.memory) == size
    rendered = _render(_request(web))
    _valid(rendered)
    body = rendered[0]["RegisterTaskDefinition"]
    assert (int(body["cpu"]), int(body["memory"])) == size


@pytest.mark.parametrize(
    ("change", "exc", "where"),
    [
        ({"resources": ResourceSpec(cpu_millis=17_000)}, InvalidSpec, "services[*].resources"),
        ({"resources": ResourceSpec(memory_mb=130_000)}, InvalidSpec, "services[*].resources"),
        (
            {"ports": [PortSpec(container=8080, host=9090)]},
            InvalidSpec,
            "services[0].ports[0].host",
        ),
        (
            {"ports": [PortSpec(container=8080, protocol="sctp")]},
            InvalidSpec,
            "services[0].ports[0].protocol",
        ),
        (
            {"health_check": HealthCheckSpec(path="/"), "ports": []},
            InvalidSpec,
            "services[0].health_check.port",
        ),
        (
            {"config_files": [ConfigFile(name="x", path="/x.conf", content="a")]},
            InvalidSpec,
            "services[0].config_files[0].path",
        ),
        ({"env": {"BIG": "x" * 70_000}}, InvalidSpec, "services"),
    ],
)
def test_what_ecs_cannot_run_is_refused_before_any_call(
    change: JSON, exc: type[Exception], where: str
) -> None:
    with pytest.raises(exc) as caught:
        _render(_request(_web(**change)))
    assert isinstance(caught.value, InvalidSpec)
    assert where in [p.path for p in caught.value.problems]


def test_requests_and_configs_ecs_cannot_take_are_refused() -> None:
    with pytest.raises(NotSupported, match="stable identity"):
        _render(_request(_web(), kind=WorkloadKind.STATEFUL_SET))
    other = _web().model_copy(update={"name": "other", "role": ServiceRole.SIDECAR})
    with pytest.raises(InvalidSpec) as caught:
        _render(_request(_web(), other))
    assert "services[1].ports[0].container" in [p.path for p in caught.value.problems]
    with pytest.raises(InvalidSpec) as caught:
        _render(_request(_web(), labels={"team": "a*b", "aws:x": "y"}))
    assert {"labels.team", "labels.aws:x"} <= {p.path for p in caught.value.problems}


def test_the_main_container_records_the_release_and_the_request() -> None:
    cfg = ConfigFile(name="app", path="/etc/app/c.txt", content="hello")
    req = _request(_web(config_files=[cfg], secrets=[SecretRef(key="tok")]))
    body = _render(req)[0]["RegisterTaskDefinition"]
    body = {
        **body,
        "taskDefinitionArn": "arn:aws:ecs:eu-west-1:1:task-definition/x:1",
        "revision": 1,
    }
    assert request_of(body) == req
    info = release_info(body)
    assert info.release_id.startswith("rel_")
    text = json.dumps(body)
    assert "tok" in text
    assert "hello" in text


def _revision(n: int, release: str, *, services: list[ServiceSpec] | None = None) -> JSON:
    req = _request(*(services or [_web()]))
    body = task_definition(
        req,
        ReleaseInfo(release, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)),
        _config(),
        region="eu-west-1",
        references={},
        size=task_size(req.services, _config()),
    )
    return {
        **body,
        "revision": n,
        "taskDefinitionArn": f"arn:aws:ecs:eu-west-1:1:task-definition/f:{n}",
    }


def test_history_is_one_release_per_release_id_newest_first() -> None:
    revisions = [
        _revision(1, "rel_a"),
        _revision(2, "rel_b"),
        _revision(3, "rel_b"),  # a scale of rel_b
        _revision(4, "rel_c"),
    ]
    found = history(revisions, revisions[2]["taskDefinitionArn"], depth=10)
    assert [r.release_id for r in found] == ["rel_c", "rel_b", "rel_a"]
    assert [r.live for r in found] == [False, True, False]
    assert history(revisions, "", depth=2)[-1].release_id == "rel_b"
    gone = surplus(revisions, keep=[revisions[3]["taskDefinitionArn"]], depth=2)
    assert sorted(gone) == sorted(
        [revisions[0]["taskDefinitionArn"], revisions[1]["taskDefinitionArn"]]
    )


def _task(**fields: Any) -> JSON:
    base: JSON = {
        "taskArn": "arn:aws:ecs:eu-west-1:1:task/apps/abc",
        "lastStatus": "RUNNING",
        "desiredStatus": "RUNNING",
        "createdAt": datetime(2026, 1, 1, tzinfo=UTC),
        "containers": [],
    }
    base.update(fields)
    return base


def test_container_states_restarts_and_endpoints_read_from_tasks() -> None:
    running = _task(
        containers=[
            {
                "name": "web",
                "lastStatus": "RUNNING",
                "healthStatus": "UNKNOWN",
                "networkInterfaces": [{"privateIpv4Address": "10.0.1.5"}],
            },
            {"name": "init", "lastStatus": "STOPPED", "exitCode": 0},
        ]
    )
    assert container_state(running, "web", ServiceRole.MAIN) == (InstanceState.RUNNING, False)
    assert container_state(running, "init", ServiceRole.INIT) == (InstanceState.STOPPED, True)
    stopping = _task(desiredStatus="STOPPED")
    assert container_state(stopping, "web", ServiceRole.MAIN)[0] is InstanceState.STOPPING
    crashed = _task(
        desiredStatus="STOPPED",
        lastStatus="STOPPED",
        stopCode="EssentialContainerExited",
        stoppedReason="Essential container in task exited",
        containers=[
            {"name": "web", "lastStatus": "STOPPED", "exitCode": 0},
            {"name": "side", "lastStatus": "STOPPED", "exitCode": 3},
        ],
    )
    scaled_in = _task(
        desiredStatus="STOPPED",
        stopCode="ServiceSchedulerInitiated",
        stoppedReason="Scaling activity",
    )
    side = ServiceSpec(name="side", image="s:1", role=ServiceRole.SIDECAR)
    req = _request(_web(), side)
    assert restarts(req, [crashed, scaled_in]) == {"web": 0, "side": 1}
    found = endpoints(req, [running])
    assert [(e.service_name, e.url, e.public) for e in found] == [
        ("web", "http://10.0.1.5:8080", False)
    ]


def test_usage_sums_the_newest_container_insights_event_of_each_task() -> None:
    def event(task: str, at: int, memory: int, cpu: float) -> JSON:
        data = {
            "Type": "Task",
            "TaskId": task,
            "Timestamp": at,
            "MemoryUtilized": memory,
            "CpuUtilized": cpu,
            "NetworkRxBytes": 2_000_000,
        }
        return {"message": json.dumps(data)}

    events = [
        event("a", 1, 10, 512.0),
        event("a", 2, 20, 1024.0),
        event("b", 1, 5, 0.0),
        event("gone", 3, 99, 0.0),
    ]
    found = usage(events, {"a", "b"}, 128)
    assert found is not None
    assert (found.memory_used_mb, found.cpu_percent, found.memory_limit_mb) == (25, 100.0, 128)
    assert found.network_in_mb == 4.0
    assert usage([], {"a"}, 1) is None
    definition = {
        "memory": "512",
        "containerDefinitions": [{"name": "a", "memory": 64}, {"name": "i", "essential": False}],
    }
    assert memory_limit(definition) == 64


def test_configured_sizes_and_launch_types_are_checked_before_any_call() -> None:
    with pytest.raises(InvalidSpec) as caught:
        _render(_request(_web()), _config(task_cpu=256, task_memory=4096))
    problem = caught.value.problems[0]
    assert problem.path == "task_cpu/task_memory (ECS config)"
    assert "with 256 units Fargate offers 512 to 2048 MiB" in problem.message
    rendered = _render(_request(_web()), _config(launch_type="EC2"))
    _valid(rendered)
    assert rendered[1]["CreateService"]["launchType"] == "EC2"
    assert "platformVersion" not in rendered[1]["CreateService"]
    assert rendered[0]["RegisterTaskDefinition"]["requiresCompatibilities"] == ["EC2"]


async def test_provision_refuses_an_unfinished_setup_that_render_still_shows() -> None:
    bare = _config(subnets=[], execution_role_arn="")  # endpoint: nothing listens
    rendered = _render(_request(_web()), bare)
    assert "executionRoleArn" not in rendered[0]["RegisterTaskDefinition"]
    with pytest.raises(InvalidSpec) as caught:
        await EcsProvider(bare).provision(_request(_web()))
    paths = [p.path for p in caught.value.problems]
    assert "subnets (ECS config)" in paths
    assert "execution_role_arn (ECS config)" in paths
    with pytest.raises(InvalidSpec) as caught:
        await EcsProvider(_config(launch_type="EC2", assign_public_ip=True)).provision(
            _request(_web())
        )
    assert [p.path for p in caught.value.problems] == ["assign_public_ip (ECS config)"]
