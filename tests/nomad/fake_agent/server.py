"""The fake agent: a Nomad server with one client node, on 127.0.0.1 only (aiohttp).

It impersonates a Nomad version (``version``, see :mod:`.versions`): what differs between
versions (Variables, the checks endpoint, ``meta``/``filter`` on the job list, native
services and checks, the ``*`` datacenter) follows that version; everything else
answers as a real 1.1.2 agent did (``/work/shared/real-servers``, replayed by
``tests/nomad/test_fake_truth.py``). ``consul`` says whether a Consul agent runs beside
it: the node then reports ``consul.version`` and Consul-provider checks run.

Endpoints (Nomad HTTP API paths and shapes): agent health and self; nodes; jobs,
evaluations and deployments (:mod:`.jobs_api`); allocation read, restart, stats and
checks (those of native services only, as Nomad reports them; Consul checks gate
deployments but live in Consul); fs logs frames (:mod:`.logs`); the exec websocket
(:mod:`.execs`); Variables (:mod:`.variables`).

Strict where Nomad is: with a token configured every request needs ``X-Nomad-Token``
(else 403 ``Permission denied``); objects live per namespace (``?namespace=``, default
``default``); a ``?region=`` other than the agent's is a 500 ``No path to region``;
writing into a namespace that does not exist fails. Lenient where Nomad is: unknown
fields are accepted, and recorded in :attr:`FakeNomadAgent.unknown_fields` (with what
the agent accepted but cannot honour, in :attr:`FakeNomadAgent.lenient`) so tests can
fail a provider that sends them. Every request is recorded in
:attr:`FakeNomadAgent.requests`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ctrlplane.testing.backend import FakeBackend

from .allocs import NODE_ID, NODE_NAME, Alloc
from .execs import ExecApi
from .filters import FilterError, compile_filter
from .jobs import DATACENTER, AgentState
from .jobs_api import JobsApi
from .logs import LogsApi
from .multierror import render
from .replies import UUID_LENGTH, text, unknown_alloc
from .terminal import ExecProcess
from .variables import VariablesApi
from .versions import AgentVersion

__all__ = ["FakeNomadAgent", "Seen"]

JSON = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Seen:
    """One request the agent received."""

    method: str
    path: str
    namespace: str | None
    region: str | None
    token: str | None
    query: tuple[tuple[str, str], ...] = ()


class FakeNomadAgent:
    """A fake Nomad agent (server + one client node) serving on 127.0.0.1.

    ``backend`` supplies image behaviours (:class:`~ctrlplane.testing.FakeImage`) and
    fault hooks: ``backend.faults.fail_health(task)`` fails that task's checks,
    ``fail_init(task)`` makes an init exit non-zero, ``make_image_missing(ref)``.
    ``version`` is the Nomad version it impersonates; ``consul`` whether Consul runs
    beside it. ``time_scale`` multiplies every simulated wait (check intervals, restart
    delays, health times): 0.1 runs a 1 s check interval every 100 ms. ``host_volumes``
    are declared on the client node (``host_volume "<name>"``); CSI volumes are
    registered with ``agent.state.volumes.register_csi`` (:class:`~.volumes.NodeVolumes`).
    """

    def __init__(
        self,
        backend: FakeBackend,
        *,
        token: str | None = None,
        region: str = "global",
        version: str = "1.7.7",
        consul: bool = False,
        time_scale: float = 1.0,
        tracked_versions: int = 6,
        namespaces: tuple[str, ...] = ("default",),
        host_volumes: tuple[str, ...] = (),
    ) -> None:
        self.backend = backend
        self.namespaces = set(namespaces)
        self.token = token
        self.region = region
        self.features = AgentVersion(version)
        self.state = AgentState(
            backend,
            version=self.features,
            consul=consul,
            region=region,
            time_scale=time_scale,
            tracked_versions=tracked_versions,
        )
        for name in host_volumes:
            self.state.volumes.declare_host(name)
        self.requests: list[Seen] = []
        self.unknown_fields: list[str] = []
        """Fields the agent ignored (a real agent accepts unknown fields silently)."""
        self.lenient: list[str] = []
        """What the agent accepted although it cannot honour it (a service's port label
        that the group network does not have)."""
        self.exec_open = 0
        """Exec sessions the agent is serving now."""
        self.exec_processes: list[ExecProcess] = []
        """The processes exec sessions run now (what each session sent them, too)."""
        self.exec_without_result = False
        """Fault hook: end exec sessions with an ``exited`` frame that has no ``result``."""
        self.stalled: set[tuple[str, str]] = set()
        """Fault hook: requests whose (method, path prefix) is here get no answer while
        it is there."""
        self.held: list[tuple[str, str]] = []
        """The (method, path) of every request :attr:`stalled` held back."""
        self._runner: web.AppRunner | None = None
        self.address = ""

    @property
    def version(self) -> str:
        return self.features.text

    @version.setter
    def version(self, value: str) -> None:
        self.features = AgentVersion(value)
        self.state.version = self.features

    @property
    def consul(self) -> bool:
        return self.state.consul

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1; return the address (``http://...``)."""
        app = web.Application(middlewares=[self._guard])
        r = app.router
        r.add_get("/v1/agent/health", self.agent_health)
        r.add_get("/v1/agent/self", self.agent_self)
        r.add_get("/v1/nodes", self.nodes)
        r.add_get("/v1/node/{id}", self.node)
        JobsApi(self).routes(r)
        r.add_get("/v1/allocations", self.list_allocs)
        r.add_get("/v1/allocation/{id}", self.read_alloc)
        for verb in ("PUT", "POST"):
            r.add_route(verb, "/v1/client/allocation/{id}/restart", self.restart_alloc)
        r.add_get("/v1/client/allocation/{id}/stats", self.alloc_stats)
        r.add_get("/v1/client/allocation/{id}/checks", self.alloc_checks)
        ExecApi(self).routes(r)
        LogsApi(self).routes(r)
        VariablesApi(self).routes(r)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.address = f"http://127.0.0.1:{port}"
        return self.address

    async def close(self) -> None:
        """Stop every allocation and the server."""
        self.stalled.clear()
        for key in list(self.state.jobs):
            await self.state.purge(*key)
        await self.go_away()

    async def go_away(self) -> None:
        """Stop serving (the agent is lost: connections are refused); allocations keep
        running, as on a client node whose server went away."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        token = request.headers.get("X-Nomad-Token")
        bearer = request.headers.get("Authorization", "")
        if token is None and bearer.startswith("Bearer "):
            token = bearer.removeprefix("Bearer ")
        self.requests.append(
            Seen(
                request.method,
                request.path,
                request.query.get("namespace"),
                request.query.get("region"),
                token,
                tuple(request.query.items()),
            )
        )
        if any(request.method == m and request.path.startswith(p) for m, p in self.stalled):
            self.held.append((request.method, request.path))
        while any(request.method == m and request.path.startswith(p) for m, p in self.stalled):  # noqa: ASYNC110 - tests clear the set, no event
            await asyncio.sleep(0.05)  # no answer while stalled (the client gives up first)
        if self.token is not None and token != self.token:
            return text(403, "Permission denied")
        region = request.query.get("region")
        if region and region != self.region:
            return text(500, "No path to region")
        return await handler(request)

    def note_unknown(self, where: str, fields: Iterable[str]) -> None:
        """Record fields the agent ignored."""
        self.unknown_fields += [f if ":" in f else f'{where}: unknown field "{f}"' for f in fields]

    # -- lookups -------------------------------------------------------------------------

    def find_alloc(self, alloc_id: str) -> Alloc | None:
        """An allocation by ID (one of a purged job too, until garbage collection)."""
        return next((a for a in self.state.all_allocs() if a.id == alloc_id), None)

    def allocs_of(self, namespace: str, job_id: str) -> list[Alloc]:
        """Every allocation of a job (for tests)."""
        state = self.state.job(namespace, job_id)
        return [] if state is None else list(state.allocs)

    # -- agent and node ------------------------------------------------------------------

    async def agent_health(self, request: web.Request) -> web.Response:
        ok = {"ok": True, "message": "ok"}
        return web.json_response({"client": ok, "server": ok})

    async def agent_self(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "config": {
                    "Region": self.region,
                    "Datacenter": DATACENTER,
                    "Version": {"Version": self.version},
                },
                "member": {"Tags": {"region": self.region, "build": self.version}},
            }
        )

    def _node_stub(self) -> JSON:
        return {
            "ID": NODE_ID,
            "Datacenter": DATACENTER,
            "Name": NODE_NAME,
            "NodeClass": "",
            "Version": self.version,
            "Drain": False,
            "SchedulingEligibility": "eligible",
            "Status": "ready",
            "StatusDescription": "",
            "Address": "127.0.0.1",
            "CreateIndex": 1,
            "ModifyIndex": 1,
        }

    async def nodes(self, request: web.Request) -> web.Response:
        return web.json_response([self._node_stub()])

    async def node(self, request: web.Request) -> web.Response:
        if request.match_info["id"] != NODE_ID:
            return text(404, "node not found")
        attributes = {
            "nomad.version": self.version,
            "driver.docker": "1",
            "unique.network.ip-address": "127.0.0.1",
        }
        if self.consul:
            attributes.update({"consul.version": "1.15.4", "consul.datacenter": DATACENTER})
        return web.json_response({**self._node_stub(), "Attributes": attributes})

    # -- allocations ---------------------------------------------------------------------

    async def list_allocs(self, request: web.Request) -> web.Response:
        """``AllocListStub`` of the namespace's allocations (a purged job's too, until
        garbage collection), ``prefix`` applied to the ID; from 1.3 filtered by
        ``filter`` (the subset in :mod:`.filters`; before, ignored); ``resources=true``
        adds ``AllocatedResources``, ``task_states=false`` leaves ``TaskStates`` out."""
        namespace = request.query.get("namespace") or "default"
        expr = request.query.get("filter", "") if self.features.alloc_list_filter else ""
        try:
            keep = compile_filter(expr) if expr else None
        except FilterError as exc:
            return text(400, str(exc))
        prefix = request.query.get("prefix", "")
        out = []
        for alloc in sorted(self.state.all_allocs(), key=lambda a: a.id):
            if alloc.namespace != namespace or not alloc.id.startswith(prefix):
                continue
            stub = alloc.stub()
            if keep is not None and not keep(stub):
                continue
            if request.query.get("resources") == "true":
                stub["AllocatedResources"] = alloc.full()["AllocatedResources"]
            if request.query.get("task_states") == "false":
                stub["TaskStates"] = None
            out.append(stub)
        return web.json_response(out)

    async def read_alloc(self, request: web.Request) -> web.Response:
        alloc_id = request.match_info["id"]
        if len(alloc_id) != UUID_LENGTH:
            return text(500, "alloc lookup failed: index error: UUID must be 36 characters")
        alloc = self.find_alloc(alloc_id)
        if alloc is None:
            return text(404, "alloc not found")
        return web.json_response(alloc.full())

    async def restart_alloc(self, request: web.Request) -> web.Response:
        """Restart one task (``TaskName``) or, with ``{}``, every task: a task that is not
        running (a finished init) makes it a 500 ``Task not running``, as on 1.1.2."""
        alloc_id = request.match_info["id"]
        alloc = self.find_alloc(alloc_id)
        if alloc is None:
            return unknown_alloc(alloc_id)
        body = await request.json() if request.can_read_body else {}
        self.note_unknown("restart request", set(body) - {"TaskName", "AllTasks"})
        errors = await alloc.restart(body.get("TaskName") or None)
        if errors:
            return text(500, render([((), e) for e in errors]))
        return web.json_response({"Index": 0})

    async def alloc_stats(self, request: web.Request) -> web.Response:
        alloc_id = request.match_info["id"]
        alloc = self.find_alloc(alloc_id)
        if alloc is None:
            return unknown_alloc(alloc_id)
        return web.json_response(alloc.stats())

    async def alloc_checks(self, request: web.Request) -> web.Response:
        if not self.features.checks_api:
            return text(404, "resource not found")
        alloc_id = request.match_info["id"]
        alloc = self.find_alloc(alloc_id)
        if alloc is None:
            return unknown_alloc(alloc_id)
        return web.json_response(alloc.nomad_checks())

    # -- for tests ------------------------------------------------------------------------

    def leftovers(self, namespace: str, job_id: str) -> list[str]:
        """What the agent still holds of a job: the job, live allocations, its Variables
        and its operation lease (a Variable or a lease job)."""
        found: list[str] = []
        for jid in (job_id, f"ctrlplane-lease-{job_id}"):
            state = self.state.job(namespace, jid)
            if state is not None:
                found.append(f"job {jid} (version {state.current['Version']})")
                found += [
                    f"alloc {a.name} {a.client_status}" for a in state.allocs if not a.terminal
                ]
        found += [
            f"variable {path}"
            for (ns, path) in self.state.variables
            if ns == namespace and (f"/{job_id}/" in f"/{path}/")
        ]
        return found
