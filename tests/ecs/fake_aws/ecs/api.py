"""The ECS fake's API: the operations a client of ECS calls, over :class:`~.state.EcsState`.

Clusters are made by the test (:meth:`EcsApi.add_cluster`), as an operator would. The
operations follow ECS: task definitions are registered in families with ever-increasing
revisions, deregistered (``INACTIVE``, still describable and usable by running services)
and deleted (``DELETE_IN_PROGRESS`` until no task uses them, then gone); a service's name
is unique among its cluster's ``ACTIVE`` and ``DRAINING`` services (an identical
``CreateService`` returns the existing one, a different one is "not idempotent", a
``DRAINING`` one blocks the name); ``DeleteService`` needs ``force`` or a desired count of
0; ``UpdateService`` starts a new deployment when the task definition, the network or
``forceNewDeployment`` asks for one, and only changes the desired count otherwise. Tasks
(stopped ones too) can be listed and described; tags can be read and changed on
clusters, services, task definitions and tasks. Semantic rules: :mod:`.rules`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from ..account import Account, Clock
from ..elbv2 import ElbV2
from ..errors import AwsError
from ..wire import ServiceApi
from .model import Cluster, Deployment, Service, Task, TaskDefinition, deployment_id
from .rules import check_service, check_task_definition
from .state import EcsState
from .tasks import Agent
from .views import cluster_view, definition_view, normalized, service_view, task_view

__all__ = ["EcsApi"]

JSON = dict[str, Any]
MAX_DEFINITION_BYTES = 65_536


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


class EcsApi:
    """The operations (see the module docs); :attr:`api` is what the front door serves."""

    def __init__(
        self,
        state: EcsState,
        agent: Agent,
        account: Account,
        clock: Clock,
        *,
        subnets: Collection[str],
        security_groups: Collection[str],
        elb: ElbV2 | None = None,
    ) -> None:
        self.elb = elb
        self.state = state
        self.agent = agent
        self.account = account
        self.clock = clock
        self.subnets = list(subnets)
        self.security_groups = set(security_groups)
        self._subnet_turn = 0
        self.api = ServiceApi(
            "ecs",
            {
                "DescribeClusters": self.describe_clusters,
                "RegisterTaskDefinition": self.register,
                "DescribeTaskDefinition": self.describe_definition,
                "ListTaskDefinitions": self.list_definitions,
                "DeregisterTaskDefinition": self.deregister,
                "DeleteTaskDefinitions": self.delete_definitions,
                "CreateService": self.create_service,
                "UpdateService": self.update_service,
                "DeleteService": self.delete_service,
                "DescribeServices": self.describe_services,
                "ListServices": self.list_services,
                "ListTasks": self.list_tasks,
                "DescribeTasks": self.describe_tasks,
                "StopTask": self.stop_task,
                "TagResource": self.tag_resource,
                "UntagResource": self.untag_resource,
                "ListTagsForResource": self.list_tags,
            },
            validation_code="InvalidParameterException",
        )

    # clusters

    def add_cluster(
        self, name: str, *, insights: str = "disabled", ec2_capacity: bool = False
    ) -> Cluster:
        cluster = Cluster(name, self.account.arn("ecs", f"cluster/{name}"), insights, ec2_capacity)
        self.state.clusters[name] = cluster
        return cluster

    def _cluster(self, ref: str | None) -> Cluster:
        name = (ref or "default").rsplit("/", 1)[-1]
        cluster = self.state.clusters.get(name)
        if cluster is None:
            raise AwsError("ClusterNotFoundException", "Cluster not found.")
        return cluster

    def describe_clusters(self, body: JSON) -> JSON:
        include = set(body.get("include") or [])
        found, failures = [], []
        for ref in body.get("clusters") or ["default"]:
            cluster = self.state.clusters.get(ref.rsplit("/", 1)[-1])
            if cluster is None:
                failures.append(
                    {"arn": self.account.arn("ecs", f"cluster/{ref}"), "reason": "MISSING"}
                )
                continue
            tasks = [t for t in self.state.tasks.values() if t.cluster is cluster and t.active]
            services = [
                s
                for s in self.state.services.values()
                if s.cluster is cluster and s.status == "ACTIVE"
            ]
            found.append(
                cluster_view(
                    cluster,
                    tasks,
                    len(services),
                    settings="SETTINGS" in include,
                    tags="TAGS" in include,
                )
            )
        return {"clusters": found, "failures": failures}

    # task definitions

    def _definition(self, ref: str) -> TaskDefinition:
        text = ref.split("task-definition/", 1)[-1]
        family, _, revision = text.partition(":")
        if revision:
            found = self.state.definitions.get(
                self.account.arn("ecs", f"task-definition/{family}:{revision}")
            )
        else:
            active = [d for d in self.state.family(family) if d.status == "ACTIVE"]
            found = active[-1] if active else None
        if found is None:
            raise AwsError("ClientException", "Unable to describe task definition.")
        return found

    def register(self, body: JSON) -> JSON:
        size = len(json.dumps(body, separators=(",", ":")).encode())
        if size > MAX_DEFINITION_BYTES:
            raise AwsError(
                "ClientException",
                f"Actual task definition size ({size} bytes) exceeds the limit "
                f"({MAX_DEFINITION_BYTES} bytes).",
            )
        if len(body.get("tags") or []) > 50:
            raise _invalid("A resource can have at most 50 tags.")
        check_task_definition(body)
        family = body["family"]
        revision = self.state.revisions.get(family, 0) + 1
        self.state.revisions[family] = revision
        arn = self.account.arn("ecs", f"task-definition/{family}:{revision}")
        definition = TaskDefinition(
            family=family,
            revision=revision,
            arn=arn,
            body=normalized(body),
            registered_at=self.clock.now(),
            tags=list(body.get("tags") or []),
        )
        self.state.definitions[arn] = definition
        return {
            "taskDefinition": definition_view(definition, self.account),
            "tags": definition.tags,
        }

    def describe_definition(self, body: JSON) -> JSON:
        d = self._definition(body["taskDefinition"])
        out: JSON = {"taskDefinition": definition_view(d, self.account)}
        if "TAGS" in (body.get("include") or []):
            out["tags"] = list(d.tags)
        return out

    def list_definitions(self, body: JSON) -> JSON:
        prefix = body.get("familyPrefix", "")
        status = body.get("status", "ACTIVE")
        found = sorted(
            (
                d
                for d in self.state.definitions.values()
                if d.family.startswith(prefix) and (status == "ALL" or d.status == status)
            ),
            key=lambda d: (d.family, d.revision),
            reverse=body.get("sort") == "DESC",
        )
        start = int(body.get("nextToken") or 0)
        size = int(body.get("maxResults") or 100)
        out: JSON = {"taskDefinitionArns": [d.arn for d in found[start : start + size]]}
        if start + size < len(found):
            out["nextToken"] = str(start + size)
        return out

    def deregister(self, body: JSON) -> JSON:
        ref = body["taskDefinition"]
        if ":" not in ref.split("task-definition/", 1)[-1]:
            raise AwsError(
                "ClientException", "A revision is required to deregister a task definition."
            )
        d = self._definition(ref)
        if d.status == "ACTIVE":
            d.status = "INACTIVE"
            d.deregistered_at = self.clock.now()
        return {"taskDefinition": definition_view(d, self.account)}

    def delete_definitions(self, body: JSON) -> JSON:
        done, failures = [], []
        for ref in body["taskDefinitions"]:
            try:
                d = self._definition(ref)
            except AwsError:
                failures.append(
                    {"arn": ref, "reason": "The specified task definition does not exist."}
                )
                continue
            if d.status == "ACTIVE":
                failures.append(
                    {
                        "arn": d.arn,
                        "reason": "The specified task definition is still in ACTIVE status. "
                        "Please deregister the target and try again.",
                    }
                )
                continue
            if d.status == "INACTIVE":
                d.status = "DELETE_IN_PROGRESS"
                d.delete_requested_at = self.clock.now()
            done.append(definition_view(d, self.account))
        return {"taskDefinitions": done, "failures": failures}

    # services

    def _service(self, cluster: Cluster, ref: str, *, active: bool = True) -> Service:
        name = ref.rsplit("/", 1)[-1]
        service = self.state.services.get((cluster.name, name))
        if service is None:
            raise AwsError("ServiceNotFoundException", "Service not found.")
        if active and service.status != "ACTIVE":
            raise AwsError("ServiceNotActiveException", "Service was not ACTIVE.")
        return service

    def _launch_type(self, body: JSON, definition: TaskDefinition) -> str:
        strategy = body.get("capacityProviderStrategy")
        if strategy:
            providers = {s["capacityProvider"] for s in strategy}
            unknown = providers - {"FARGATE", "FARGATE_SPOT"}
            if unknown:
                raise _invalid(
                    f"The specified capacity provider {sorted(unknown)[0]} was not found."
                )
            return "FARGATE"
        return str(body.get("launchType") or "EC2")

    def create_service(self, body: JSON) -> JSON:
        cluster = self._cluster(body.get("cluster"))
        name = body["serviceName"]
        if not name or len(name) > 255 or not all(c.isalnum() or c in "-_" for c in name):
            raise _invalid("Service name: up to 255 letters, numbers, hyphens and underscores.")
        definition = self._definition(body.get("taskDefinition", ""))
        if definition.status != "ACTIVE":
            raise AwsError("ClientException", f"TaskDefinition is inactive ({definition.arn})")
        existing = self.state.services.get((cluster.name, name))
        if existing is not None and existing.status == "DRAINING":
            raise _invalid("Unable to Start a service that is still Draining.")
        if existing is not None and existing.status == "ACTIVE":
            if {k: v for k, v in existing.request.items() if k != "clientToken"} != {
                k: v for k, v in body.items() if k != "clientToken"
            }:
                raise _invalid("Creation of service was not idempotent.")
            return {"service": self._service_view(existing)}
        launch_type = self._launch_type(body, definition)
        check_service(
            body,
            definition.body,
            subnets=self.subnets,
            security_groups=self.security_groups,
            launch_type=launch_type,
        )
        if len(body.get("tags") or []) > 50:
            raise _invalid("A resource can have at most 50 tags.")
        self._check_load_balancers(body, definition)
        desired = body.get("desiredCount")
        if desired is None:
            raise _invalid("desiredCount is required for a service with the REPLICA strategy.")
        now = self.clock.now()
        config = body.get("deploymentConfiguration") or {}
        config = {"maximumPercent": 200, "minimumHealthyPercent": 100, **config}
        service = Service(
            name=name,
            arn=self.account.arn("ecs", f"service/{cluster.name}/{name}"),
            cluster=cluster,
            request=dict(body),
            task_definition=definition.arn,
            desired=desired,
            created_at=now,
            launch_type=launch_type,
            network=body.get("networkConfiguration") or {},
            deployment_config=config,
            tags=list(body.get("tags") or []),
        )
        service.deployments.append(Deployment(deployment_id(), definition.arn, desired, now, now))
        self.state.services[(cluster.name, name)] = service
        return {"service": self._service_view(service)}

    def _check_load_balancers(self, body: JSON, definition: TaskDefinition) -> None:
        """ECS's rules for a service's target groups (``ip`` targets for ``awsvpc``, the
        container and port mapped, a group behind a load balancer)."""
        lbs = body.get("loadBalancers") or []
        if body.get("healthCheckGracePeriodSeconds") is not None and not lbs:
            raise _invalid(
                "Health check grace period is only valid for services configured to use load "
                "balancers"
            )
        for lb in lbs:
            arn = lb.get("targetGroupArn")
            group = self.elb.group(arn) if self.elb is not None and arn else None
            if group is None:
                raise _invalid(f"Unable to find the target group {arn!r}")
            if definition.body.get("networkMode") == "awsvpc" and group.target_type != "ip":
                raise _invalid(
                    f"The provided target group {arn} has target type {group.target_type}, which "
                    "is incompatible with the awsvpc network mode specified in the task definition."
                )
            if not group.load_balancers:
                raise _invalid(f"The target group {arn} does not have an associated load balancer.")
            names = {c["name"]: c for c in definition.containers}
            container = names.get(lb.get("containerName", ""))
            ports = [pm["containerPort"] for pm in (container or {}).get("portMappings") or []]
            if container is None or lb.get("containerPort") not in ports:
                raise _invalid(
                    f"The container {lb.get('containerName')} did not have a container port "
                    f"{lb.get('containerPort')} defined."
                )

    def update_service(self, body: JSON) -> JSON:
        cluster = self._cluster(body.get("cluster"))
        service = self._service(cluster, body["service"])
        definition = self.state.definitions.get(service.task_definition)
        new_definition = body.get("taskDefinition")
        if new_definition is not None:
            definition = self._definition(new_definition)
        assert definition is not None
        network = body.get("networkConfiguration") or service.network
        merged = {**service.request, **{k: v for k, v in body.items() if k != "service"}}
        merged["networkConfiguration"] = network
        check_service(
            merged,
            definition.body,
            subnets=self.subnets,
            security_groups=self.security_groups,
            launch_type=service.launch_type,
        )
        now = self.clock.now()
        if "desiredCount" in body:
            service.desired = body["desiredCount"]
        if "deploymentConfiguration" in body:
            service.deployment_config = {
                **service.deployment_config,
                **body["deploymentConfiguration"],
            }
        fresh = (
            (new_definition is not None and definition.arn != service.task_definition)
            or bool(body.get("forceNewDeployment"))
            or network != service.network
        )
        service.network = network
        if fresh:
            service.task_definition = definition.arn
            service.primary.status = "ACTIVE"
            service.deployments.insert(
                0, Deployment(deployment_id(), definition.arn, service.desired, now, now)
            )
        return {"service": self._service_view(service)}

    def delete_service(self, body: JSON) -> JSON:
        cluster = self._cluster(body.get("cluster"))
        service = self._service(cluster, body["service"], active=False)
        if service.status == "INACTIVE":
            raise AwsError("ServiceNotActiveException", "Service was not ACTIVE.")
        if service.desired > 0 and not body.get("force"):
            raise _invalid("The service cannot be stopped while it is scaled above 0.")
        service.desired = 0
        service.status = "DRAINING"
        return {"service": self._service_view(service)}

    def _service_view(self, service: Service, *, tags: bool = False) -> JSON:
        return service_view(service, self.state.service_tasks(service), tags=tags)

    def describe_services(self, body: JSON) -> JSON:
        cluster = self._cluster(body.get("cluster"))
        if len(body["services"]) > 10:
            raise _invalid("services can have at most 10 items.")
        tags = "TAGS" in (body.get("include") or [])
        found, failures = [], []
        for ref in body["services"]:
            service = self.state.services.get((cluster.name, ref.rsplit("/", 1)[-1]))
            if service is None:
                failures.append(
                    {
                        "arn": self.account.arn("ecs", f"service/{cluster.name}/{ref}"),
                        "reason": "MISSING",
                    }
                )
            else:
                found.append(self._service_view(service, tags=tags))
        return {"services": found, "failures": failures}

    def list_services(self, body: JSON) -> JSON:
        cluster = self._cluster(body.get("cluster"))
        found = [
            s.arn
            for (c, _), s in sorted(self.state.services.items())
            if c == cluster.name and s.status != "INACTIVE"
        ]
        start = int(body.get("nextToken") or 0)
        size = int(body.get("maxResults") or 10)
        out: JSON = {"serviceArns": found[start : start + size]}
        if start + size < len(found):
            out["nextToken"] = str(start + size)
        return out

    # tasks

    def launch(self, service: Service, deployment: Deployment) -> Task:
        """Start one task of ``service``'s ``deployment`` (the scheduler's placement)."""
        definition = self.state.definitions[deployment.task_definition]
        subnets = service.network.get("awsvpcConfiguration", {}).get("subnets") or self.subnets
        subnet = subnets[self._subnet_turn % len(subnets)]
        self._subnet_turn += 1
        tags: list[JSON] = []
        if service.request.get("propagateTags") == "SERVICE":
            tags += service.tags
        elif service.request.get("propagateTags") == "TASK_DEFINITION":
            tags += definition.tags
        if service.request.get("enableECSManagedTags"):
            tags += [
                {"key": "aws:ecs:serviceName", "value": service.name},
                {"key": "aws:ecs:clusterName", "value": service.cluster.name},
            ]
        task = self.agent.create(
            service.cluster,
            definition,
            group=f"service:{service.name}",
            started_by=deployment.id,
            launch_type=service.launch_type,
            subnet=subnet,
            service=service.name,
            deployment=deployment.id,
            tags=tags,
        )
        if service.launch_type == "EC2" and not service.cluster.ec2_capacity:
            self.agent.stop(
                task,
                "TaskFailedToStart",
                "RESOURCE:CPU: no container instance met all of its requirements",
                failed=True,
            )
        self.state.tasks[task.arn] = task
        return task

    def _task(self, cluster: Cluster, ref: str) -> Task | None:
        task_id = ref.rsplit("/", 1)[-1]
        return self.state.tasks.get(self.account.arn("ecs", f"task/{cluster.name}/{task_id}"))

    def list_tasks(self, body: JSON) -> JSON:
        cluster = self._cluster(body.get("cluster"))
        service_name = body.get("serviceName")
        if service_name is not None:
            self._service(cluster, service_name, active=False)
        desired = body.get("desiredStatus", "RUNNING")
        found = [
            t
            for t in self.state.tasks.values()
            if t.cluster is cluster
            and (service_name is None or t.service == service_name.rsplit("/", 1)[-1])
            and ("startedBy" not in body or t.started_by == body["startedBy"])
            and ("family" not in body or t.definition.family == body["family"])
            and (t.desired_status == desired)
        ]
        found.sort(key=lambda t: t.created_at)
        start = int(body.get("nextToken") or 0)
        size = int(body.get("maxResults") or 100)
        out: JSON = {"taskArns": [t.arn for t in found[start : start + size]]}
        if start + size < len(found):
            out["nextToken"] = str(start + size)
        return out

    def describe_tasks(self, body: JSON) -> JSON:
        cluster = self._cluster(body.get("cluster"))
        if len(body["tasks"]) > 100:
            raise _invalid("tasks can have at most 100 items.")
        tags = "TAGS" in (body.get("include") or [])
        found, failures = [], []
        for ref in body["tasks"]:
            task = self._task(cluster, ref)
            if task is None:
                failures.append({"arn": ref, "reason": "MISSING"})
            else:
                found.append(task_view(task, self.account, tags=tags))
        return {"tasks": found, "failures": failures}

    def stop_task(self, body: JSON) -> JSON:
        cluster = self._cluster(body.get("cluster"))
        task = self._task(cluster, body["task"])
        if task is None:
            raise _invalid("The referenced task was not found.")
        self.agent.stop(task, "UserInitiated", body.get("reason") or "Task stopped by user")
        return {"task": task_view(task, self.account, tags=False)}

    # tags

    def _tagged(self, arn: str) -> list[JSON]:
        for s in self.state.services.values():
            if s.arn == arn and s.status != "INACTIVE":
                return s.tags
        for d in self.state.definitions.values():
            if d.arn == arn:
                return d.tags
        for t in self.state.tasks.values():
            if t.arn == arn:
                return t.tags
        for c in self.state.clusters.values():
            if c.arn == arn:
                return c.tags
        raise _invalid(f"The specified resource does not exist: {arn}")

    def tag_resource(self, body: JSON) -> JSON:
        tags = self._tagged(body["resourceArn"])
        for tag in body["tags"]:
            if tag["key"].lower().startswith("aws:"):
                raise _invalid("Tag keys beginning with aws: are reserved.")
            tags[:] = [t for t in tags if t["key"] != tag["key"]] + [tag]
        if len(tags) > 50:
            raise _invalid("A resource can have at most 50 tags.")
        return {}

    def untag_resource(self, body: JSON) -> JSON:
        tags = self._tagged(body["resourceArn"])
        tags[:] = [t for t in tags if t["key"] not in set(body["tagKeys"])]
        return {}

    def list_tags(self, body: JSON) -> JSON:
        return {"tags": list(self._tagged(body["resourceArn"]))}
