"""The fake Machines API over real HTTP (aiohttp) on 127.0.0.1, strict per the Swagger file.

Every route of ``fly-machines-v1.swagger.json`` is served under ``/v1``; every request is
checked before it reaches a handler (:mod:`.schema`): unknown, ill-typed or missing query
parameters and request bodies that do not validate are a 400 ``{"error": ...}``; every
answer is validated against the operation's documented answer (or ``ErrorResponse`` for
errors) before it is sent, and an answer that does not validate is a 500 recorded in
:attr:`FakeFlyAPI.errors` (tests assert it stays empty). ``POST /graphql`` serves the app
secrets slice of Fly's GraphQL API (:mod:`.graphql`).

Behaviour, as Fly documents it: ``Authorization: Bearer <token>`` on every request (401
otherwise; a read-only token gets 403 on writes); Machine leases (``/lease``: a live lease
makes every change of that Machine need the ``fly-machine-lease-nonce`` header, else 409);
``current_version`` on update (412 when it is not the Machine's current version);
``/wait`` (408 when the state is not reached in ``timeout`` seconds); apps deleted
asynchronously (202, then gone); volumes attached to one Machine in their own region.
Faults: :meth:`FakeFlyAPI.fail_next` (any operation), :attr:`FakeFlyAPI.full_regions`
(``insufficient_capacity`` on Machine creation there).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ctrlplane.testing.backend import FakeBackend

from . import graphql
from .answers import NONCE_HEADER, Answer, Refused, error
from .apps import AppsApi
from .dns import resolve
from .machine import FakeMachine, Settings
from .machines_api import MachinesApi
from .proxy import FlyProxy
from .records import FakeApp
from .schema import Operation, api
from .volumes import VolumesApi

__all__ = ["FakeFlyAPI", "Seen"]

JSON = dict[str, Any]
Handler = Callable[[web.Request, Any], Awaitable[Answer]]
_MUTATING = {"POST", "PUT", "DELETE"}


@dataclass(frozen=True)
class Seen:
    """One request the fake received."""

    method: str
    path: str
    operation: str
    query: dict[str, str]
    nonce: str | None
    body: Any = None


@dataclass
class Fault:
    """An answer to give instead of handling the next matching request."""

    operation: str
    status: int
    body: JSON
    times: int = 1


@dataclass
class FakeFlyAPI:
    """A strict fake Machines API (and GraphQL secrets) over one :class:`FakeBackend`.

    ``backend`` gives image behaviours (``FakeImage``) and faults (``fail_health``...);
    ``orgs`` are the organizations (slug -> name) the token may use; ``regions`` the
    regions that exist (the first is where a Machine without ``region`` goes).
    """

    backend: FakeBackend
    token: str = "fly-test-token"
    readonly_tokens: tuple[str, ...] = ()
    orgs: dict[str, str] = field(default_factory=lambda: {"personal": "Personal"})
    regions: tuple[str, ...] = ("ams", "fra", "iad")
    settings: Settings = field(default_factory=Settings)
    apps: dict[str, FakeApp] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Answers the fake refused to send (they did not match the Swagger file)."""
    full_regions: set[str] = field(default_factory=set)
    """Regions where Machine creation fails with ``insufficient_capacity``."""
    address: str = ""

    def __post_init__(self) -> None:
        self.proxy = FlyProxy(self.machines_of)
        self._groups = (AppsApi(self), MachinesApi(self), VolumesApi(self))
        self._faults: list[Fault] = []
        self.holding: set[str] = set()
        """Operation IDs (``Machines_delete``) whose calls get no answer while here."""
        self.held: list[str] = []
        """The operation ID of every call :attr:`holding` held back."""
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ips = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1; return the base address (``http://...``)."""
        app = web.Application(middlewares=[self._guard])
        for op in api().operations.values():
            path = "/v1" + op.path
            app.router.add_route(op.method.upper(), path, self._endpoint(op))
        app.router.add_post("/graphql", self._graphql)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.address = f"http://127.0.0.1:{port}"
        return self.address

    async def close(self) -> None:
        """Stop every Machine, the proxy and the server."""
        for task in list(self._tasks):
            task.cancel()
        for app in self.apps.values():
            for m in app.machines.values():
                m._halt()
        await self.proxy.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def spawn(self, work: Awaitable[None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- faults and inspection (for tests) -----------------------------------------------

    def fail_next(
        self, operation: str, code: int, message: str, *, times: int = 1, **extra: str
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` (an operation ID such as
        ``Machines_create``) with HTTP ``code`` and ``{"error": message, **extra}``."""
        self._faults.append(Fault(operation, code, {"error": message, **extra}, times))

    def machines_of(self, app: str) -> list[FakeMachine]:
        """Every Machine of ``app`` not yet forgotten (destroyed ones included)."""
        found = self.apps.get(app)
        return [] if found is None else list(found.machines.values())

    def live_machines(self, app: str) -> list[FakeMachine]:
        """The Machines of ``app`` that are not destroyed."""
        return [m for m in self.machines_of(app) if not m.gone]

    def resolve(self, app: str, name: str, asker: FakeMachine) -> list[str]:
        """What ``name`` resolves to from Machine ``asker`` (Fly's internal DNS)."""
        return resolve(self.live_machines(app), app, name, asker)

    def seen(self, operation: str) -> list[Seen]:
        """The requests of ``operation`` received so far."""
        return [r for r in self.requests if r.operation == operation]

    def _handler(self, name: str) -> Handler:
        for group in self._groups:
            found = getattr(group, name, None)
            if found is not None:
                return found  # type: ignore[no-any-return]
        raise LookupError(f"the fake has no handler for {name}")

    # -- the HTTP surface --------------------------------------------------------------

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if token != self.token and token not in self.readonly_tokens:
            return web.json_response({"error": "unauthorized"}, status=401)
        if (
            token in self.readonly_tokens
            and request.method in _MUTATING
            and request.path != "/graphql"
        ):
            return web.json_response(
                {"error": "the token's permissions do not allow this"}, status=403
            )
        return await handler(request)

    def _endpoint(self, op: Operation) -> Callable[[web.Request], Awaitable[web.Response]]:
        handler: Handler = self._handler(op.id.lower())

        async def endpoint(request: web.Request) -> web.Response:
            raw = await request.read()
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    return self._send(op, *error(400, f"the body is not JSON: {exc}"))
            self.requests.append(
                Seen(
                    request.method,
                    request.path,
                    op.id,
                    dict(request.query),
                    request.headers.get(NONCE_HEADER),
                    body,
                )
            )
            problems = op.query_problems(request.query) + op.body_problems(body)
            if problems:
                return self._send(op, *error(400, "; ".join(problems)))
            if op.id in self.holding:
                self.held.append(op.id)
            while op.id in self.holding:  # noqa: ASYNC110 - tests clear the set, no event
                await asyncio.sleep(0.05)
            for fault in self._faults:
                if fault.operation == op.id and fault.times > 0:
                    fault.times -= 1
                    return self._send(op, fault.status, fault.body)
            try:
                answer = await handler(request, body)
            except Refused as refused:
                answer = refused.answer
            return self._send(op, *answer)

        return endpoint

    def _send(self, op: Operation, status: int, body: Any) -> web.Response:
        problems = op.answer_problems(status, body)
        if problems:
            message = f"{op.id} {status}: " + "; ".join(problems)
            self.errors.append(message)
            return web.json_response({"error": f"fake answer invalid: {message}"}, status=500)
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    async def _graphql(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.requests.append(Seen("POST", "/graphql", "graphql", {}, None, body))
        status, answer = graphql.answer(body, self.find_app)
        return web.json_response(answer, status=status)

    # -- lookups -----------------------------------------------------------------------

    def find_app(self, name: str) -> FakeApp | None:
        app = self.apps.get(name)
        return None if app is None or app.deleting else app

    def find_machine(self, request: web.Request) -> tuple[FakeApp | None, FakeMachine | None]:
        app = self.find_app(request.match_info["app_name"])
        if app is None:
            return None, None
        for key in [k for k, m in app.machines.items() if m.expired()]:
            del app.machines[key]
        return app, app.machines.get(request.match_info["machine_id"])

    def leased_by_other(self, request: web.Request, m: FakeMachine) -> Answer | None:
        lease = m.lease
        if lease is None or not lease.live():
            return None
        if request.headers.get(NONCE_HEADER) == lease.nonce:
            return None
        return error(
            409,
            f"machine {m.id} is leased by {lease.owner} until {int(lease.expires_at)} "
            f"({lease.description[:80]}); pass the lease nonce in {NONCE_HEADER}",
        )

    def live(self, request: web.Request, *, change: bool = False) -> FakeMachine:
        """The Machine of the request, not destroyed; with ``change``, also not leased by
        someone else (else the request is refused with 404 or 409)."""
        _, m = self.find_machine(request)
        if m is None or m.gone:
            raise Refused(error(404, "machine not found"))
        held = self.leased_by_other(request, m) if change else None
        if held is not None:
            raise Refused(held)
        return m

    def new_ip(self, app: FakeApp) -> str:
        self._ips += 1
        return f"fdaa:0:1:a7b:{app.index:x}:{self._ips:x}:0:2"

    async def register_ports(self, app: FakeApp, config: JSON) -> None:
        for service in config.get("services") or []:
            for port in service.get("ports") or []:
                if port.get("port"):
                    await self.proxy.ensure(app.name, int(port["port"]))

    def app_of(self, request: web.Request) -> tuple[FakeApp | None, None]:
        app = self.find_app(request.match_info["app_name"])
        if app is not None:
            for key in [k for k, m in app.machines.items() if m.expired()]:
                del app.machines[key]
        return app, None

    def image_known(self, ref: str) -> bool:
        return self.backend.image(ref) is not None

    async def locked(self, m: FakeMachine, work: Awaitable[None]) -> None:
        async with m.lock:
            await work
