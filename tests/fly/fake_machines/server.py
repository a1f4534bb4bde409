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
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ctrlplane.testing.backend import FakeBackend

from . import graphql
from .dns import resolve
from .machine import FakeMachine, Settings
from .proxy import FlyProxy
from .records import FakeApp, FakeLease, FakeVolume, new_token
from .rules import APP_NAME, VOLUME_NAME, config_problems
from .schema import Operation, api

__all__ = ["FakeFlyAPI", "Seen"]

JSON = dict[str, Any]
Answer = tuple[int, Any]
Handler = Callable[[web.Request, Any], Awaitable[Answer]]
NONCE_HEADER = "fly-machine-lease-nonce"
OWNER = "ctrlplane-tests@example.com"
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


def _error(code: int, message: str, **extra: str) -> Answer:
    return code, {"error": message, **extra}


class Refused(Exception):
    """A handler's early answer (the object is missing, leased, in the wrong state)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer)
        self.answer = answer


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
        self._faults: list[Fault] = []
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

    def _spawn(self, work: Awaitable[None]) -> asyncio.Future[None]:
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
        handler: Handler = getattr(self, op.id.lower())

        async def endpoint(request: web.Request) -> web.Response:
            raw = await request.read()
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    return self._send(op, *_error(400, f"the body is not JSON: {exc}"))
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
                return self._send(op, *_error(400, "; ".join(problems)))
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
        status, answer = graphql.answer(body, self._app)
        return web.json_response(answer, status=status)

    # -- lookups -----------------------------------------------------------------------

    def _app(self, name: str) -> FakeApp | None:
        app = self.apps.get(name)
        return None if app is None or app.deleting else app

    def _machine(self, request: web.Request) -> tuple[FakeApp | None, FakeMachine | None]:
        app = self._app(request.match_info["app_name"])
        if app is None:
            return None, None
        for key in [k for k, m in app.machines.items() if m.expired()]:
            del app.machines[key]
        return app, app.machines.get(request.match_info["machine_id"])

    def _leased_by_other(self, request: web.Request, m: FakeMachine) -> Answer | None:
        lease = m.lease
        if lease is None or not lease.live():
            return None
        if request.headers.get(NONCE_HEADER) == lease.nonce:
            return None
        return _error(
            409,
            f"machine {m.id} is leased by {lease.owner} until {int(lease.expires_at)} "
            f"({lease.description[:80]}); pass the lease nonce in {NONCE_HEADER}",
        )

    def _live(self, request: web.Request, *, change: bool = False) -> FakeMachine:
        """The Machine of the request, not destroyed; with ``change``, also not leased by
        someone else (else the request is refused with 404 or 409)."""
        _, m = self._machine(request)
        if m is None or m.gone:
            raise Refused(_error(404, "machine not found"))
        held = self._leased_by_other(request, m) if change else None
        if held is not None:
            raise Refused(held)
        return m

    def _new_ip(self, app: FakeApp) -> str:
        self._ips += 1
        return f"fdaa:0:1:a7b:{app.index:x}:{self._ips:x}:0:2"

    async def _register_ports(self, app: FakeApp, config: JSON) -> None:
        for service in config.get("services") or []:
            for port in service.get("ports") or []:
                if port.get("port"):
                    await self.proxy.ensure(app.name, int(port["port"]))

    # -- apps ---------------------------------------------------------------------------

    async def apps_list(self, request: web.Request, body: Any) -> Answer:
        org = request.query["org_slug"]
        if org not in self.orgs:
            return _error(404, f"organization {org!r} not found")
        mine = [a.listed() for a in self.apps.values() if a.org == org and not a.deleting]
        return 200, {"total_apps": len(mine), "apps": mine}

    async def apps_create(self, request: web.Request, body: JSON) -> Answer:
        name, org = str(body.get("app_name", "")), str(body.get("org_slug", ""))
        if not APP_NAME.match(name):
            return _error(400, f"app name {name!r} is invalid: lowercase letters, digits, dashes")
        if org not in self.orgs:
            return _error(400, f"organization {org!r} not found")
        if name in self.apps:
            return _error(400, "Name has already been taken")
        app = FakeApp(name=name, org=org, network=str(body.get("network", "")))
        app.index = len(self.apps) + 1
        self.apps[name] = app
        return 201, None

    async def apps_show(self, request: web.Request, body: Any) -> Answer:
        app = self.apps.get(request.match_info["app_name"])
        if app is None:
            return _error(404, "app not found")
        return 200, app.as_json(self.orgs[app.org])  # a deleting app shows until it is gone

    async def apps_delete(self, request: web.Request, body: Any) -> Answer:
        app = self._app(request.match_info["app_name"])
        if app is None:
            return _error(404, "app not found")
        app.deleting = True
        app.status = "deleting"
        self._spawn(self._delete_app(app))
        return 202, None

    async def _delete_app(self, app: FakeApp) -> None:
        for m in list(app.machines.values()):
            async with m.lock:
                await m.destroy()
        await asyncio.sleep(self.settings.step * 4)
        await self.proxy.drop(app.name)
        self.apps.pop(app.name, None)

    # -- machines ----------------------------------------------------------------------

    async def machines_list(self, request: web.Request, body: Any) -> Answer:
        app, _ = self._machine_app(request)
        if app is None:
            return _error(404, "app not found")
        deleted = request.query.get("include_deleted") == "true"
        region = request.query.get("region")
        out = [
            m.as_json()
            for m in app.machines.values()
            if (deleted or not m.gone) and (not region or m.region == region)
        ]
        return 200, out

    def _machine_app(self, request: web.Request) -> tuple[FakeApp | None, None]:
        app = self._app(request.match_info["app_name"])
        if app is not None:
            for key in [k for k, m in app.machines.items() if m.expired()]:
                del app.machines[key]
        return app, None

    async def machines_create(self, request: web.Request, body: JSON) -> Answer:
        app, _ = self._machine_app(request)
        if app is None:
            return _error(404, "app not found")
        config = body.get("config")
        if not isinstance(config, dict):
            return _error(400, "config is required")
        region = str(body.get("region") or self.regions[0])
        if region not in self.regions:
            return _error(400, f"region {region!r} not found")
        if region in self.full_regions:
            return _error(
                412,
                f"insufficient resources available to fulfill request in {region}",
                status="insufficient_capacity",
            )
        problems = config_problems(config, app, region, self._image_known)
        if problems:
            return _error(400, "; ".join(problems))
        m = FakeMachine(
            app,
            self.backend,
            self.settings,
            machine_id=secrets.token_hex(7),
            name=str(body.get("name") or f"machine-{new_token(6)}"),
            region=region,
            config=config,
            private_ip=self._new_ip(app),
            cordoned=bool(body.get("skip_service_registration")),
        )
        app.machines[m.id] = m
        app.status = "deployed"
        for mount in config.get("mounts") or []:
            app.volumes[mount["volume"]].attached_machine_id = m.id
        await self._register_ports(app, config)
        nonce = None
        if body.get("lease_ttl"):
            nonce = secrets.token_hex(8)
            m.lease = FakeLease(nonce, OWNER, "", time.time() + int(body["lease_ttl"]), m.version)
        if not body.get("skip_launch"):
            self._spawn(self._locked(m, m.launch()))
        return 200, m.as_json(nonce=nonce)

    def _image_known(self, ref: str) -> bool:
        return self.backend.image(ref) is not None

    async def _locked(self, m: FakeMachine, work: Awaitable[None]) -> None:
        async with m.lock:
            await work

    async def machines_show(self, request: web.Request, body: Any) -> Answer:
        _, m = self._machine(request)
        if m is None:
            return _error(404, "machine not found")
        return 200, m.as_json()

    async def machines_update(self, request: web.Request, body: JSON) -> Answer:
        app, m = self._machine(request)
        if app is None or m is None or m.gone:
            return _error(404, "machine not found")
        held = self._leased_by_other(request, m)
        if held is not None:
            return held
        wanted = body.get("current_version")
        if wanted and wanted != m.version:
            return _error(412, f"current_version {wanted} is not the machine's version {m.version}")
        config = body.get("config")
        if not isinstance(config, dict):
            return _error(400, "config is required")
        region = str(body.get("region") or m.region)
        if region != m.region:
            return _error(400, "a machine cannot move to another region")
        problems = config_problems(config, app, region, self._image_known, m.id)
        if problems:
            return _error(400, "; ".join(problems))
        for volume in app.volumes.values():
            if volume.attached_machine_id == m.id:
                volume.attached_machine_id = ""
        for mount in config.get("mounts") or []:
            app.volumes[mount["volume"]].attached_machine_id = m.id
        await self._register_ports(app, config)
        try:
            await asyncio.wait_for(m.lock.acquire(), 10)
        except TimeoutError:
            return _error(409, f"machine {m.id} is busy with another operation")
        running = m.state in ("started", "starting")
        m.begin_update(config)
        finishing = self._spawn(
            m.finish_update(running=running, skip_launch=bool(body.get("skip_launch")))
        )
        finishing.add_done_callback(lambda _: m.lock.release())
        return 200, m.as_json()

    async def machines_delete(self, request: web.Request, body: Any) -> Answer:
        m = self._live(request, change=True)
        if m.state in ("started", "starting") and request.query.get("force") != "true":
            return _error(412, f"machine {m.id} is {m.state}: stop it first or pass force=true")
        self._spawn(self._locked(m, m.destroy()))
        return 200, None

    async def machines_cordon(self, request: web.Request, body: Any) -> Answer:
        return await self._cordon(request, True)

    async def machines_uncordon(self, request: web.Request, body: Any) -> Answer:
        return await self._cordon(request, False)

    async def _cordon(self, request: web.Request, cordoned: bool) -> Answer:
        m = self._live(request, change=True)
        m.cordoned = cordoned
        return 200, None

    async def machines_list_events(self, request: web.Request, body: Any) -> Answer:
        _, m = self._machine(request)
        if m is None:
            return _error(404, "machine not found")
        return 200, list(m.events)

    async def machines_exec(self, request: web.Request, body: JSON) -> Answer:
        m = self._live(request)
        if m.state != "started" or m.container is None or not m.container.running:
            return _error(412, f"machine {m.id} is {m.state}, not started")
        argv = body.get("command") or str(body.get("cmd", "")).split()
        if not argv:
            return _error(400, "command is required")
        timeout = int(body.get("timeout") or 30)
        try:
            out, err, code = await m.exec([str(a) for a in argv], timeout)
        except TimeoutError:
            return _error(408, f"command did not finish within {timeout}s")
        answer: JSON = {
            "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"),
        }
        if code:
            answer["exit_code"] = code
        return 200, answer

    async def machines_show_lease(self, request: web.Request, body: Any) -> Answer:
        m = self._live(request)
        if m.lease is None or not m.lease.live():
            return _error(404, "lease not found")
        return 200, m.lease.as_json()

    async def machines_create_lease(self, request: web.Request, body: JSON) -> Answer:
        m = self._live(request)
        ttl = int(body.get("ttl") or 30)
        if ttl < 1:
            return _error(400, "ttl must be at least 1 second")
        nonce = request.headers.get(NONCE_HEADER)
        lease = m.lease
        if lease is not None and lease.live():
            if nonce != lease.nonce:
                return _error(409, f"lease currently held by {lease.owner}")
            lease.expires_at = time.time() + ttl
            if "description" in body:
                lease.description = str(body["description"])
            return 200, lease.as_json()
        if nonce:
            return _error(409, "the lease of that nonce is gone")
        m.lease = FakeLease(
            secrets.token_hex(8),
            OWNER,
            str(body.get("description", "")),
            time.time() + ttl,
            m.version,
        )
        return 200, m.lease.as_json()

    async def machines_release_lease(self, request: web.Request, body: Any) -> Answer:
        m = self._live(request)
        lease = m.lease
        if lease is None or not lease.live():
            return _error(404, "lease not found")
        if request.headers.get(NONCE_HEADER) != lease.nonce:
            return _error(409, f"lease is held by {lease.owner}; its nonce is required")
        m.lease = None
        return 200, None

    async def machines_show_metadata(self, request: web.Request, body: Any) -> Answer:
        m = self._live(request)
        return 200, m.metadata

    async def machines_update_metadata(self, request: web.Request, body: Any) -> Answer:
        return _error(400, "no metadata value: this operation takes no request body")

    async def machines_delete_metadata(self, request: web.Request, body: Any) -> Answer:
        m = self._live(request, change=True)
        config = dict(m.config)
        config["metadata"] = {k: v for k, v in m.metadata.items() if k != request.match_info["key"]}
        m.versions.append((new_token(26), config))
        return 204, None

    async def machines_list_processes(self, request: web.Request, body: Any) -> Answer:
        m = self._live(request)
        return 200, m.processes()

    async def machines_restart(self, request: web.Request, body: Any) -> Answer:
        m = self._live(request, change=True)
        if m.state not in ("started", "starting"):
            return _error(412, f"machine {m.id} is {m.state}, not started")
        self._spawn(self._locked(m, m.restart()))
        return 200, None

    async def machines_signal(self, request: web.Request, body: JSON) -> Answer:
        m = self._live(request, change=True)
        c = m.container
        if m.state != "started" or c is None or not c.running:
            return _error(412, f"machine {m.id} is {m.state}, not started")
        numbers = {"SIGKILL": 9, "SIGTERM": 15, "SIGINT": 2, "SIGHUP": 1, "SIGQUIT": 3}
        code = 128 + numbers.get(str(body.get("signal")), 15)
        if c.process is not None:
            c.process.cancel()
            c.process = None
        c.state, c.exit_code = "exited", code
        return 200, None

    async def machines_start(self, request: web.Request, body: Any) -> Answer:
        m = self._live(request, change=True)
        if m.state in ("started", "starting", "replacing"):
            return _error(412, f"machine {m.id} is {m.state}: nothing to start")
        self._spawn(self._locked(m, m.launch()))
        return 200, None

    async def machines_stop(self, request: web.Request, body: Any) -> Answer:
        m = self._live(request, change=True)
        self._spawn(self._locked(m, m.stop()))
        return 200, None

    async def machines_list_versions(self, request: web.Request, body: Any) -> Answer:
        _, m = self._machine(request)
        if m is None:
            return _error(404, "machine not found")
        return 200, [{"version": v, "user_config": c} for v, c in reversed(m.versions)]

    async def machines_wait(self, request: web.Request, body: Any) -> Answer:
        _, m = self._machine(request)
        if m is None:
            return _error(404, "machine not found")
        wanted = request.query.get("instance_id")
        if wanted and wanted != m.version:
            return _error(400, f"instance_id {wanted} is not the machine's version {m.version}")
        state = request.query.get("state", "started")
        timeout = min(int(request.query.get("timeout", "60")), 60)
        if not await m.wait(state, max(timeout, 1)):
            return _error(408, f"machine did not reach {state} within {timeout}s")
        return 200, None

    # -- volumes -----------------------------------------------------------------------

    async def volumes_list(self, request: web.Request, body: Any) -> Answer:
        app = self._app(request.match_info["app_name"])
        if app is None:
            return _error(404, "app not found")
        return 200, [v.as_json() for v in app.volumes.values() if v.state != "destroyed"]

    async def volumes_create(self, request: web.Request, body: JSON) -> Answer:
        app = self._app(request.match_info["app_name"])
        if app is None:
            return _error(404, "app not found")
        name, region = str(body.get("name", "")), str(body.get("region", ""))
        if not VOLUME_NAME.match(name):
            return _error(400, f"volume name {name!r}: lowercase letters, digits, _, max 30")
        if region not in self.regions:
            return _error(400, f"region {region!r} not found")
        size = int(body.get("size_gb") or 1)
        if size < 1:
            return _error(400, "size_gb must be at least 1")
        volume = FakeVolume(id=f"vol_{new_token(16)}", name=name, region=region, size_gb=size)
        app.volumes[volume.id] = volume
        return 200, volume.as_json()

    def _volume(self, request: web.Request) -> FakeVolume | None:
        app = self._app(request.match_info["app_name"])
        if app is None:
            return None
        volume = app.volumes.get(request.match_info["volume_id"])
        return None if volume is None or volume.state == "destroyed" else volume

    async def volumes_get_by_id(self, request: web.Request, body: Any) -> Answer:
        volume = self._volume(request)
        return (200, volume.as_json()) if volume else _error(404, "volume not found")

    async def volumes_update(self, request: web.Request, body: JSON) -> Answer:
        volume = self._volume(request)
        if volume is None:
            return _error(404, "volume not found")
        if "snapshot_retention" in body:
            volume.snapshot_retention = int(body["snapshot_retention"])
        if "auto_backup_enabled" in body:
            volume.auto_backup_enabled = bool(body["auto_backup_enabled"])
        return 200, volume.as_json()

    async def volume_delete(self, request: web.Request, body: Any) -> Answer:
        app = self._app(request.match_info["app_name"])
        volume = self._volume(request)
        if app is None or volume is None:
            return _error(404, "volume not found")
        holder = app.machines.get(volume.attached_machine_id)
        if holder is not None and not holder.gone:
            return _error(412, f"volume {volume.id} is attached to machine {holder.id}")
        volume.state = "destroyed"
        shown = volume.as_json()
        del app.volumes[volume.id]
        return 200, shown

    async def volumes_extend(self, request: web.Request, body: JSON) -> Answer:
        volume = self._volume(request)
        if volume is None:
            return _error(404, "volume not found")
        size = int(body.get("size_gb") or 0)
        if size <= volume.size_gb:
            return _error(400, f"size_gb must be more than {volume.size_gb}")
        volume.size_gb = size
        return 200, {"needs_restart": False, "volume": volume.as_json()}

    async def volumes_list_snapshots(self, request: web.Request, body: Any) -> Answer:
        volume = self._volume(request)
        return (200, []) if volume else _error(404, "volume not found")

    async def createvolumesnapshot(self, request: web.Request, body: Any) -> Answer:
        volume = self._volume(request)
        return (200, None) if volume else _error(404, "volume not found")
