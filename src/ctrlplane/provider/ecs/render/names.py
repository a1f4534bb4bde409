"""The names the backend gives what it creates (pure).

An instance ``inst_...`` is the ECS service ``<prefix><instance>`` running revisions of
the task definition family of the same name; during a blue-green or canary deploy its
new version runs in a second service, ``<prefix><instance>-b`` (and the next such deploy
goes back to the first name). Container names are the service names. Logs go to the
streams ``<instance>/<service>/<task id>``; secrets to ``<secret_prefix>/<instance>/
<service>/<key>`` (Secrets Manager) or ``/<secret_prefix>/<instance>/<service>/<key>``
(SSM). Tags and docker labels use the keys below.
"""

from __future__ import annotations

from ctrlplane.provider.ecs.config import EcsConfig, SecretStore

__all__ = [
    "FILES_CONTAINER",
    "LABEL_CREATED_AT",
    "LABEL_INSTANCE",
    "LABEL_RELEASE",
    "LABEL_RELEASED_AT",
    "LABEL_ROLLBACK_OF",
    "LABEL_SERVICE",
    "LABEL_SPEC",
    "LABEL_STRATEGY",
    "TAG_INSTANCE",
    "TAG_MANAGED",
    "TAG_NAME",
    "TAG_RELEASE",
    "TAG_REPLICAS",
    "TAG_ROLE",
    "TAG_STATE",
    "TAG_TENANT",
    "TAG_TRAFFIC",
    "family",
    "other_slot",
    "registry_secret_name",
    "secret_name",
    "secret_path",
    "service_names",
    "stream_name",
    "stream_prefix",
]

FILES_CONTAINER = "ctrlplane_files"
"""The init container that writes config files and file secrets (an underscore: no
service, whose names are DNS labels, can have this name)."""

TAG_MANAGED = "ctrlplane:managed"
TAG_INSTANCE = "ctrlplane:instance"
TAG_TENANT = "ctrlplane:tenant"
TAG_NAME = "ctrlplane:name"
TAG_RELEASE = "ctrlplane:release"
TAG_ROLE = "ctrlplane:role"
"""``live`` (the instance's service), ``candidate`` (a deploy's new service, not yet
live), ``retiring`` (the old service after a switch)."""
TAG_TRAFFIC = "ctrlplane:traffic"
"""``on`` when the service's tasks are listed as the instance's endpoints, ``off``."""
TAG_REPLICAS = "ctrlplane:replicas"
"""The desired count to restore on ``start`` (kept while stopped)."""
TAG_STATE = "ctrlplane:state"
"""``provisioning`` until the first provision completed, then ``ready``."""

LABEL_INSTANCE = "ctrlplane.instance"
LABEL_SERVICE = "ctrlplane.service"
LABEL_RELEASE = "ctrlplane.release"
LABEL_STRATEGY = "ctrlplane.strategy"
LABEL_ROLLBACK_OF = "ctrlplane.rollback-of"
LABEL_RELEASED_AT = "ctrlplane.released-at"
LABEL_CREATED_AT = "ctrlplane.created-at"
LABEL_SPEC = "ctrlplane.spec"


def family(cfg: EcsConfig, instance_id: str) -> str:
    """The task definition family (and the first service name) of an instance."""
    return f"{cfg.name_prefix}{instance_id}"


def service_names(cfg: EcsConfig, instance_id: str) -> tuple[str, str]:
    """The two service names an instance uses (one at rest, both during a deploy)."""
    base = family(cfg, instance_id)
    return base, f"{base}-b"


def other_slot(cfg: EcsConfig, instance_id: str, name: str) -> str:
    """The service name a new set beside service ``name`` takes."""
    first, second = service_names(cfg, instance_id)
    return second if name == first else first


def stream_prefix(instance_id: str) -> str:
    """The ``awslogs-stream-prefix`` of every container of the instance."""
    return instance_id


def stream_name(instance_id: str, container: str, task_id: str) -> str:
    return f"{stream_prefix(instance_id)}/{container}/{task_id}"


def secret_name(cfg: EcsConfig, instance_id: str, service: str, key: str) -> str:
    """Where the value of ``service``'s secret ``key`` is stored (per ``secret_store``)."""
    if cfg.secret_store is SecretStore.SSM:
        return f"{secret_path(cfg, instance_id)}/{service}/{key}"
    return f"{cfg.secret_prefix}/{instance_id}/{service}/{key}"


def registry_secret_name(cfg: EcsConfig, instance_id: str, service: str, key: str) -> str:
    """The Secrets Manager name of a registry login (ECS reads those from there only)."""
    return f"{cfg.secret_prefix}/{instance_id}/{service}/{key}"


def secret_path(cfg: EcsConfig, instance_id: str) -> str:
    """The SSM path holding every parameter of an instance."""
    return f"/{cfg.secret_prefix}/{instance_id}"
