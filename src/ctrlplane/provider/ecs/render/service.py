"""The ECS service of an instance (pure): the ``CreateService`` request.

A service runs ``desiredCount`` tasks (the main service's ``replicas``, at least 1) of one
task definition revision, on Fargate (``launchType``, or a ``capacityProviderStrategy``
of the configured capacity provider) or EC2, in the configured subnets and security
groups. Deployments are ECS rolling updates (at most 200% of the desired count, never
below 100% healthy) with the deployment circuit breaker and its rollback on; tags are
propagated from the service to its tasks. With a configured target group, the main
service's tasks are registered in it (``loadBalancers``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.ecs.config import EcsConfig
from ctrlplane.provider.ecs.render.tags import tag_list
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ServiceSpec

__all__ = [
    "DEPLOYMENT_CONFIGURATION",
    "create_service",
    "load_balancing",
    "network_configuration",
    "placement",
]

DEPLOYMENT_CONFIGURATION: JSON = {
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


def network_configuration(cfg: EcsConfig) -> JSON:
    vpc: JSON = {
        "subnets": list(cfg.subnets),
        "assignPublicIp": "ENABLED" if cfg.assign_public_ip else "DISABLED",
    }
    if cfg.security_groups:
        vpc["securityGroups"] = list(cfg.security_groups)
    return {"awsvpcConfiguration": vpc}


def placement(cfg: EcsConfig) -> JSON:
    """``launchType`` (and platform version), or the capacity provider strategy."""
    if cfg.capacity_provider:
        return {
            "capacityProviderStrategy": [{"capacityProvider": cfg.capacity_provider, "weight": 1}],
            "platformVersion": cfg.platform_version,
        }
    out: JSON = {"launchType": str(cfg.launch_type)}
    if str(cfg.launch_type) == "FARGATE":
        out["platformVersion"] = cfg.platform_version
    return out


def load_balancing(cfg: EcsConfig, main: ServiceSpec) -> JSON:
    """The service's ``loadBalancers`` (the configured target group reaching the main
    service's port) and grace period; nothing without a target group."""
    if not cfg.target_group_arn:
        return {}
    port = cfg.load_balancer_port or (main.ports[0].container if main.ports else 0)
    return {
        "loadBalancers": [
            {
                "targetGroupArn": cfg.target_group_arn,
                "containerName": main.name,
                "containerPort": port,
            }
        ],
        "healthCheckGracePeriodSeconds": int(seconds(cfg.health_check_grace_period)),
    }


def create_service(
    cfg: EcsConfig,
    *,
    name: str,
    task_definition: str,
    desired: int,
    tags: Mapping[str, str],
    main: ServiceSpec,
) -> JSON:
    """The ``CreateService`` request of service ``name`` (``main``: the main service)."""
    return {
        "cluster": cfg.cluster,
        "serviceName": name,
        "taskDefinition": task_definition,
        "desiredCount": desired,
        **placement(cfg),
        "networkConfiguration": network_configuration(cfg),
        **load_balancing(cfg, main),
        "deploymentConfiguration": DEPLOYMENT_CONFIGURATION,
        "deploymentController": {"type": "ECS"},
        "schedulingStrategy": "REPLICA",
        "propagateTags": "SERVICE",
        "enableECSManagedTags": True,
        "enableExecuteCommand": False,
        "tags": tag_list(tags),
    }
