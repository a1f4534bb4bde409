"""The client of the AWS APIs the ECS backend calls: the only module that imports
``aiobotocore``/``botocore``, and the only place their errors are translated.

One :class:`AwsApi` per operation, opened with ``async with``, calls the service clients
(ECS, CloudWatch Logs, DynamoDB, Secrets Manager, SSM, the tagging API) of the provider's
:class:`AwsSession`, which makes each once per event loop (with the credentials of the
standard chain and models read once per process) and closes them with the loop. Every call
carries the configured ``connect_timeout``/``request_timeout`` and ``max_attempts``
(botocore's standard retry mode), and is also bounded as a whole.

Errors: an unreachable or silent endpoint -> :class:`~ctrlplane.errors.BackendUnavailable`;
missing or refused credentials, a missing permission ->
:class:`~ctrlplane.errors.PermissionDenied`; any other refusal ->
:class:`~ctrlplane.errors.BackendError` naming the API, the operation, AWS's error code
and message. The "not found" answers a method's contract allows are ``None``/``False``.

Importing this module without ``aiobotocore`` raises
:class:`~ctrlplane.errors.MissingExtra` naming ``pip install 'ctrlplane[ecs]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, cast

from ctrlplane._version import __version__
from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    InvalidSpec,
    MissingExtra,
    PermissionDenied,
)
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.ecs.config import BACKEND, EcsConfig
from ctrlplane.provider.native import JSON

try:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import AioSession
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
    )
    from botocore.exceptions import (
        ConnectionError as EndpointUnreachable,
    )
    from botocore.loaders import Loader, create_loader
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingExtra(BACKEND, "aiobotocore") from None

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient
    from types_aiobotocore_ecs.client import ECSClient
    from types_aiobotocore_elbv2.client import ElasticLoadBalancingv2Client
    from types_aiobotocore_logs.client import CloudWatchLogsClient
    from types_aiobotocore_resourcegroupstaggingapi.client import ResourceGroupsTaggingAPIClient
    from types_aiobotocore_secretsmanager.client import SecretsManagerClient
    from types_aiobotocore_ssm.client import SSMClient

__all__ = ["AwsApi", "AwsSession"]

_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
    }
)
_NAMES = {
    "ecs": "ECS",
    "logs": "CloudWatch Logs",
    "dynamodb": "DynamoDB",
    "secretsmanager": "Secrets Manager",
    "ssm": "SSM",
    "resourcegroupstaggingapi": "Resource Groups Tagging",
    "elbv2": "Elastic Load Balancing",
}


_LOADER: list[Loader] = []


def _shared_loader() -> Loader:
    """One botocore data loader for every session of the process: the service models are
    read (and parsed) once, not once per provider object."""
    if not _LOADER:
        _LOADER.append(create_loader())
    return _LOADER[0]


class _LoopClients:
    """The session and clients of one event loop and one set of client settings, closed
    by the loop's async-generator shutdown (``asyncio.run`` and ``asyncio.Runner`` close
    them when the loop ends)."""

    def __init__(self, profile: str) -> None:
        self.session = AioSession(profile=profile or None)
        self.session.register_component("data_loader", _shared_loader())
        self.stack = contextlib.AsyncExitStack()
        self.clients: dict[str, Any] = {}
        self.lock = asyncio.Lock()
        self.keeper: AsyncGenerator[None] | None = None

    async def _keep(self) -> AsyncGenerator[None]:
        try:
            yield
        finally:
            await self.stack.aclose()

    async def start(self) -> None:
        self.keeper = self._keep()
        await anext(self.keeper)

    async def close(self) -> None:
        if self.keeper is not None:
            await self.keeper.aclose()
            self.keeper = None


_POOLS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[Any, ...], _LoopClients]
] = weakref.WeakKeyDictionary()
"""Per event loop, the clients of each set of client settings (shared by provider objects
with the same settings: a client costs tens of milliseconds to make)."""


class AwsSession:
    """The AWS clients of a provider: made once per event loop for the provider's client
    settings (profile, region, endpoint, timeouts, attempts), shared with other provider
    objects of the same settings, and closed when that loop ends (or by :meth:`close`).
    Credentials come from the standard chain of the profile; the service models from a
    loader shared by the whole process."""

    def __init__(self, cfg: EcsConfig) -> None:
        self.cfg = cfg
        self._probe: AioSession | None = None

    def region(self) -> str:
        """The configured region, else the profile's; ``InvalidSpec`` when there is none."""
        if self.cfg.region:
            return self.cfg.region
        if self._probe is None:
            self._probe = AioSession(profile=self.cfg.profile or None)
        try:
            found = self._probe.get_config_variable("region")
        except BotoCoreError as exc:
            raise InvalidSpec(
                f"reading the AWS configuration failed: {exc}", subject="ECS config"
            ) from None
        if not found:
            raise InvalidSpec(
                "no AWS region: set CTRLPLANE_ECS_REGION or AWS_REGION, or a region in the AWS "
                "profile",
                subject="ECS config",
            )
        return str(found)

    def _settings(self) -> tuple[Any, ...]:
        cfg = self.cfg
        return (
            cfg.profile,
            self.region(),
            cfg.endpoint_url,
            seconds(cfg.connect_timeout),
            seconds(cfg.request_timeout),
            cfg.max_attempts,
        )

    async def _pool(self) -> _LoopClients:
        loop = asyncio.get_running_loop()
        pools = _POOLS.setdefault(loop, {})
        key = self._settings()
        pool = pools.get(key)
        if pool is None:
            pool = pools[key] = _LoopClients(self.cfg.profile)
            await pool.start()
        return pool

    async def client(self, service: str) -> Any:
        """The client of ``service`` for the running event loop."""
        pool = await self._pool()
        async with pool.lock:
            if service not in pool.clients:
                config = AioConfig(
                    connect_timeout=seconds(self.cfg.connect_timeout),
                    read_timeout=seconds(self.cfg.request_timeout),
                    retries={"max_attempts": self.cfg.max_attempts, "mode": "standard"},
                    user_agent_extra=f"ctrlplane/{__version__}",
                )
                try:
                    creator = pool.session.create_client(
                        service,  # type: ignore[call-overload]
                        region_name=self.region(),
                        endpoint_url=self.cfg.endpoint_url or None,
                        config=config,
                    )
                    pool.clients[service] = await pool.stack.enter_async_context(creator)
                except BotoCoreError as exc:
                    raise BackendError(
                        f"cannot create the AWS {_NAMES[service]} client: {exc}", backend=BACKEND
                    ) from None
            return pool.clients[service]

    async def close(self) -> None:
        """Close the running loop's clients of these settings (shared with other provider
        objects of the same settings; a later call makes new ones)."""
        pools = _POOLS.get(asyncio.get_running_loop(), {})
        pool = pools.pop(self._settings(), None)
        if pool is not None:
            await pool.close()


class AwsApi:
    """The AWS calls of one operation (see the module docs)."""

    def __init__(self, cfg: EcsConfig, session: AwsSession) -> None:
        self.cfg = cfg
        self.session = session
        attempts = cfg.max_attempts
        self._bound = (
            seconds(cfg.connect_timeout) + seconds(cfg.request_timeout)
        ) * attempts + attempts

    async def __aenter__(self) -> AwsApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    # plumbing

    async def _client(self, service: str) -> Any:
        return await self.session.client(service)

    async def _ecs(self) -> ECSClient:
        return cast("ECSClient", await self._client("ecs"))

    async def _logs(self) -> CloudWatchLogsClient:
        return cast("CloudWatchLogsClient", await self._client("logs"))

    async def _dynamodb(self) -> DynamoDBClient:
        return cast("DynamoDBClient", await self._client("dynamodb"))

    async def _secrets(self) -> SecretsManagerClient:
        return cast("SecretsManagerClient", await self._client("secretsmanager"))

    async def _ssm(self) -> SSMClient:
        return cast("SSMClient", await self._client("ssm"))

    async def _elbv2(self) -> ElasticLoadBalancingv2Client:
        return cast("ElasticLoadBalancingv2Client", await self._client("elbv2"))

    async def _tagging(self) -> ResourceGroupsTaggingAPIClient:
        return cast(
            "ResourceGroupsTaggingAPIClient", await self._client("resourcegroupstaggingapi")
        )

    async def _call(
        self, service: str, operation: str, call: Awaitable[Any], allow: Collection[str] = ()
    ) -> JSON | None:
        """Await one AWS call; its answer, ``None`` for an ``allow``-ed error code, else
        the translated error."""
        api = _NAMES[service]
        try:
            async with asyncio.timeout(self._bound):
                answer = await call
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in allow:
                return None
            message = str(error.get("Message", "")) or str(exc)
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) or None
            text = f"AWS {api} {operation} failed: {code}: {message}"
            if code == "ClusterNotFoundException":
                text = (
                    f"ECS cluster {self.cfg.cluster!r} does not exist in "
                    f"{self.session.region()} (set CTRLPLANE_ECS_CLUSTER)"
                )
            elif service == "dynamodb" and code == "ResourceNotFoundException":
                text = (
                    f"the DynamoDB table {self.cfg.lease_table!r} of the operation leases does "
                    f"not exist in {self.session.region()}: create it (docs/ecs.md) or set "
                    "CTRLPLANE_ECS_LEASE_TABLE"
                )
            if code in _DENIED:
                raise PermissionDenied(text, backend=BACKEND, status=status) from None
            if status is not None and status >= 500:
                raise BackendUnavailable(text, backend=BACKEND, status=status) from None
            raise BackendError(text, backend=BACKEND, status=status) from None
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise PermissionDenied(
                f"no usable AWS credentials for {api} {operation} ({exc}); the standard chain is "
                "read: environment, shared credentials/config files, SSO, container and instance "
                "roles",
                backend=BACKEND,
            ) from None
        except NoRegionError:
            raise InvalidSpec(
                "no AWS region: set CTRLPLANE_ECS_REGION or AWS_REGION", subject="ECS config"
            ) from None
        except (HTTPClientError, EndpointUnreachable) as exc:
            raise BackendUnavailable(
                f"AWS {api} is unreachable ({operation}): {exc}", backend=BACKEND
            ) from None
        except TimeoutError:
            raise BackendUnavailable(
                f"AWS {api} did not answer {operation} within {self._bound:g}s", backend=BACKEND
            ) from None
        except ParamValidationError as exc:
            raise BackendError(
                f"AWS {api} {operation}: the request is not valid: {exc}", backend=BACKEND
            ) from None
        except BotoCoreError as exc:
            raise BackendError(f"AWS {api} {operation} failed: {exc}", backend=BACKEND) from None
        return cast(JSON, answer)

    async def _must(self, service: str, operation: str, call: Awaitable[Any]) -> JSON:
        answer = await self._call(service, operation, call)
        assert answer is not None
        return answer

    async def _pages(
        self,
        service: str,
        operation: str,
        call: Callable[..., Awaitable[Any]],
        params: Mapping[str, Any],
        *,
        items: str,
        token: str = "nextToken",
        allow: Collection[str] = (),
    ) -> list[Any] | None:
        """Every item of a paged listing (``items`` of each page, following ``token``);
        ``None`` when the first page is an ``allow``-ed error."""
        found: list[Any] = []
        following: str | None = None
        while True:
            page = dict(params)
            if following:
                page[token] = following
            out = await self._call(service, operation, call(**page), allow)
            if out is None:
                return None
            found += list(out.get(items) or [])
            following = out.get(token)
            if not following:
                return found

    # ECS: the cluster

    async def describe_cluster(self) -> JSON | None:
        """The cluster with its settings; ``None`` when it does not exist."""
        ecs = await self._ecs()
        out = await self._must(
            "ecs",
            "DescribeClusters",
            ecs.describe_clusters(clusters=[self.cfg.cluster], include=["SETTINGS"]),
        )
        found = [c for c in out.get("clusters") or [] if c.get("status") == "ACTIVE"]
        return dict(found[0]) if found else None

    # ECS: task definitions

    async def register_task_definition(self, body: JSON) -> JSON:
        ecs = await self._ecs()
        out = await self._must(
            "ecs", "RegisterTaskDefinition", ecs.register_task_definition(**body)
        )
        return dict(out["taskDefinition"])

    async def describe_task_definition(self, ref: str) -> JSON | None:
        """The task definition ``ref`` (ARN or ``family:revision``); ``None`` if unknown."""
        ecs = await self._ecs()
        out = await self._call(
            "ecs",
            "DescribeTaskDefinition",
            ecs.describe_task_definition(taskDefinition=ref),
            allow={"ClientException"},
        )
        return None if out is None else dict(out["taskDefinition"])

    async def task_definition_arns(self, family: str, status: str) -> list[str]:
        """Every revision of ``family`` with ``status`` (``ACTIVE``/``INACTIVE``), oldest first."""
        ecs = await self._ecs()
        params = {"familyPrefix": family, "status": status, "sort": "ASC"}
        arns = await self._pages(
            "ecs",
            "ListTaskDefinitions",
            ecs.list_task_definitions,
            params,
            items="taskDefinitionArns",
        )
        return [a for a in arns or [] if _family(a) == family]

    async def deregister_task_definition(self, arn: str) -> None:
        ecs = await self._ecs()
        await self._call(
            "ecs",
            "DeregisterTaskDefinition",
            ecs.deregister_task_definition(taskDefinition=arn),
            allow={"ClientException"},
        )

    async def delete_task_definitions(self, arns: Sequence[str]) -> None:
        """Delete deregistered revisions (ten per call, as ECS takes them)."""
        ecs = await self._ecs()
        for i in range(0, len(arns), 10):
            await self._must(
                "ecs",
                "DeleteTaskDefinitions",
                ecs.delete_task_definitions(taskDefinitions=list(arns[i : i + 10])),
            )

    # ECS: services

    async def create_service(self, body: JSON) -> JSON:
        ecs = await self._ecs()
        out = await self._must("ecs", "CreateService", ecs.create_service(**body))
        return dict(out["service"])

    async def update_service(self, name: str, **fields: Any) -> JSON | None:
        """Change service ``name``; ``None`` when it is gone or not active."""
        ecs = await self._ecs()
        out = await self._call(
            "ecs",
            "UpdateService",
            ecs.update_service(cluster=self.cfg.cluster, service=name, **fields),
            allow={"ServiceNotFoundException", "ServiceNotActiveException"},
        )
        return None if out is None else dict(out["service"])

    async def delete_service(self, name: str) -> None:
        """Delete service ``name`` (its tasks are stopped); a missing one is fine."""
        ecs = await self._ecs()
        await self._call(
            "ecs",
            "DeleteService",
            ecs.delete_service(cluster=self.cfg.cluster, service=name, force=True),
            allow={"ServiceNotFoundException", "ServiceNotActiveException"},
        )

    async def describe_services(self, names: Sequence[str]) -> list[JSON]:
        """The services of ``names`` that exist (any status), with their tags."""
        ecs = await self._ecs()
        found: list[JSON] = []
        for i in range(0, len(names), 10):
            out = await self._must(
                "ecs",
                "DescribeServices",
                ecs.describe_services(
                    cluster=self.cfg.cluster, services=list(names[i : i + 10]), include=["TAGS"]
                ),
            )
            found += [dict(s) for s in out.get("services") or []]
        return found

    async def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        ecs = await self._ecs()
        await self._must(
            "ecs",
            "TagResource",
            ecs.tag_resource(
                resourceArn=arn, tags=[{"key": k, "value": v} for k, v in tags.items()]
            ),
        )

    async def untag(self, arn: str, keys: Iterable[str]) -> None:
        ecs = await self._ecs()
        await self._must(
            "ecs", "UntagResource", ecs.untag_resource(resourceArn=arn, tagKeys=list(keys))
        )

    # ECS: tasks

    async def task_arns(self, service: str, desired: str = "RUNNING") -> list[str]:
        """The tasks of ``service`` whose desired status is ``desired``; [] if it is gone."""
        ecs = await self._ecs()
        params = {"cluster": self.cfg.cluster, "serviceName": service, "desiredStatus": desired}
        arns = await self._pages(
            "ecs",
            "ListTasks",
            ecs.list_tasks,
            params,
            items="taskArns",
            allow={"ServiceNotFoundException"},
        )
        return list(arns or [])

    async def task_arns_started_by(self, started_by: str, desired: str) -> list[str]:
        """The tasks ``started_by`` (a deployment ID) whose desired status is ``desired``."""
        ecs = await self._ecs()
        params = {"cluster": self.cfg.cluster, "startedBy": started_by, "desiredStatus": desired}
        return list(
            await self._pages("ecs", "ListTasks", ecs.list_tasks, params, items="taskArns") or []
        )

    async def describe_tasks(self, arns: Sequence[str]) -> list[JSON]:
        ecs = await self._ecs()
        found: list[JSON] = []
        for i in range(0, len(arns), 100):
            out = await self._must(
                "ecs",
                "DescribeTasks",
                ecs.describe_tasks(cluster=self.cfg.cluster, tasks=list(arns[i : i + 100])),
            )
            found += [dict(t) for t in out.get("tasks") or []]
        return found

    # Resource Groups Tagging

    async def tagged_services(self, tags: Mapping[str, str]) -> list[JSON]:
        """ARNs and tags of the ECS services carrying every tag of ``tags`` (one filtered
        listing, paged)."""
        client = await self._tagging()
        params = {
            "TagFilters": [{"Key": k, "Values": [v]} for k, v in tags.items()],
            "ResourceTypeFilters": ["ecs:service"],
        }
        found = await self._pages(
            "resourcegroupstaggingapi",
            "GetResources",
            client.get_resources,
            params,
            items="ResourceTagMappingList",
            token="PaginationToken",
        )
        return [dict(r) for r in found or []]

    # Elastic Load Balancing

    async def target_health(self, group: str, targets: Sequence[tuple[str, int]]) -> list[JSON]:
        """The health of ``targets`` (address, port) in target group ``group``."""
        elb = await self._elbv2()
        out = await self._must(
            "elbv2",
            "DescribeTargetHealth",
            elb.describe_target_health(
                TargetGroupArn=group, Targets=[{"Id": ip, "Port": port} for ip, port in targets]
            ),
        )
        return [dict(d) for d in out.get("TargetHealthDescriptions") or []]

    async def target_group(self, arn: str) -> JSON:
        elb = await self._elbv2()
        out = await self._must(
            "elbv2", "DescribeTargetGroups", elb.describe_target_groups(TargetGroupArns=[arn])
        )
        groups = out.get("TargetGroups") or []
        if not groups:
            raise BackendError(f"target group {arn!r} does not exist", backend=BACKEND)
        return dict(groups[0])

    async def load_balancers(self, arns: Sequence[str]) -> list[JSON]:
        elb = await self._elbv2()
        out = await self._must(
            "elbv2",
            "DescribeLoadBalancers",
            elb.describe_load_balancers(LoadBalancerArns=list(arns)),
        )
        return [dict(lb) for lb in out.get("LoadBalancers") or []]

    async def listeners(self, load_balancer: str) -> list[JSON]:
        elb = await self._elbv2()
        out = await self._must(
            "elbv2", "DescribeListeners", elb.describe_listeners(LoadBalancerArn=load_balancer)
        )
        return [dict(listener) for listener in out.get("Listeners") or []]

    # CloudWatch Logs

    async def ensure_log_group(self, name: str) -> None:
        logs = await self._logs()
        await self._call(
            "logs",
            "CreateLogGroup",
            logs.create_log_group(logGroupName=name),
            allow={"ResourceAlreadyExistsException"},
        )

    async def log_group_exists(self, name: str) -> bool:
        logs = await self._logs()
        out = await self._must(
            "logs", "DescribeLogGroups", logs.describe_log_groups(logGroupNamePrefix=name)
        )
        return any(g.get("logGroupName") == name for g in out.get("logGroups") or [])

    async def log_streams(self, group: str, prefix: str) -> list[str]:
        """Names of the streams of ``group`` starting with ``prefix``; [] without the group."""
        logs = await self._logs()
        params = {"logGroupName": group, "logStreamNamePrefix": prefix}
        streams = await self._pages(
            "logs",
            "DescribeLogStreams",
            logs.describe_log_streams,
            params,
            items="logStreams",
            allow={"ResourceNotFoundException"},
        )
        return [str(s["logStreamName"]) for s in streams or []]

    async def delete_log_stream(self, group: str, stream: str) -> None:
        logs = await self._logs()
        await self._call(
            "logs",
            "DeleteLogStream",
            logs.delete_log_stream(logGroupName=group, logStreamName=stream),
            allow={"ResourceNotFoundException"},
        )

    async def log_events(
        self,
        group: str,
        stream: str,
        *,
        start_ms: int | None = None,
        from_head: bool = True,
        limit: int | None = None,
        token: str | None = None,
    ) -> JSON | None:
        """One ``GetLogEvents`` page; ``None`` when the stream (or group) does not exist."""
        logs = await self._logs()
        params: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": from_head,
        }
        if start_ms is not None:
            params["startTime"] = start_ms
        if limit is not None:
            params["limit"] = limit
        if token is not None:
            params["nextToken"] = token
        return await self._call(
            "logs",
            "GetLogEvents",
            logs.get_log_events(**params),
            allow={"ResourceNotFoundException"},
        )

    async def filter_log_events(self, group: str, pattern: str, start_ms: int) -> list[JSON]:
        """Every event of ``group`` matching ``pattern`` since ``start_ms``; [] without the
        group."""
        logs = await self._logs()
        params = {"logGroupName": group, "filterPattern": pattern, "startTime": start_ms}
        events = await self._pages(
            "logs",
            "FilterLogEvents",
            logs.filter_log_events,
            params,
            items="events",
            allow={"ResourceNotFoundException"},
        )
        return [dict(e) for e in events or []]

    # Secrets Manager

    async def put_secret(
        self, name: str, value: bytes, *, kms_key: str, tags: Mapping[str, str]
    ) -> str:
        """Store ``value`` as secret ``name`` (created, or given a new version); its ARN."""
        sm = await self._secrets()
        text = _text(value)
        params: dict[str, Any] = (
            {"SecretString": text} if text is not None else {"SecretBinary": value}
        )
        create: dict[str, Any] = {
            "Name": name,
            **params,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
        if kms_key:
            create["KmsKeyId"] = kms_key
        out = await self._call(
            "secretsmanager",
            "CreateSecret",
            sm.create_secret(**create),
            allow={"ResourceExistsException"},
        )
        if out is None:
            out = await self._must(
                "secretsmanager", "PutSecretValue", sm.put_secret_value(SecretId=name, **params)
            )
        return str(out["ARN"])

    async def secret_names(self, prefix: str) -> list[str]:
        sm = await self._secrets()
        params = {"Filters": [{"Key": "name", "Values": [prefix]}]}
        found = await self._pages(
            "secretsmanager",
            "ListSecrets",
            sm.list_secrets,
            params,
            items="SecretList",
            token="NextToken",
        )
        return [str(s["Name"]) for s in found or [] if str(s["Name"]).startswith(prefix)]

    async def delete_secret(self, name: str) -> None:
        sm = await self._secrets()
        await self._call(
            "secretsmanager",
            "DeleteSecret",
            sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True),
            allow={"ResourceNotFoundException"},
        )

    # SSM Parameter Store

    async def put_parameter(self, name: str, value: str, *, kms_key: str) -> None:
        ssm = await self._ssm()
        params: dict[str, Any] = {
            "Name": name,
            "Value": value,
            "Type": "SecureString",
            "Overwrite": True,
        }
        if kms_key:
            params["KeyId"] = kms_key
        await self._must("ssm", "PutParameter", ssm.put_parameter(**params))

    async def parameter_names(self, path: str) -> list[str]:
        ssm = await self._ssm()
        params = {"Path": path, "Recursive": True}
        found = await self._pages(
            "ssm",
            "GetParametersByPath",
            ssm.get_parameters_by_path,
            params,
            items="Parameters",
            token="NextToken",
        )
        return [str(p["Name"]) for p in found or []]

    async def delete_parameters(self, names: Sequence[str]) -> None:
        ssm = await self._ssm()
        for i in range(0, len(names), 10):
            await self._must(
                "ssm", "DeleteParameters", ssm.delete_parameters(Names=list(names[i : i + 10]))
            )

    # DynamoDB (the operation leases)

    async def get_item(self, table: str, key: Mapping[str, Any]) -> JSON | None:
        db = await self._dynamodb()
        out = await self._must(
            "dynamodb", "GetItem", db.get_item(TableName=table, Key=dict(key), ConsistentRead=True)
        )
        item = out.get("Item")
        return None if item is None else dict(item)

    async def put_item_if(
        self,
        table: str,
        item: Mapping[str, Any],
        condition: str,
        names: Mapping[str, str],
        values: Mapping[str, Any],
    ) -> bool:
        """Write ``item`` if ``condition`` holds (atomically); false when it does not."""
        db = await self._dynamodb()
        params: dict[str, Any] = {
            "TableName": table,
            "Item": dict(item),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": dict(names),
        }
        if values:
            params["ExpressionAttributeValues"] = dict(values)
        out = await self._call(
            "dynamodb", "PutItem", db.put_item(**params), allow={"ConditionalCheckFailedException"}
        )
        return out is not None

    async def delete_item_if(
        self,
        table: str,
        key: Mapping[str, Any],
        condition: str,
        names: Mapping[str, str],
        values: Mapping[str, Any],
    ) -> bool:
        db = await self._dynamodb()
        out = await self._call(
            "dynamodb",
            "DeleteItem",
            db.delete_item(
                TableName=table,
                Key=dict(key),
                ConditionExpression=condition,
                ExpressionAttributeNames=dict(names),
                ExpressionAttributeValues=dict(values),
            ),
            allow={"ConditionalCheckFailedException"},
        )
        return out is not None

    async def describe_table(self, table: str) -> JSON | None:
        db = await self._dynamodb()
        out = await self._call(
            "dynamodb",
            "DescribeTable",
            db.describe_table(TableName=table),
            allow={"ResourceNotFoundException"},
        )
        return None if out is None else dict(out["Table"])


def _family(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _text(value: bytes) -> str | None:
    """``value`` as text, or ``None`` when it is not UTF-8 (stored as binary)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
