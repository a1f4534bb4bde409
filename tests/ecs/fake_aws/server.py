"""The HTTP front of the fake: one aiohttp server on 127.0.0.1 for every fake service.

Each request is signed (checked by :mod:`.sigv4`) and routed to a
:class:`~.wire.ServiceApi`: a JSON-protocol request by its ``X-Amz-Target``, a
query-protocol one (form-encoded ``Action=...``, :mod:`.query`) by the service its
signature is scoped to. It is validated against the operation's input shape
(:mod:`.shapes`; a refusal carries the service's validation error code), handled, and
its answer validated against the output shape before it is sent: an answer the model
does not allow is the fake's own bug and is sent as a 500 naming the problems, so the
test that caused it fails. Every request is recorded (:attr:`FrontDoor.calls`).

``faults`` make the next calls of an operation fail with a given error (what a test
needs to see the provider's error handling).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from botocore.model import OperationModel

from .errors import AwsError
from .query import answer_xml, error_xml, from_form
from .shapes import input_problems, output_problems, to_wire
from .sigv4 import verify
from .wire import Call, ServiceApi, call_handler

__all__ = ["FrontDoor"]


class FrontDoor:
    """Serves ``apis`` for ``keys`` (access key ID -> secret) in ``region``."""

    def __init__(self, apis: Iterable[ServiceApi], *, keys: dict[str, str], region: str) -> None:
        apis = list(apis)
        self.apis = {api.target_prefix: api for api in apis if api.protocol == "json"}
        self.query_apis = {api.signing_name: api for api in apis if api.protocol == "query"}
        self.keys = keys
        self.region = region
        self.calls: list[Call] = []
        self.faults: dict[tuple[str, str], list[AwsError]] = {}
        self.holding: set[tuple[str, str]] = set()
        """(service, operation) pairs whose calls get no answer while they are here."""
        self.held: list[tuple[str, str]] = []
        """The (service, operation) of every call :attr:`holding` held back."""
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, service: str, operation: str, error: AwsError, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``service``'s ``operation`` with ``error``."""
        self.faults.setdefault((service, operation), []).extend([error] * times)

    def called(self, service: str, operation: str) -> list[Call]:
        """The recorded calls of one operation, oldest first."""
        return [c for c in self.calls if c.service == service and c.operation == operation]

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("POST", "/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only through the server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body_bytes = await request.read()
        if "X-Amz-Target" in request.headers:
            prefix, _, operation = request.headers["X-Amz-Target"].rpartition(".")
            api = self.apis.get(prefix)
            form: dict[str, str] = {}
        else:
            scope = request.headers.get("Authorization", "").split("Credential=", 1)[-1]
            parts = scope.split("/")
            api = self.query_apis.get(parts[3] if len(parts) > 3 else "")
            form = dict(parse_qsl(body_bytes.decode(errors="replace"), keep_blank_values=True))
            operation = form.get("Action", "")
        if api is None:
            return _error(AwsError("UnknownOperationException", "no such service or target"))
        body: dict[str, Any] = {}
        try:
            verify(
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers=request.headers,
                body=body_bytes,
                keys=self.keys,
                region=self.region,
                service=api.signing_name,
            )
            model = api.operation(operation)
            body = (
                _json_body(api, request, body_bytes)
                if api.protocol == "json"
                else _form_body(api, model, form)
            )
            problems = input_problems(model.input_shape, body)
            if problems:
                raise AwsError(api.validation_code, "; ".join(problems))
            if (api.name, operation) in self.holding:
                self.held.append((api.name, operation))
            while (api.name, operation) in self.holding:  # noqa: ASYNC110 - tests clear it
                await asyncio.sleep(0.05)
            pending = self.faults.get((api.name, operation))
            if pending:
                raise pending.pop(0)
            answer = await call_handler(api, operation, body)
            problems = output_problems(model.output_shape, answer)
            if problems:
                raise AwsError(
                    "InternalFailure",
                    f"the fake {api.name} built an invalid {operation} answer: "
                    + "; ".join(problems),
                    500,
                )
        except AwsError as exc:
            self.calls.append(Call(api.name, operation, body, exc.code))
            return _error(exc) if api.protocol == "json" else _xml(api, error_xml, exc)
        self.calls.append(Call(api.name, operation, body))
        if api.protocol == "json":
            return web.Response(
                body=json.dumps(to_wire(answer)).encode(),
                content_type=api.content_type,
                headers={"x-amzn-RequestId": str(uuid.uuid4())},
            )
        namespace = str(api.model.metadata.get("xmlNamespace", ""))
        text = answer_xml(model, answer, namespace, str(uuid.uuid4()))
        return web.Response(body=text.encode(), content_type="text/xml")


def _json_body(api: ServiceApi, request: web.Request, body_bytes: bytes) -> dict[str, Any]:
    """The JSON body of a JSON-protocol request."""
    if request.content_type != api.content_type:
        raise AwsError(
            "SerializationException",
            f"expected Content-Type {api.content_type}, got {request.content_type}",
        )
    try:
        decoded = json.loads(body_bytes or b"{}")
    except ValueError as exc:
        raise AwsError("SerializationException", f"body is not JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise AwsError("SerializationException", "body must be a JSON object")
    return decoded


def _form_body(api: ServiceApi, model: OperationModel, form: dict[str, str]) -> dict[str, Any]:
    """The input structure of a query-protocol request."""
    if form.get("Version") != api.model.metadata.get("apiVersion"):
        raise AwsError("InvalidAction", f"unknown API version {form.get('Version')!r}")
    return from_form(model.input_shape, form)


def _xml(api: ServiceApi, render: Any, exc: AwsError) -> web.Response:
    namespace = str(api.model.metadata.get("xmlNamespace", ""))
    text = render(exc, namespace, str(uuid.uuid4()))
    return web.Response(status=exc.status, body=text.encode(), content_type="text/xml")


def _error(exc: AwsError) -> web.Response:
    body = {"__type": exc.code, "message": exc.message, **exc.fields}
    return web.Response(
        status=exc.status,
        body=json.dumps(to_wire(body)).encode(),
        content_type="application/x-amz-json-1.1",
        headers={"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": exc.code},
    )
