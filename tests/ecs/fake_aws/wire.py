"""The JSON protocol of the fake services: which service and operation a request names,
the models they are checked against, and how answers and errors are written.

Every service the fake serves (ECS, CloudWatch Logs, DynamoDB, Secrets Manager, SSM, the
tagging API) speaks the AWS JSON protocol: ``POST /`` with ``X-Amz-Target:
<prefix>.<Operation>``, a JSON body, and a JSON answer; errors are a 4xx/5xx status with
``{"__type": code, "message": ...}``. A :class:`ServiceApi` is one service: its botocore
model (loaded once), its handlers by operation name, and the error code its validation
failures carry.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel

from .errors import AwsError

__all__ = ["Call", "Handler", "ServiceApi", "call_handler", "load_model"]

JSON = dict[str, Any]
Handler = Callable[[JSON], "JSON | Awaitable[JSON]"]


@functools.cache
def load_model(service: str) -> ServiceModel:
    """The botocore model of ``service`` (read once per process)."""
    return botocore.session.get_session().get_service_model(service)


@dataclass(frozen=True)
class Call:
    """One request the fake answered (or refused): for tests that look at what was sent."""

    service: str
    operation: str
    body: JSON
    error: str = ""


@dataclass
class ServiceApi:
    """One fake service: ``name`` is botocore's service name (``ecs``), ``handlers`` maps
    operation names to functions of the request body, ``validation_code`` is the error
    code of requests the model refuses."""

    name: str
    handlers: Mapping[str, Handler]
    validation_code: str = "ValidationException"

    @property
    def model(self) -> ServiceModel:
        return load_model(self.name)

    @property
    def protocol(self) -> str:
        return str(self.model.metadata["protocol"])

    @property
    def target_prefix(self) -> str:
        return str(self.model.metadata.get("targetPrefix", ""))

    @property
    def signing_name(self) -> str:
        meta = self.model.metadata
        return str(meta.get("signingName") or meta["endpointPrefix"])

    @property
    def content_type(self) -> str:
        return f"application/x-amz-json-{self.model.metadata.get('jsonVersion', '1.0')}"

    def operation(self, name: str) -> OperationModel:
        """The operation's model; ``UnknownOperationException`` if the model lacks it,
        ``InvalidAction`` if the fake does not serve it."""
        if name not in self.model.operation_names:
            raise AwsError("UnknownOperationException", f"unknown operation {name}")
        if name not in self.handlers:
            raise AwsError("InvalidAction", f"the fake {self.name} does not implement {name}", 400)
        return self.model.operation_model(name)


async def call_handler(api: ServiceApi, operation: str, body: JSON) -> JSON:
    """Run the operation's handler (plain or async)."""
    result = api.handlers[operation](body)
    if inspect.isawaitable(result):
        result = await result
    return result
