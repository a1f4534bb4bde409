"""The HTTP front of the fake: one aiohttp server on 127.0.0.1 for every fake service.

Each request is signed (checked by :mod:`.sigv4`), routed by its ``X-Amz-Target`` to a
:class:`~.wire.ServiceApi`, validated against the operation's input shape
(:mod:`.shapes`; a refusal carries the service's validation error code), handled, and
its answer validated against the output shape before it is sent: an answer the model
does not allow is the fake's own bug and is sent as a 500 naming the problems, so the
test that caused it fails. Every request is recorded (:attr:`FrontDoor.calls`).

``faults`` make the next calls of an operation fail with a given error (what a test
needs to see the provider's error handling).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from .errors import AwsError
from .shapes import input_problems, output_problems, to_wire
from .sigv4 import verify
from .wire import Call, ServiceApi, call_handler

__all__ = ["FrontDoor"]


class FrontDoor:
    """Serves ``apis`` for ``keys`` (access key ID -> secret) in ``region``."""

    def __init__(self, apis: Iterable[ServiceApi], *, keys: dict[str, str], region: str) -> None:
        self.apis = {api.target_prefix: api for api in apis}
        self.keys = keys
        self.region = region
        self.calls: list[Call] = []
        self.faults: dict[tuple[str, str], list[AwsError]] = {}
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
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        target = request.headers.get("X-Amz-Target", "")
        prefix, _, operation = target.rpartition(".")
        api = self.apis.get(prefix)
        if api is None:
            return _error(AwsError("UnknownOperationException", f"unknown target {target!r}"))
        body_bytes = await request.read()
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
            body = decoded
            problems = input_problems(model.input_shape, body)
            if problems:
                raise AwsError(api.validation_code, "; ".join(problems))
            pending = self.faults.get((api.name, operation))
            if pending:
                raise pending.pop(0)
            answer = await call_handler(api, operation, body)
        except AwsError as exc:
            self.calls.append(Call(api.name, operation, body, exc.code))
            return _error(exc)
        self.calls.append(Call(api.name, operation, body))
        problems = output_problems(model.output_shape, answer)
        if problems:
            return _error(
                AwsError(
                    "InternalFailure",
                    f"the fake {api.name} built an invalid {operation} answer: "
                    + "; ".join(problems),
                    500,
                )
            )
        return web.Response(
            body=json.dumps(to_wire(answer)).encode(),
            content_type=api.content_type,
            headers={"x-amzn-RequestId": str(uuid.uuid4())},
        )


def _error(exc: AwsError) -> web.Response:
    body = {"__type": exc.code, "message": exc.message, **exc.fields}
    return web.Response(
        status=exc.status,
        body=json.dumps(to_wire(body)).encode(),
        content_type="application/x-amz-json-1.1",
        headers={"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": exc.code},
    )
