"""What ``EcsProvider.render`` shows (pure): the ``RegisterTaskDefinition`` and
``CreateService`` requests ``provision`` would send for a request, with placeholders
for what only AWS knows.

Secrets appear only as references to where their values would be stored (the account as
``<account>``), the region as ``<region>`` when none is configured, the task definition
as ``<family>:<revision>``; the release is a placeholder of zeros released at the epoch.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ctrlplane.provider.ecs.config import EcsConfig
from ctrlplane.provider.ecs.render.labels import ReleaseInfo
from ctrlplane.provider.ecs.render.names import family
from ctrlplane.provider.ecs.render.service import create_service
from ctrlplane.provider.ecs.render.sizes import TaskSize, task_size
from ctrlplane.provider.ecs.render.tags import service_tags
from ctrlplane.provider.ecs.render.taskdef import placeholder_references, task_definition
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["RENDERED", "placeholder_definition", "provision_requests"]

RENDERED = ReleaseInfo("rel_" + "0" * 26, datetime(1970, 1, 1, tzinfo=UTC))
"""The release a rendered request shows (``provision`` mints a new one)."""


def placeholder_definition(
    req: ProvisionRequest, config: EcsConfig, region: str, size: TaskSize
) -> JSON:
    """The task definition of ``req`` in ``region`` with the placeholder release and
    secret references (as large as the real one: the preflight measures it)."""
    references = placeholder_references(req, config, region)
    return task_definition(req, RENDERED, config, region=region, references=references, size=size)


def provision_requests(req: ProvisionRequest, config: EcsConfig) -> list[JSON]:
    """The requests ``provision`` would send for ``req`` (see the module docs)."""
    region = config.region or "<region>"
    body = placeholder_definition(req, config, region, task_size(req.services, config))
    name = family(config, req.instance_id)
    replicas = max(req.main.resources.replicas, 1)
    tags = service_tags(
        req, RENDERED.release_id, role="live", traffic=True, replicas=replicas, state="ready"
    )
    service = create_service(
        config,
        name=name,
        task_definition=f"{name}:<revision>",
        desired=replicas,
        tags=tags,
        main=req.main,
    )
    return [{"RegisterTaskDefinition": body}, {"CreateService": service}]
