"""The Machines endpoints of the fake Machines API: create, update (``current_version``),
destroy, lifecycle verbs, cordon, events, exec, leases, metadata, processes, versions,
``/wait``. Lifecycle work runs in the background, one operation at a time per Machine."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .answers import NONCE_HEADER, OWNER, Answer, error
from .machine import FakeMachine
from .records import FakeLease, new_token
from .rules import config_problems

if TYPE_CHECKING:
    from .server import FakeFlyAPI

JSON = dict[str, Any]


class MachinesApi:
    """Handlers of ``/apps/{app_name}/machines...`` (one per operation ID)."""

    def __init__(self, api: FakeFlyAPI) -> None:
        self.api = api

    async def machines_list(self, request: web.Request, body: Any) -> Answer:
        app, _ = self.api.app_of(request)
        if app is None:
            return error(404, "app not found")
        deleted = request.query.get("include_deleted") == "true"
        region = request.query.get("region")
        out = [
            m.as_json()
            for m in app.machines.values()
            if (deleted or not m.gone) and (not region or m.region == region)
        ]
        return 200, out

    async def machines_create(self, request: web.Request, body: JSON) -> Answer:
        app, _ = self.api.app_of(request)
        if app is None:
            return error(404, "app not found")
        config = body.get("config")
        if not isinstance(config, dict):
            return error(400, "config is required")
        region = str(body.get("region") or self.api.regions[0])
        if region not in self.api.regions:
            return error(400, f"region {region!r} not found")
        if region in self.api.full_regions:
            return error(
                412,
                f"insufficient resources available to fulfill request in {region}",
                status="insufficient_capacity",
            )
        problems = config_problems(config, app, region, self.api.image_known)
        if problems:
            return error(400, "; ".join(problems))
        m = FakeMachine(
            app,
            self.api.backend,
            self.api.settings,
            machine_id=secrets.token_hex(7),
            name=str(body.get("name") or f"machine-{new_token(6)}"),
            region=region,
            config=config,
            private_ip=self.api.new_ip(app),
            cordoned=bool(body.get("skip_service_registration")),
        )
        app.machines[m.id] = m
        app.status = "deployed"
        for mount in config.get("mounts") or []:
            app.volumes[mount["volume"]].attached_machine_id = m.id
        await self.api.register_ports(app, config)
        nonce = None
        if body.get("lease_ttl"):
            nonce = secrets.token_hex(8)
            m.lease = FakeLease(nonce, OWNER, "", time.time() + int(body["lease_ttl"]), m.version)
        if not body.get("skip_launch"):
            self.api.spawn(self.api.locked(m, m.launch()))
        return 200, m.as_json(nonce=nonce)

    async def machines_show(self, request: web.Request, body: Any) -> Answer:
        _, m = self.api.find_machine(request)
        if m is None:
            return error(404, "machine not found")
        return 200, m.as_json()

    async def machines_update(self, request: web.Request, body: JSON) -> Answer:
        app, m = self.api.find_machine(request)
        if app is None or m is None or m.gone:
            return error(404, "machine not found")
        held = self.api.leased_by_other(request, m)
        if held is not None:
            return held
        wanted = body.get("current_version")
        if wanted and wanted != m.version:
            return error(412, f"current_version {wanted} is not the machine's version {m.version}")
        config = body.get("config")
        if not isinstance(config, dict):
            return error(400, "config is required")
        region = str(body.get("region") or m.region)
        if region != m.region:
            return error(400, "a machine cannot move to another region")
        problems = config_problems(config, app, region, self.api.image_known, m.id)
        if problems:
            return error(400, "; ".join(problems))
        for volume in app.volumes.values():
            if volume.attached_machine_id == m.id:
                volume.attached_machine_id = ""
        for mount in config.get("mounts") or []:
            app.volumes[mount["volume"]].attached_machine_id = m.id
        await self.api.register_ports(app, config)
        try:
            await asyncio.wait_for(m.lock.acquire(), 10)
        except TimeoutError:
            return error(409, f"machine {m.id} is busy with another operation")
        running = m.state in ("started", "starting")
        m.begin_update(config)
        finishing = self.api.spawn(
            m.finish_update(running=running, skip_launch=bool(body.get("skip_launch")))
        )
        finishing.add_done_callback(lambda _: m.lock.release())
        return 200, m.as_json()

    async def machines_delete(self, request: web.Request, body: Any) -> Answer:
        m = self.api.live(request, change=True)
        if m.state in ("started", "starting") and request.query.get("force") != "true":
            return error(412, f"machine {m.id} is {m.state}: stop it first or pass force=true")
        self.api.spawn(self.api.locked(m, m.destroy()))
        return 200, None

    async def machines_cordon(self, request: web.Request, body: Any) -> Answer:
        return await self._cordon(request, True)

    async def machines_uncordon(self, request: web.Request, body: Any) -> Answer:
        return await self._cordon(request, False)

    async def _cordon(self, request: web.Request, cordoned: bool) -> Answer:
        m = self.api.live(request, change=True)
        m.cordoned = cordoned
        return 200, None

    async def machines_list_events(self, request: web.Request, body: Any) -> Answer:
        _, m = self.api.find_machine(request)
        if m is None:
            return error(404, "machine not found")
        return 200, list(m.events)

    async def machines_exec(self, request: web.Request, body: JSON) -> Answer:
        m = self.api.live(request)
        if m.state != "started" or m.container is None or not m.container.running:
            return error(412, f"machine {m.id} is {m.state}, not started")
        argv = body.get("command") or str(body.get("cmd", "")).split()
        if not argv:
            return error(400, "command is required")
        timeout = int(body.get("timeout") or 30)
        try:
            out, err, code = await m.exec([str(a) for a in argv], timeout)
        except TimeoutError:
            return error(408, f"command did not finish within {timeout}s")
        answer: JSON = {
            "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"),
        }
        if code:
            answer["exit_code"] = code
        return 200, answer

    async def machines_show_lease(self, request: web.Request, body: Any) -> Answer:
        m = self.api.live(request)
        if m.lease is None or not m.lease.live():
            return error(404, "lease not found")
        return 200, m.lease.as_json()

    async def machines_create_lease(self, request: web.Request, body: JSON) -> Answer:
        m = self.api.live(request)
        ttl = int(body.get("ttl") or 30)
        if ttl < 1:
            return error(400, "ttl must be at least 1 second")
        nonce = request.headers.get(NONCE_HEADER)
        lease = m.lease
        if lease is not None and lease.live():
            if nonce != lease.nonce:
                return error(409, f"lease currently held by {lease.owner}")
            lease.expires_at = time.time() + ttl
            if "description" in body:
                lease.description = str(body["description"])
            return 200, lease.as_json()
        if nonce:
            return error(409, "the lease of that nonce is gone")
        m.lease = FakeLease(
            secrets.token_hex(8),
            OWNER,
            str(body.get("description", "")),
            time.time() + ttl,
            m.version,
        )
        return 200, m.lease.as_json()

    async def machines_release_lease(self, request: web.Request, body: Any) -> Answer:
        m = self.api.live(request)
        lease = m.lease
        if lease is None or not lease.live():
            return error(404, "lease not found")
        if request.headers.get(NONCE_HEADER) != lease.nonce:
            return error(409, f"lease is held by {lease.owner}; its nonce is required")
        m.lease = None
        return 200, None

    async def machines_show_metadata(self, request: web.Request, body: Any) -> Answer:
        m = self.api.live(request)
        return 200, m.metadata

    async def machines_update_metadata(self, request: web.Request, body: Any) -> Answer:
        return error(400, "no metadata value: this operation takes no request body")

    async def machines_delete_metadata(self, request: web.Request, body: Any) -> Answer:
        m = self.api.live(request, change=True)
        config = dict(m.config)
        config["metadata"] = {k: v for k, v in m.metadata.items() if k != request.match_info["key"]}
        m.versions.append((new_token(26), config))
        return 204, None

    async def machines_list_processes(self, request: web.Request, body: Any) -> Answer:
        m = self.api.live(request)
        return 200, m.processes()

    async def machines_restart(self, request: web.Request, body: Any) -> Answer:
        m = self.api.live(request, change=True)
        if m.state not in ("started", "starting"):
            return error(412, f"machine {m.id} is {m.state}, not started")
        self.api.spawn(self.api.locked(m, m.restart()))
        return 200, None

    async def machines_signal(self, request: web.Request, body: JSON) -> Answer:
        m = self.api.live(request, change=True)
        c = m.container
        if m.state != "started" or c is None or not c.running:
            return error(412, f"machine {m.id} is {m.state}, not started")
        numbers = {"SIGKILL": 9, "SIGTERM": 15, "SIGINT": 2, "SIGHUP": 1, "SIGQUIT": 3}
        code = 128 + numbers.get(str(body.get("signal")), 15)
        if c.process is not None:
            c.process.cancel()
            c.process = None
        c.state, c.exit_code = "exited", code
        return 200, None

    async def machines_start(self, request: web.Request, body: Any) -> Answer:
        m = self.api.live(request, change=True)
        if m.state in ("started", "starting", "replacing"):
            return error(412, f"machine {m.id} is {m.state}: nothing to start")
        self.api.spawn(self.api.locked(m, m.launch()))
        return 200, None

    async def machines_stop(self, request: web.Request, body: Any) -> Answer:
        m = self.api.live(request, change=True)
        self.api.spawn(self.api.locked(m, m.stop()))
        return 200, None

    async def machines_list_versions(self, request: web.Request, body: Any) -> Answer:
        _, m = self.api.find_machine(request)
        if m is None:
            return error(404, "machine not found")
        return 200, [{"version": v, "user_config": c} for v, c in reversed(m.versions)]

    async def machines_wait(self, request: web.Request, body: Any) -> Answer:
        _, m = self.api.find_machine(request)
        if m is None:
            return error(404, "machine not found")
        wanted = request.query.get("instance_id")
        if wanted and wanted != m.version:
            return error(400, f"instance_id {wanted} is not the machine's version {m.version}")
        state = request.query.get("state", "started")
        timeout = min(int(request.query.get("timeout", "60")), 60)
        if not await m.wait(state, max(timeout, 1)):
            return error(408, f"machine did not reach {state} within {timeout}s")
        return 200, None
