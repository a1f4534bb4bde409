"""The ECS fake's objects as the API shows them (``DescribeTasks``, ``DescribeServices``...).

Task definitions are echoed as ECS echoes them: with the defaults ECS fills in (each
container's ``essential``, ``cpu`` 0, empty ``environment``/``mountPoints``/``volumesFrom``,
host ports of ``awsvpc`` port mappings equal to their container ports), the revision,
status, compatibilities and registration details.
"""

from __future__ import annotations

from typing import Any

from ..account import Account
from .model import Cluster, Deployment, Service, Task, TaskDefinition

__all__ = ["cluster_view", "definition_view", "normalized", "service_view", "task_view"]

JSON = dict[str, Any]


def normalized(body: JSON) -> JSON:
    """A registration request's task definition with the defaults ECS fills in."""
    out = {k: v for k, v in body.items() if k != "tags"}
    awsvpc = body.get("networkMode") == "awsvpc"
    containers = []
    for c in body["containerDefinitions"]:
        c = dict(c)
        c.setdefault("essential", True)
        c.setdefault("cpu", 0)
        for key in ("environment", "mountPoints", "volumesFrom", "portMappings", "systemControls"):
            c.setdefault(key, [])
        c["portMappings"] = [
            {**pm, "hostPort": pm["containerPort"], "protocol": pm.get("protocol", "tcp")}
            if awsvpc
            else {**pm, "protocol": pm.get("protocol", "tcp")}
            for pm in c["portMappings"]
        ]
        containers.append(c)
    out["containerDefinitions"] = containers
    out.setdefault("volumes", [])
    out.setdefault("placementConstraints", [])
    return out


def definition_view(d: TaskDefinition, account: Account) -> JSON:
    compat = ["EC2", "FARGATE"] if d.body.get("networkMode") == "awsvpc" else ["EC2"]
    out: JSON = {
        **d.body,
        "taskDefinitionArn": d.arn,
        "revision": d.revision,
        "status": d.status,
        "compatibilities": compat,
        "requiresAttributes": [],
        "registeredAt": d.registered_at,
        "registeredBy": account.arn("iam", "user/ctrlplane-test", region=False),
    }
    if d.deregistered_at is not None:
        out["deregisteredAt"] = d.deregistered_at
    if d.delete_requested_at is not None:
        out["deleteRequestedAt"] = d.delete_requested_at
    return out


def cluster_view(
    c: Cluster, tasks: list[Task], active_services: int, *, settings: bool, tags: bool
) -> JSON:
    out: JSON = {
        "clusterArn": c.arn,
        "clusterName": c.name,
        "status": "ACTIVE",
        "registeredContainerInstancesCount": 1 if c.ec2_capacity else 0,
        "runningTasksCount": len([t for t in tasks if t.last_status == "RUNNING"]),
        "pendingTasksCount": len(
            [t for t in tasks if t.last_status in ("PROVISIONING", "PENDING")]
        ),
        "activeServicesCount": active_services,
        "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
        "statistics": [],
    }
    if settings:
        out["settings"] = [{"name": "containerInsights", "value": c.insights}]
    if tags:
        out["tags"] = list(c.tags)
    return out


def _deployment_view(d: Deployment, service: Service, tasks: list[Task]) -> JSON:
    mine = [t for t in tasks if t.deployment == d.id and t.desired_status == "RUNNING"]
    return {
        "id": d.id,
        "status": d.status,
        "taskDefinition": d.task_definition,
        "desiredCount": d.desired if d.status == "PRIMARY" else len(mine),
        "pendingCount": len([t for t in mine if t.last_status in ("PROVISIONING", "PENDING")]),
        "runningCount": len([t for t in mine if t.last_status == "RUNNING"]),
        "failedTasks": d.failed_tasks,
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
        "launchType": service.launch_type,
        "platformVersion": "1.4.0" if service.launch_type == "FARGATE" else None,
        "platformFamily": "Linux" if service.launch_type == "FARGATE" else None,
        "networkConfiguration": service.network or None,
        "rolloutState": d.rollout_state,
        "rolloutStateReason": d.rollout_reason,
    }


def service_view(s: Service, tasks: list[Task], *, tags: bool) -> JSON:
    running = [t for t in tasks if t.desired_status == "RUNNING"]
    request = s.request
    out: JSON = {
        "serviceArn": s.arn,
        "serviceName": s.name,
        "clusterArn": s.cluster.arn,
        "status": s.status,
        "desiredCount": s.desired,
        "runningCount": len([t for t in running if t.last_status == "RUNNING"]),
        "pendingCount": len([t for t in running if t.last_status in ("PROVISIONING", "PENDING")]),
        "launchType": s.launch_type if not request.get("capacityProviderStrategy") else None,
        "capacityProviderStrategy": request.get("capacityProviderStrategy"),
        "platformVersion": "LATEST" if s.launch_type == "FARGATE" else None,
        "taskDefinition": s.task_definition,
        "deploymentConfiguration": s.deployment_config,
        "deployments": [_deployment_view(d, s, tasks) for d in s.deployments]
        if s.status != "INACTIVE"
        else [],
        "events": [{"id": e.id, "createdAt": e.at, "message": e.message} for e in s.events],
        "createdAt": s.created_at,
        "networkConfiguration": s.network or None,
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
        "createdBy": s.arn.split(":ecs:")[0]
        + ":iam::"
        + s.arn.split(":")[4]
        + ":role/ctrlplane-test",
        "enableECSManagedTags": bool(request.get("enableECSManagedTags")),
        "propagateTags": request.get("propagateTags", "NONE"),
        "enableExecuteCommand": bool(request.get("enableExecuteCommand")),
    }
    if tags:
        out["tags"] = list(s.tags)
    return out


def task_view(t: Task, account: Account, *, tags: bool) -> JSON:
    containers = []
    for run in t.containers:
        d = run.definition
        c: JSON = {
            "containerArn": run.arn,
            "taskArn": t.arn,
            "name": run.name,
            "image": d["image"],
            "lastStatus": run.last_status,
            "networkInterfaces": [{"attachmentId": t.eni, "privateIpv4Address": t.ip}]
            if t.ip
            else [],
            "networkBindings": [],
            "cpu": str(d.get("cpu") or 0),
        }
        if run.runtime_id:
            c["runtimeId"] = run.runtime_id
            c["imageDigest"] = "sha256:" + (run.runtime_id.encode().hex() * 4)[:64]
        if run.exit_code is not None and run.last_status == "STOPPED":
            c["exitCode"] = run.exit_code
        if run.reason:
            c["reason"] = run.reason
        if d.get("healthCheck"):
            c["healthStatus"] = run.health
        if d.get("memory"):
            c["memory"] = str(d["memory"])
        if d.get("memoryReservation"):
            c["memoryReservation"] = str(d["memoryReservation"])
        containers.append(c)
    details = [
        {"name": "subnetId", "value": t.subnet},
        {"name": "networkInterfaceId", "value": t.eni},
    ]
    if t.ip:
        details.append({"name": "privateIPv4Address", "value": t.ip})
    attachment_status = {
        "PROVISIONING": "PRECREATED",
        "STOPPED": "DELETED",
        "DEPROVISIONING": "DELETED",
    }.get(t.last_status, "ATTACHED")
    out: JSON = {
        "taskArn": t.arn,
        "clusterArn": t.cluster.arn,
        "taskDefinitionArn": t.definition.arn,
        "group": t.group,
        "startedBy": t.started_by or None,
        "launchType": t.launch_type,
        "lastStatus": t.last_status,
        "desiredStatus": t.desired_status,
        "createdAt": t.created_at,
        "pullStartedAt": t.pull_started_at,
        "pullStoppedAt": t.pull_stopped_at,
        "startedAt": t.started_at,
        "stoppingAt": t.stopping_at,
        "stoppedAt": t.stopped_at,
        "executionStoppedAt": t.stopped_at,
        "stopCode": t.stop_code or None,
        "stoppedReason": t.stopped_reason or None,
        "containers": containers,
        "cpu": t.definition.body.get("cpu"),
        "memory": t.definition.body.get("memory"),
        "connectivity": "CONNECTED" if t.ip else None,
        "healthStatus": t.health,
        "version": t.version,
        "availabilityZone": f"{account.region}a",
        "platformVersion": "1.4.0" if t.launch_type == "FARGATE" else None,
        "platformFamily": "Linux" if t.launch_type == "FARGATE" else None,
        "attachments": [
            {
                "id": t.eni,
                "type": "ElasticNetworkInterface",
                "status": attachment_status,
                "details": details,
            }
        ],
        "enableExecuteCommand": False,
    }
    if tags:
        out["tags"] = list(t.tags)
    return out
