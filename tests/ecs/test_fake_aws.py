"""The fake AWS is strict: what it refuses, it refuses as AWS does, so a provider that
passes against it sends what AWS accepts. Each test breaks one rule."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from aiobotocore.session import AioSession
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from .conftest import ACCESS_KEY, SECRET_KEY
from .fake_aws import SECURITY_GROUPS, SUBNETS
from .fakes import eventually, raw_call, running_fake
from .harness import CLUSTER, EXECUTION_ROLE, LEASE_TABLE, EcsHarness

JSON = dict[str, Any]


def _definition(**extra: Any) -> JSON:
    body: JSON = {
        "family": "strict",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": EXECUTION_ROLE,
        "containerDefinitions": [
            {
                "name": "app",
                "image": "conformance/app:1",
                "essential": True,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/strict",
                        "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "s",
                        "awslogs-create-group": "true",
                    },
                },
            }
        ],
    }
    body.update(extra)
    return body


def _service(name: str = "strict", definition: str = "strict", desired: int = 1) -> JSON:
    return {
        "cluster": CLUSTER,
        "serviceName": name,
        "taskDefinition": definition,
        "desiredCount": desired,
        "launchType": "FARGATE",
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": [SUBNETS[0]],
                "securityGroups": list(SECURITY_GROUPS),
            }
        },
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    }


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[EcsHarness]:
    async with running_fake() as h:
        yield h


@pytest_asyncio.fixture
async def ecs(harness: EcsHarness) -> AsyncIterator[Any]:
    session = AioSession()
    async with session.create_client(
        "ecs", region_name="us-east-1", endpoint_url=harness.aws.endpoint_url
    ) as client:
        yield client


async def _code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        await call
    return f"{caught.value.response['Error']['Code']}: {caught.value.response['Error']['Message']}"


# signatures


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"key": "AKIANOTKNOWN00000000"}, "UnrecognizedClientException"),
        ({"secret": "not-the-secret"}, "InvalidSignatureException"),
        ({"region": "eu-west-1"}, "InvalidSignatureException"),
    ],
)
async def test_requests_must_be_signed_with_known_keys_for_the_region(
    harness: EcsHarness, kwargs: dict[str, str], code: str
) -> None:
    status, body = await raw_call(
        harness.aws, "ecs", "ListServices", {"cluster": CLUSTER}, **kwargs
    )
    assert (status, body["__type"]) == (403, code)
    status, _ = await raw_call(harness.aws, "ecs", "ListServices", {"cluster": CLUSTER})
    assert status == 200


# the model


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"family": "x", "containerDefinitionz": []}, "containerDefinitionz: unknown member"),
        ({"family": "x"}, "containerDefinitions: required member"),
        (_definition(networkMode="vpc"), "'vpc' is not one of"),
        (_definition(cpu=256), "expected a string"),
        ({**_definition(), "tags": [{"key": "", "value": "v"}]}, "below the minimum 1"),
        ({**_definition(), "tags": [{"key": "a*b", "value": "v"}]}, "does not match the pattern"),
    ],
)
async def test_requests_are_checked_against_botocore_models(
    harness: EcsHarness, body: JSON, fragment: str
) -> None:
    status, answer = await raw_call(harness.aws, "ecs", "RegisterTaskDefinition", body)
    assert status == 400
    assert answer["__type"] == "InvalidParameterException"
    assert fragment in answer["message"]


async def test_answers_are_checked_against_botocore_models(harness: EcsHarness) -> None:
    handlers = dict(harness.aws.ecs.api.handlers)
    handlers["ListServices"] = lambda body: {"serviceArns": "not-a-list"}
    harness.aws.ecs.api.handlers = handlers
    status, answer = await raw_call(harness.aws, "ecs", "ListServices", {"cluster": CLUSTER})
    assert status == 500
    assert "invalid ListServices answer" in answer["message"]


# ECS's rules for task definitions


def _mutate(change: Callable[[JSON], object]) -> JSON:
    body = _definition()
    change(body)
    return body


def _app(body: JSON) -> JSON:
    return dict(body["containerDefinitions"][0])


_BROKEN: list[tuple[str, Callable[[JSON], object], str]] = [
    ("fargate size", lambda b: b.update(cpu="256", memory="4096"), "No Fargate configuration"),
    (
        "host port",
        lambda b: b["containerDefinitions"][0].update(
            portMappings=[{"containerPort": 80, "hostPort": 8080}]
        ),
        "host ports and container ports",
    ),
    (
        "duplicate names",
        lambda b: b["containerDefinitions"].append(_app(b)),
        "Container names must be unique",
    ),
    (
        "no essential container",
        lambda b: b["containerDefinitions"][0].update(essential=False),
        "at least one essential",
    ),
    (
        "SUCCESS on an essential container",
        lambda b: b["containerDefinitions"].append(
            {
                **_app(b),
                "name": "side",
                "dependsOn": [{"containerName": "app", "condition": "SUCCESS"}],
            }
        ),
        "cannot be set on essential container app",
    ),
    (
        "HEALTHY without a health check",
        lambda b: b["containerDefinitions"].append(
            {
                **_app(b),
                "name": "side",
                "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}],
            }
        ),
        "needs a health check on container app",
    ),
    (
        "dependency cycle",
        lambda b: (
            b["containerDefinitions"][0].update(
                dependsOn=[{"containerName": "side", "condition": "START"}]
            ),
            b["containerDefinitions"].append(
                {
                    **_app(b),
                    "name": "side",
                    "dependsOn": [{"containerName": "app", "condition": "START"}],
                }
            ),
        ),
        "form a cycle",
    ),
    (
        "extraHosts in awsvpc",
        lambda b: b["containerDefinitions"][0].update(
            extraHosts=[{"hostname": "web", "ipAddress": "127.0.0.1"}]
        ),
        "extraHosts is not supported",
    ),
    (
        "health check interval",
        lambda b: b["containerDefinitions"][0].update(
            healthCheck={"command": ["CMD", "true"], "interval": 3}
        ),
        "interval must be between 5 and 300",
    ),
    ("no execution role for awslogs", lambda b: b.pop("executionRoleArn"), "execution role"),
    (
        "containers larger than the task",
        lambda b: b["containerDefinitions"][0].update(memory=1024),
        "exceeds the task memory",
    ),
    (
        "no stream prefix on Fargate",
        lambda b: b["containerDefinitions"][0]["logConfiguration"]["options"].pop(
            "awslogs-stream-prefix"
        ),
        "awslogs-stream-prefix",
    ),
    (
        "over 64 KiB",
        lambda b: b["containerDefinitions"][0].update(
            environment=[{"name": "BIG", "value": "x" * 70_000}]
        ),
        "exceeds the limit",
    ),
]


@pytest.mark.parametrize(("why", "change", "fragment"), _BROKEN, ids=[b[0] for b in _BROKEN])
async def test_task_definitions_follow_ecs_rules(
    ecs: Any, why: str, change: Callable[[JSON], object], fragment: str
) -> None:
    body = _mutate(change)
    message = await _code(ecs.register_task_definition(**copy.deepcopy(body)))
    assert message.startswith("ClientException"), (why, message)
    assert fragment in message, (why, message)


async def test_revisions_increase_and_deleting_needs_deregistering(ecs: Any) -> None:
    first = (await ecs.register_task_definition(**_definition()))["taskDefinition"]
    second = (await ecs.register_task_definition(**_definition()))["taskDefinition"]
    assert (first["revision"], second["revision"]) == (1, 2)
    assert second["containerDefinitions"][0]["environment"] == []  # ECS's filled defaults
    out = await ecs.delete_task_definitions(taskDefinitions=[first["taskDefinitionArn"]])
    assert "still in ACTIVE status" in out["failures"][0]["reason"]
    await ecs.deregister_task_definition(taskDefinition="strict:1")
    out = await ecs.delete_task_definitions(taskDefinitions=["strict:1"])
    assert out["taskDefinitions"][0]["status"] == "DELETE_IN_PROGRESS"
    third = (await ecs.register_task_definition(**_definition()))["taskDefinition"]
    assert third["revision"] == 3


# services


async def test_services_follow_ecs_rules(harness: EcsHarness, ecs: Any) -> None:
    await ecs.register_task_definition(**_definition())
    no_network = {k: v for k, v in _service().items() if k != "networkConfiguration"}
    assert "Network Configuration must be provided" in await _code(ecs.create_service(**no_network))
    unknown = _service()
    unknown["networkConfiguration"]["awsvpcConfiguration"]["subnets"] = ["subnet-0000000000000dead"]
    assert "does not exist" in await _code(ecs.create_service(**unknown))
    await ecs.create_service(**_service())
    again = await ecs.create_service(**_service())  # identical: the same service
    assert again["service"]["serviceName"] == "strict"
    assert "not idempotent" in await _code(ecs.create_service(**_service(desired=2)))
    assert "scaled above 0" in await _code(ecs.delete_service(cluster=CLUSTER, service="strict"))
    harness.aws.paused = True  # hold the service in DRAINING
    await ecs.delete_service(cluster=CLUSTER, service="strict", force=True)
    assert "still Draining" in await _code(ecs.create_service(**_service()))
    harness.aws.paused = False


# the scheduler


async def _service_tasks(ecs: Any, name: str, desired: str = "RUNNING") -> list[JSON]:
    arns = (await ecs.list_tasks(cluster=CLUSTER, serviceName=name, desiredStatus=desired))[
        "taskArns"
    ]
    return (await ecs.describe_tasks(cluster=CLUSTER, tasks=arns))["tasks"] if arns else []


async def test_tasks_go_through_ecs_states_and_deployments_complete(
    harness: EcsHarness, ecs: Any
) -> None:
    await ecs.register_task_definition(**_definition())
    harness.aws.paused = True  # step the scheduler by hand: every state is seen
    await ecs.create_service(**_service(desired=2))
    seen: list[str] = []
    rollout = ""
    for _ in range(400):
        await harness.aws.scheduler.tick()
        for task in await _service_tasks(ecs, "strict"):
            if not seen or seen[-1] != task["lastStatus"]:
                seen.append(task["lastStatus"])
        svc = (await ecs.describe_services(cluster=CLUSTER, services=["strict"]))["services"][0]
        rollout = svc["deployments"][0]["rolloutState"]
        if rollout == "COMPLETED":
            break
        await asyncio.sleep(0.01)
    harness.aws.paused = False
    assert rollout == "COMPLETED"
    assert [s for i, s in enumerate(seen) if s not in seen[:i]] == [
        "PROVISIONING",
        "PENDING",
        "RUNNING",
    ]
    tasks = await _service_tasks(ecs, "strict")
    assert len(tasks) == 2
    assert all(t["containers"][0]["networkInterfaces"] for t in tasks)


async def test_a_missing_image_stops_the_task_as_ecs_does(ecs: Any) -> None:
    body = _definition()
    body["containerDefinitions"][0]["image"] = "nowhere/missing:0"
    await ecs.register_task_definition(**body)
    await ecs.create_service(**_service())

    async def stopped() -> list[JSON]:
        return await _service_tasks(ecs, "strict", "STOPPED")

    task = (await eventually(stopped, "a stopped task"))[0]
    assert task["stopCode"] == "TaskFailedToStart"
    assert "CannotPullContainerError" in task["containers"][0]["reason"]
    assert "nowhere/missing:0" in task["stoppedReason"]


async def test_the_circuit_breaker_rolls_a_failing_deployment_back(ecs: Any) -> None:
    good = _definition()
    good["containerDefinitions"][0]["entryPoint"] = ["sh", "-c", "sleep infinity"]
    await ecs.register_task_definition(**good)
    await ecs.create_service(**_service())

    async def state(rollout: str, definition: str) -> bool:
        svc = (await ecs.describe_services(cluster=CLUSTER, services=["strict"]))["services"][0]
        primary = svc["deployments"][0]
        return bool(
            primary["rolloutState"] == rollout and primary["taskDefinition"].endswith(definition)
        )

    await eventually(lambda: state("COMPLETED", ":1"), "the first deployment")
    bad = _definition()
    bad["containerDefinitions"][0]["entryPoint"] = ["sh", "-c", "exit 3"]
    await ecs.register_task_definition(**bad)
    await ecs.update_service(cluster=CLUSTER, service="strict", taskDefinition="strict:2")
    await eventually(lambda: state("IN_PROGRESS", ":1"), "the rollback deployment", limit=20)
    svc = (await ecs.describe_services(cluster=CLUSTER, services=["strict"]))["services"][0]
    failed = next(d for d in svc["deployments"] if d["taskDefinition"].endswith(":2"))
    assert failed["rolloutState"] == "FAILED"
    assert failed["failedTasks"] >= 3
    assert "circuit breaker" in svc["deployments"][0]["rolloutStateReason"]
    assert svc["taskDefinition"].endswith(":1")
    stopped = await _service_tasks(ecs, "strict", "STOPPED")
    assert any(t["stopCode"] == "EssentialContainerExited" for t in stopped)
    await eventually(lambda: state("COMPLETED", ":1"), "the rollback to complete", limit=20)


async def test_failed_health_checks_stop_service_tasks(ecs: Any) -> None:
    body = _definition()
    body["containerDefinitions"][0]["entryPoint"] = ["sh", "-c", "sleep infinity"]
    body["containerDefinitions"][0]["healthCheck"] = {
        "command": ["CMD", "false"],
        "interval": 5,
        "retries": 1,
    }
    await ecs.register_task_definition(**body)
    await ecs.create_service(**_service())

    async def unhealthy() -> list[JSON]:
        return [
            t
            for t in await _service_tasks(ecs, "strict", "STOPPED")
            if t["stoppedReason"] == "Task failed container health checks"
        ]

    task = (await eventually(unhealthy, "a task stopped for its health checks"))[0]
    assert task["containers"][0]["healthStatus"] in ("UNHEALTHY", "UNKNOWN")


async def test_a_failed_success_dependency_stops_the_task(ecs: Any) -> None:
    body = _definition()
    app = body["containerDefinitions"][0]
    init = {**app, "name": "init", "essential": False, "entryPoint": ["sh", "-c", "exit 3"]}
    app["dependsOn"] = [{"containerName": "init", "condition": "SUCCESS"}]
    body["containerDefinitions"] = [init, app]
    await ecs.register_task_definition(**body)
    await ecs.create_service(**_service())

    async def stopped() -> list[JSON]:
        return await _service_tasks(ecs, "strict", "STOPPED")

    task = (await eventually(stopped, "the task to stop"))[0]
    containers = {c["name"]: c for c in task["containers"]}
    assert containers["init"]["exitCode"] == 3
    assert "dependency init" in containers["app"]["reason"]
    assert task["stopCode"] == "TaskFailedToStart"


# the other services


async def test_dynamodb_writes_are_conditional_and_expressions_strict(harness: EcsHarness) -> None:
    async def put(**extra: Any) -> tuple[int, JSON]:
        body = {"TableName": LEASE_TABLE, "Item": {"instance_id": {"S": "i1"}, "token": {"S": "a"}}}
        return await raw_call(harness.aws, "dynamodb", "PutItem", {**body, **extra})

    absent = {
        "ConditionExpression": "attribute_not_exists(#k)",
        "ExpressionAttributeNames": {"#k": "instance_id"},
    }
    assert (await put(**absent))[0] == 200
    status, answer = await put(**absent)
    assert (status, answer["__type"]) == (400, "ConditionalCheckFailedException")
    status, answer = await put(
        ConditionExpression="#t = :t",
        ExpressionAttributeNames={"#t": "token"},
        ExpressionAttributeValues={":t": {"S": "a"}, ":unused": {"S": "b"}},
    )
    assert (status, answer["__type"]) == (400, "ValidationException")
    assert "unused" in answer["message"]
    status, answer = await put(ConditionExpression="begins_with(#t, :t)")
    assert (status, answer["__type"]) == (400, "ValidationException")


async def test_log_tokens_and_filters_behave_as_cloudwatch(harness: EcsHarness) -> None:
    fake = harness.aws
    fake.logs.ensure_group("/g")
    fake.logs.append("/g", "s", fake.clock.now(), "first")
    status, page = await raw_call(
        fake,
        "logs",
        "GetLogEvents",
        {"logGroupName": "/g", "logStreamName": "s", "startFromHead": True},
    )
    assert status == 200
    assert [e["message"] for e in page["events"]] == ["first"]
    token = page["nextForwardToken"]
    status, again = await raw_call(
        fake,
        "logs",
        "GetLogEvents",
        {"logGroupName": "/g", "logStreamName": "s", "nextToken": token},
    )
    assert again["events"] == []
    assert again["nextForwardToken"] == token
    status, bad = await raw_call(
        fake,
        "logs",
        "GetLogEvents",
        {"logGroupName": "/g", "logStreamName": "s", "nextToken": "made-up"},
    )
    assert (status, bad["__type"]) == (400, "InvalidParameterException")
    status, both = await raw_call(
        fake,
        "logs",
        "FilterLogEvents",
        {"logGroupName": "/g", "logStreamNames": ["s"], "logStreamNamePrefix": "s"},
    )
    assert (status, both["__type"]) == (400, "InvalidParameterException")
    status, unknown = await raw_call(
        fake, "logs", "FilterLogEvents", {"logGroupName": "/g", "filterPattern": "[a, b]"}
    )
    assert (status, unknown["__type"]) == (400, "InvalidParameterException")


async def test_secret_stores_refuse_what_aws_refuses(harness: EcsHarness) -> None:
    fake = harness.aws
    status, _ = await raw_call(
        fake, "secretsmanager", "CreateSecret", {"Name": "a/b", "SecretString": "v"}
    )
    assert status == 200
    status, answer = await raw_call(
        fake, "secretsmanager", "CreateSecret", {"Name": "a/b", "SecretString": "v"}
    )
    assert (status, answer["__type"]) == (400, "ResourceExistsException")
    status, answer = await raw_call(
        fake,
        "secretsmanager",
        "CreateSecret",
        {"Name": "c", "SecretString": "v", "SecretBinary": "dg=="},
    )
    assert (status, answer["__type"]) == (400, "InvalidParameterException")
    put = {"Name": "/p/x", "Value": "v", "Type": "SecureString"}
    assert (await raw_call(fake, "ssm", "PutParameter", put))[0] == 200
    status, answer = await raw_call(fake, "ssm", "PutParameter", put)
    assert (status, answer["__type"]) == (400, "ParameterAlreadyExists")
    status, answer = await raw_call(
        fake,
        "ssm",
        "PutParameter",
        {**put, "Overwrite": True, "Tags": [{"Key": "k", "Value": "v"}]},
    )
    assert (status, answer["__type"]) == (400, "ValidationException")
    status, answer = await raw_call(fake, "ssm", "PutParameter", {**put, "Name": "p/x"})
    assert (status, answer["__type"]) == (400, "ValidationException")


async def _query(harness: EcsHarness, form: dict[str, str]) -> tuple[int, str]:
    """A signed query-protocol call to the fake's Elastic Load Balancing."""
    data = urlencode(form).encode()
    request = AWSRequest(
        method="POST",
        url=harness.aws.endpoint_url + "/",
        data=data,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "elasticloadbalancing", "us-east-1").add_auth(
        request
    )
    assert request.url is not None
    async with httpx.AsyncClient() as client:
        resp = await client.post(request.url, content=data, headers=dict(request.headers))
    return resp.status_code, resp.text


async def test_the_load_balancing_query_api_is_checked_against_its_model(
    harness: EcsHarness,
) -> None:
    _, group = harness.aws.elb.add("strict")
    base = {"Action": "DescribeTargetHealth", "Version": "2015-12-01"}
    status, text = await _query(harness, {**base, "TargetGroupArn": group})
    assert status == 200
    assert "<TargetHealthDescriptions></TargetHealthDescriptions>" in text
    status, text = await _query(harness, {**base, "TargetGroupArn": group, "Bogus": "1"})
    assert status == 400
    assert "<Code>ValidationError</Code>" in text
    status, text = await _query(harness, base)
    assert status == 400
    assert "TargetGroupArn: required member" in text
    status, text = await _query(
        harness,
        {
            **base,
            "TargetGroupArn": group,
            "Targets.member.1.Id": "10.0.0.1",
            "Targets.member.1.Port": "x",
        },
    )
    assert "is not an integer" in text


async def test_services_behind_target_groups_follow_ecs_rules(
    harness: EcsHarness, ecs: Any
) -> None:
    _, instance_group = harness.aws.elb.add("inst", target_type="instance")
    _, group = harness.aws.elb.add("ipgroup")
    body = _definition()
    body["containerDefinitions"][0]["portMappings"] = [{"containerPort": 8080}]
    await ecs.register_task_definition(**body)

    def behind(arn: str, port: int = 8080) -> JSON:
        return {
            **_service(),
            "loadBalancers": [
                {"targetGroupArn": arn, "containerName": "app", "containerPort": port}
            ],
        }

    assert "incompatible with the awsvpc network mode" in await _code(
        ecs.create_service(**behind(instance_group))
    )
    assert "did not have a container port 9090" in await _code(
        ecs.create_service(**behind(group, 9090))
    )
    grace = {**_service(), "healthCheckGracePeriodSeconds": 10}
    assert "only valid for services configured to use load balancers" in await _code(
        ecs.create_service(**grace)
    )
    await ecs.create_service(**behind(group))
