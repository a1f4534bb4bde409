"""The ECS service of an instance (pure): the ``CreateService`` request.

A service runs ``desiredCount`` tasks (the main service's ``replicas``, at least 1) of one
task definition revision, on Fargate (``launchType``, or a ``capacityProviderStrategy``
of the configured capacity provider) or EC2, in the configured subnets and security
groups. Deployments are ECS rolling updates (at most 200% of the desired count, never
below 100% healthy) with the deployment circuit breaker and its rollback on; tags are
propagated from the service to its tasks.
"""

from __future__ import annotations

from collections.abc import Mapping

from ctrlplane.provider.ecs.config import EcsConfig
from ctrlplane.provider.ecs.render.tags import tag_list
from ctrlplane.provider.native import JSON

__all__ = ["DEPLOYMENT_CONFIGURATION", "create_service", "network_configuration", "placement"]

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


def create_service(
    cfg: EcsConfig, *, name: str, task_definition: str, desired: int, tags: Mapping[str, str]
) -> JSON:
    """The ``CreateService`` request of service ``name``."""
    return {
        "cluster": cfg.cluster,
        "serviceName": name,
        "taskDefinition": task_definition,
        "desiredCount": desired,
        **placement(cfg),
        "networkConfiguration": network_configuration(cfg),
        "deploymentConfiguration": DEPLOYMENT_CONFIGURATION,
        "deploymentController": {"type": "ECS"},
        "schedulingStrategy": "REPLICA",
        "propagateTags": "SERVICE",
        "enableECSManagedTags": True,
        "enableExecuteCommand": False,
        "tags": tag_list(tags),
    }
