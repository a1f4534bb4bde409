"""Spec -> ECS requests (pure): the task definition (:mod:`.taskdef`, with
:mod:`.health`, :mod:`.files`, :mod:`.sizes`, :mod:`.labels`), the service
(:mod:`.service`), names (:mod:`.names`) and tags (:mod:`.tags`); what ``render()``
shows (:mod:`.preview`)."""

from ctrlplane.provider.ecs.render.labels import ReleaseInfo
from ctrlplane.provider.ecs.render.preview import provision_requests
from ctrlplane.provider.ecs.render.service import create_service
from ctrlplane.provider.ecs.render.sizes import TaskSize, task_size
from ctrlplane.provider.ecs.render.taskdef import placeholder_references, task_definition

__all__ = [
    "ReleaseInfo",
    "TaskSize",
    "create_service",
    "placeholder_references",
    "provision_requests",
    "task_definition",
    "task_size",
]
