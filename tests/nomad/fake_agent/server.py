"""The fake agent's HTTP and websocket API (aiohttp), on 127.0.0.1 only.

Endpoints (Nomad HTTP API paths and shapes): agent health and self; job register
(``PUT /v1/jobs``), read, versions, revert, stop and purge (``DELETE /v1/job/:id``,
``?purge=true``), allocations, evaluations (``/v1/job/:id/evaluations``,
``/v1/evaluation/:id``), latest deployment; allocation read, restart, stats and
checks (those of ``nomad``-provider services only, as Nomad reports them; Consul
checks gate deployments but live in Consul); ``/v1/client/fs/logs/:alloc`` frames
(``{"Offset", "Data", "File"}``, base64 data, ``follow``, ``origin``/``offset``);
``/v1/client/allocation/:alloc/exec`` websocket frames (``stdin``/``stdout``/``stderr``
with base64 ``data`` or ``close``, then ``exited`` with ``result.exit_code``, the
``result`` empty for exit code 0 as Nomad's ``omitempty`` encoding sends it; a client
closing the session cancels the command); deployment promote and fail; Variables.

Strict: with a token configured every request needs ``X-Nomad-Token`` (else 403
``Permission denied``); objects live per namespace (``?namespace=``, default
``default``); a ``?region=`` other than the agent's is refused; unknown job fields and
invalid jobs are a 400, and so is writing into a namespace that does not exist.
Every request is recorded in :attr:`FakeNomadAgent.requests`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.records import FakeContainer
from ctrlplane.testing.shell import run_command

from .allocs import Alloc
from .filters import FilterError, compile_filter
from .jobs import AgentState
from .schema import job_problems

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


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain")


def _everything(job: Any) -> bool:
    return True


def _ns(request: web.Request) -> str:
    return request.query.get("namespace") or "default"


class FakeNomadAgent:
    """A strict fake Nomad agent (server + one client node) serving on 127.0.0.1.

    ``backend`` supplies image behaviours (:class:`~ctrlplane.testing.FakeImage`) and
    fault hooks: ``backend.faults.fail_health(task)`` fails that task's checks,
    ``fail_init(task)`` makes an init exit non-zero, ``make_image_missing(ref)``.
    ``time_scale`` multiplies every simulated wait (check intervals, restart delays,
    health times): 0.1 runs a 1 s check interval every 100 ms. ``host_volumes`` are
    declared on the client node (``host_volume "<name>"``); CSI volumes are registered
    with ``agent.state.volumes.register_csi`` (:class:`~.volumes.NodeVolumes`).
    """

    def __init__(
        self,
        backend: FakeBackend,
        *,
        token: str | None = None,
        region: str = "global",
        version: str = "1.7.7",
        time_scale: float = 1.0,
        tracked_versions: int = 6,
        namespaces: tuple[str, ...] = ("default",),
        host_volumes: tuple[str, ...] = (),
    ) -> None:
        self.backend = backend
        self.namespaces = set(namespaces)
        self.token = token
        self.region = region
        self.version = version
        self.state = AgentState(backend, time_scale=time_scale, tracked_versions=tracked_versions)
        for name in host_volumes:
            self.state.volumes.declare_host(name)
        self.requests: list[Seen] = []
        self.exec_open = 0
        """Exec sessions the agent is serving now."""
        self.exec_without_result = False
        """Fault hook: end exec sessions with an ``exited`` frame that has no ``result``."""
        self._runner: web.AppRunner | None = None
        self.address = ""

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1; return the address (``http://...``)."""
        app = web.Application(middlewares=[self._guard])
        r = app.router
        r.add_get("/v1/agent/health", self.agent_health)
        r.add_get("/v1/agent/self", self.agent_self)
        r.add_get("/v1/jobs", self.list_jobs)
        r.add_route("PUT", "/v1/jobs", self.register)
        r.add_route("POST", "/v1/jobs", self.register)
        r.add_get("/v1/job/{id}", self.read_job)
        r.add_route("POST", "/v1/job/{id}", self.register)
        r.add_route("PUT", "/v1/job/{id}", self.register)
        r.add_delete("/v1/job/{id}", self.deregister)
        r.add_get("/v1/job/{id}/versions", self.versions)
        r.add_route("POST", "/v1/job/{id}/revert", self.revert)
        r.add_route("PUT", "/v1/job/{id}/revert", self.revert)
        r.add_get("/v1/job/{id}/allocations", self.job_allocs)
        r.add_get("/v1/job/{id}/evaluations", self.job_evals)
        r.add_get("/v1/evaluation/{id}", self.read_eval)
        r.add_get("/v1/job/{id}/deployment", self.latest_deployment)
        r.add_get("/v1/job/{id}/deployments", self.deployments)
        r.add_get("/v1/allocation/{id}", self.read_alloc)
        r.add_route("PUT", "/v1/client/allocation/{id}/restart", self.restart_alloc)
        r.add_route("POST", "/v1/client/allocation/{id}/restart", self.restart_alloc)
        r.add_get("/v1/client/allocation/{id}/stats", self.alloc_stats)
        r.add_get("/v1/client/allocation/{id}/checks", self.alloc_checks)
        r.add_get("/v1/client/allocation/{id}/exec", self.exec_ws)
        r.add_get("/v1/client/fs/logs/{id}", self.logs)
        r.add_route("POST", "/v1/deployment/promote/{id}", self.promote)
        r.add_route("PUT", "/v1/deployment/promote/{id}", self.promote)
        r.add_route("POST", "/v1/deployment/fail/{id}", self.fail_deployment)
        r.add_route("PUT", "/v1/deployment/fail/{id}", self.fail_deployment)
        r.add_get("/v1/vars", self.list_vars)
        r.add_get("/v1/var/{path:.+}", self.read_var)
        r.add_route("PUT", "/v1/var/{path:.+}", self.write_var)
        r.add_route("POST", "/v1/var/{path:.+}", self.write_var)
        r.add_delete("/v1/var/{path:.+}", self.delete_var)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.address = f"http://127.0.0.1:{port}"
        return self.address

    async def close(self) -> None:
        """Stop every allocation and the server."""
        for key in list(self.state.jobs):
            await self.state.purge(*key)
        if self._runner is not None:
            await self._runner.cleanup()

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
            )
        )
        if self.token is not None and token != self.token:
            return _text(403, "Permission denied")
        region = request.query.get("region")
        if region and region != self.region:
            return _text(500, f"No path to region {region!r}")
        return await handler(request)

    # -- lookups -------------------------------------------------------------------------

    def _alloc(self, alloc_id: str) -> Alloc | None:
        for state in self.state.jobs.values():
            for alloc in state.allocs:
                if alloc.id == alloc_id:
                    return alloc
        return None

    def allocs_of(self, namespace: str, job_id: str) -> list[Alloc]:
        """Every allocation of a job (for tests)."""
        state = self.state.job(namespace, job_id)
        return [] if state is None else list(state.allocs)

    # -- agent ---------------------------------------------------------------------------

    async def agent_health(self, request: web.Request) -> web.Response:
        ok = {"ok": True, "message": "ok"}
        return web.json_response({"client": ok, "server": ok})

    async def agent_self(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "config": {"Region": self.region, "Version": {"Version": self.version}},
                "member": {"Tags": {"region": self.region, "build": self.version}},
            }
        )

    # -- jobs ----------------------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError as exc:
            return _text(400, f"failed to decode request body: {exc}")
        if not isinstance(body, dict) or set(body) - {
            "Job",
            "EnforceIndex",
            "JobModifyIndex",
            "PreserveCounts",
            "PolicyOverride",
            "EvalPriority",
            "Submission",
        }:
            return _text(400, "invalid register request")
        job = body.get("Job")
        problems = job_problems(job, namespace=_ns(request))
        if problems:
            return _text(400, "1 error occurred:\n\t* " + "\n\t* ".join(problems))
        assert isinstance(job, dict)
        if _ns(request) not in self.namespaces:
            return _text(400, f'job "{job["ID"]}" is in nonexistent namespace "{_ns(request)}"')
        if "id" in request.match_info and request.match_info["id"] != job["ID"]:
            return _text(400, "Job ID does not match name")
        state = self.state.job(_ns(request), job["ID"])
        if body.get("EnforceIndex"):
            current = state.modify_index if state is not None else 0
            if int(body.get("JobModifyIndex", 0)) != current:
                return _text(
                    400, f"Enforcing job modify index {body.get('JobModifyIndex')}: job exists"
                )
        stored, changed = self.state.register(_ns(request), job)
        return web.json_response(
            {
                "EvalID": f"eval-{stored['JobModifyIndex']}" if changed else "",
                "EvalCreateIndex": stored["JobModifyIndex"],
                "JobModifyIndex": stored["JobModifyIndex"],
                "Warnings": "",
                "Index": stored["ModifyIndex"],
            }
        )

    async def list_jobs(self, request: web.Request) -> web.Response:
        """``JobListStub`` objects of the namespace, filtered by ``filter`` (the subset in
        :mod:`.filters`), with ``Meta`` only when ``meta=true``, by ID."""
        expr = request.query.get("filter", "")
        try:
            keep = compile_filter(expr) if expr else _everything
        except FilterError as exc:
            return _text(400, str(exc))
        with_meta = request.query.get("meta") == "true"
        out = []
        for (ns, job_id), state in sorted(self.state.jobs.items()):
            if ns != _ns(request) or not keep(state.current):
                continue
            job = state.current
            stub: JSON = {
                "ID": job_id,
                "Name": job.get("Name", job_id),
                "Namespace": ns,
                "Type": job.get("Type", "service"),
                "Stop": bool(job.get("Stop")),
                "Status": self.state.job_status(state),
                "Datacenters": job.get("Datacenters"),
                "CreateIndex": job["CreateIndex"],
                "ModifyIndex": job["ModifyIndex"],
                "JobModifyIndex": job["JobModifyIndex"],
                "SubmitTime": job["SubmitTime"],
            }
            if with_meta:
                stub["Meta"] = dict(job.get("Meta") or {})
            out.append(stub)
        return web.json_response(out)

    async def read_job(self, request: web.Request) -> web.Response:
        state = self.state.job(_ns(request), request.match_info["id"])
        if state is None:
            return _text(404, "job not found")
        return web.json_response(state.current)

    async def versions(self, request: web.Request) -> web.Response:
        state = self.state.job(_ns(request), request.match_info["id"])
        if state is None:
            return _text(404, "job versions not found")
        return web.json_response({"Versions": list(reversed(state.versions)), "Diffs": None})

    async def revert(self, request: web.Request) -> web.Response:
        body = await request.json()
        state = self.state.job(_ns(request), request.match_info["id"])
        if state is None:
            return _text(404, "job not found")
        wanted = next((v for v in state.versions if v["Version"] == body.get("JobVersion")), None)
        if wanted is None:
            return _text(400, f"job version {body.get('JobVersion')} not found")
        job = {k: v for k, v in wanted.items() if k not in {"Version", "Stable", "Status"}}
        stored, _ = self.state.register(_ns(request), job)
        return web.json_response(
            {
                "EvalID": "",
                "JobModifyIndex": stored["JobModifyIndex"],
                "Index": stored["ModifyIndex"],
            }
        )

    async def deregister(self, request: web.Request) -> web.Response:
        ns, job_id = _ns(request), request.match_info["id"]
        state = self.state.job(ns, job_id)
        if state is None:
            return _text(404, "job not found")
        if request.query.get("purge") == "true":
            await self.state.purge(ns, job_id)
            return web.json_response({"EvalID": "", "JobModifyIndex": self.state.index})
        job = dict(state.current)
        job["Stop"] = True
        stored, _ = self.state.register(ns, job)
        return web.json_response({"EvalID": "", "JobModifyIndex": stored["JobModifyIndex"]})

    async def job_allocs(self, request: web.Request) -> web.Response:
        state = self.state.job(_ns(request), request.match_info["id"])
        if state is None:
            return web.json_response([])
        return web.json_response([a.stub() for a in state.allocs])

    async def job_evals(self, request: web.Request) -> web.Response:
        state = self.state.job(_ns(request), request.match_info["id"])
        return web.json_response([] if state is None else list(reversed(state.evals)))

    async def read_eval(self, request: web.Request) -> web.Response:
        for (ns, _), state in self.state.jobs.items():
            for ev in state.evals:
                if ns == _ns(request) and ev["ID"] == request.match_info["id"]:
                    return web.json_response(ev)
        return _text(404, "eval not found")

    async def latest_deployment(self, request: web.Request) -> web.Response:
        state = self.state.job(_ns(request), request.match_info["id"])
        if state is None or not state.deployments:
            return web.json_response(None)
        return web.json_response(state.deployments[-1])

    async def deployments(self, request: web.Request) -> web.Response:
        state = self.state.job(_ns(request), request.match_info["id"])
        return web.json_response([] if state is None else list(reversed(state.deployments)))

    def _deployment(self, dep_id: str) -> tuple[Any, JSON] | None:
        for state in self.state.jobs.values():
            for dep in state.deployments:
                if dep["ID"] == dep_id:
                    return state, dep
        return None

    async def promote(self, request: web.Request) -> web.Response:
        found = self._deployment(request.match_info["id"])
        if found is None:
            return _text(404, "deployment not found")
        state, dep = found
        if dep["Status"] != "running":
            return _text(400, f"can't promote terminal deployment with status {dep['Status']!r}")
        state.promote.set()
        return web.json_response({"DeploymentModifyIndex": self.state.index})

    async def fail_deployment(self, request: web.Request) -> web.Response:
        found = self._deployment(request.match_info["id"])
        if found is None:
            return _text(404, "deployment not found")
        state, dep = found
        if dep["Status"] != "running":
            return _text(400, "can't fail terminal deployment")
        dep["Status"] = "failed"
        dep["StatusDescription"] = "Deployment marked as failed"
        state.promote.set()
        job = state.current
        stable = [v for v in state.versions if v.get("Stable") and v is not job]
        if (job.get("Update") or {}).get("AutoRevert") and stable:
            revert = {k: v for k, v in stable[-1].items() if k not in {"Version", "Stable"}}
            self.state.register(state.namespace, revert)
        return web.json_response({"DeploymentModifyIndex": self.state.index})

    # -- allocations ---------------------------------------------------------------------

    async def read_alloc(self, request: web.Request) -> web.Response:
        alloc = self._alloc(request.match_info["id"])
        if alloc is None:
            return _text(404, "alloc not found")
        return web.json_response(alloc.full())

    async def restart_alloc(self, request: web.Request) -> web.Response:
        alloc = self._alloc(request.match_info["id"])
        if alloc is None:
            return _text(404, "Unknown allocation")
        if alloc.terminal:
            return _text(400, "Task not running")
        await alloc.restart()
        return web.json_response({})

    async def alloc_stats(self, request: web.Request) -> web.Response:
        alloc = self._alloc(request.match_info["id"])
        if alloc is None:
            return _text(404, "Unknown allocation")
        return web.json_response(alloc.stats())

    async def alloc_checks(self, request: web.Request) -> web.Response:
        alloc = self._alloc(request.match_info["id"])
        if alloc is None:
            return _text(404, "Unknown allocation")
        return web.json_response(alloc.nomad_checks())

    async def logs(self, request: web.Request) -> web.StreamResponse:
        alloc = self._alloc(request.match_info["id"])
        if alloc is None:
            return _text(404, "Unknown allocation")
        task = request.query.get("task", "")
        kind = request.query.get("type", "")
        if kind not in ("stdout", "stderr"):
            return _text(400, "must provide a valid log type (stdout or stderr)")
        if alloc.log_bytes(task, kind) is None:
            return _text(400, f"unknown task name {task!r}")
        follow = request.query.get("follow") == "true"
        origin = request.query.get("origin", "start")
        offset = int(request.query.get("offset", "0") or 0)
        data = alloc.log_bytes(task, kind) or b""
        pos = max(0, len(data) - offset) if origin == "end" else min(offset, len(data))
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        name = f"alloc/logs/{task}.{kind}.0"
        idle_since = time.monotonic()
        try:
            while True:
                data = alloc.log_bytes(task, kind) or b""
                if len(data) > pos:
                    frame = {
                        "Offset": pos,
                        "Data": base64.b64encode(data[pos:]).decode(),
                        "File": name,
                    }
                    await response.write(json.dumps(frame).encode() + b"\n")
                    pos = len(data)
                    idle_since = time.monotonic()
                if not follow or alloc.task_done(task) or alloc.desired_status != "run":
                    break
                if time.monotonic() - idle_since > 1.0:
                    await response.write(b"{}\n")  # heartbeat frame
                    idle_since = time.monotonic()
                await asyncio.sleep(0.02)
        except (ConnectionResetError, asyncio.CancelledError):
            return response
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response

    async def exec_ws(self, request: web.Request) -> web.StreamResponse:
        alloc = self._alloc(request.match_info["id"])
        if alloc is None:
            return _text(404, "Unknown allocation")
        task = request.query.get("task", "")
        try:
            argv = json.loads(request.query.get("command", ""))
        except ValueError:
            return _text(400, "command is not a JSON array")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            return _text(400, "command must be a non-empty JSON array of strings")
        run = alloc.tasks.get(task)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if run is None or run.container is None or not run.container.running:
            await ws.close(code=1011, message=b"task not running")
            return ws
        self.exec_open += 1
        try:
            await self._exec_frames(ws, run.container, argv)
        finally:
            self.exec_open -= 1
        return ws

    async def _exec_frames(
        self, ws: web.WebSocketResponse, c: FakeContainer, argv: list[str]
    ) -> None:
        """Read stdin frames until ``close``, run the command, send its output and the
        ``exited`` frame. A client that closes the session meanwhile cancels the command.
        Frames are encoded as Nomad encodes its protobuf message (``omitempty``): exit
        code 0 is ``"result": {}``."""
        stdin = bytearray()
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                return
            frame = json.loads(msg.data)
            part = frame.get("stdin") or {}
            if part.get("data"):
                stdin += base64.b64decode(part["data"])
            if part.get("close"):
                break
        command = asyncio.ensure_future(
            run_command(argv, env=c.env, fs=c.files, stdin=bytes(stdin))
        )
        closed = asyncio.ensure_future(ws.receive())
        await asyncio.wait({command, closed}, return_when=asyncio.FIRST_COMPLETED)
        if not command.done():
            command.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await command
            return
        closed.cancel()
        res = command.result()
        for stream, data in (("stdout", res.stdout), ("stderr", res.stderr)):
            if data:
                await ws.send_json({stream: {"data": base64.b64encode(data).decode()}})
            await ws.send_json({stream: {"close": True}})
        result = {"exit_code": res.exit_code} if res.exit_code else {}
        if self.exec_without_result:
            await ws.send_json({"exited": True})
        else:
            await ws.send_json({"exited": True, "result": result})
        await ws.close()

    # -- variables -----------------------------------------------------------------------

    def _var_meta(self, var: JSON) -> JSON:
        return {k: v for k, v in var.items() if k != "Items"}

    async def list_vars(self, request: web.Request) -> web.Response:
        prefix = request.query.get("prefix", "")
        found = [
            self._var_meta(v)
            for (ns, path), v in sorted(self.state.variables.items())
            if ns == _ns(request) and path.startswith(prefix)
        ]
        return web.json_response(found)

    async def read_var(self, request: web.Request) -> web.Response:
        var = self.state.variables.get((_ns(request), request.match_info["path"]))
        if var is None:
            return _text(404, "variable not found")
        return web.json_response(var)

    async def write_var(self, request: web.Request) -> web.Response:
        body = await request.json()
        path = request.match_info["path"]
        items = body.get("Items") if isinstance(body, dict) else None
        if not isinstance(items, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in items.items()
        ):
            return _text(400, "variable Items must be a map of strings")
        if set(body) - {"Namespace", "Path", "Items", "CreateIndex", "ModifyIndex", "Lock"}:
            return _text(400, "invalid variable")
        if body.get("Path", path) != path:
            return _text(400, "variable path does not match the URL")
        key = (_ns(request), path)
        if key[0] not in self.namespaces:
            return _text(400, f'nonexistent namespace "{key[0]}"')
        index = self.state._tick()
        old = self.state.variables.get(key)
        var = {
            "Namespace": key[0],
            "Path": path,
            "Items": dict(items),
            "CreateIndex": old["CreateIndex"] if old else index,
            "ModifyIndex": index,
            "CreateTime": old["CreateTime"] if old else time.time_ns(),
            "ModifyTime": time.time_ns(),
        }
        self.state.variables[key] = var
        return web.json_response(var)

    async def delete_var(self, request: web.Request) -> web.Response:
        self.state.variables.pop((_ns(request), request.match_info["path"]), None)
        return web.Response(status=200)

    # -- for tests ------------------------------------------------------------------------

    def leftovers(self, namespace: str, job_id: str) -> list[str]:
        """What the agent still holds of a job: the job, live allocations, variables."""
        found: list[str] = []
        state = self.state.job(namespace, job_id)
        if state is not None:
            found.append(f"job {job_id} (version {state.current['Version']})")
            found += [f"alloc {a.name} {a.client_status}" for a in state.allocs if not a.terminal]
        found += [
            f"variable {path}"
            for (ns, path) in self.state.variables
            if ns == namespace and f"/{job_id}/" in f"/{path}/"
        ]
        return found
