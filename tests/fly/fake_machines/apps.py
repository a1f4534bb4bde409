"""The Apps endpoints of the fake Machines API: list, create, show, delete (asynchronous)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .answers import Answer, error
from .records import FakeApp
from .rules import APP_NAME

if TYPE_CHECKING:
    from .server import FakeFlyAPI

JSON = dict[str, Any]


class AppsApi:
    """Handlers of ``/apps`` and ``/apps/{app_name}`` (one per operation ID)."""

    def __init__(self, api: FakeFlyAPI) -> None:
        self.api = api

    async def apps_list(self, request: web.Request, body: Any) -> Answer:
        org = request.query["org_slug"]
        if org not in self.api.orgs:
            return error(404, f"organization {org!r} not found")
        mine = [a.listed() for a in self.api.apps.values() if a.org == org and not a.deleting]
        return 200, {"total_apps": len(mine), "apps": mine}

    async def apps_create(self, request: web.Request, body: JSON) -> Answer:
        name, org = str(body.get("app_name", "")), str(body.get("org_slug", ""))
        if not APP_NAME.match(name):
            return error(400, f"app name {name!r} is invalid: lowercase letters, digits, dashes")
        if org not in self.api.orgs:
            return error(400, f"organization {org!r} not found")
        if name in self.api.apps:
            return error(400, "Name has already been taken")
        app = FakeApp(name=name, org=org, network=str(body.get("network", "")))
        app.index = len(self.api.apps) + 1
        self.api.apps[name] = app
        return 201, None

    async def apps_show(self, request: web.Request, body: Any) -> Answer:
        app = self.api.apps.get(request.match_info["app_name"])
        if app is None:
            return error(404, "app not found")
        return 200, app.as_json(self.api.orgs[app.org])  # a deleting app shows until it is gone

    async def apps_delete(self, request: web.Request, body: Any) -> Answer:
        app = self.api.find_app(request.match_info["app_name"])
        if app is None:
            return error(404, "app not found")
        app.deleting = True
        app.status = "deleting"
        self.api.spawn(self._delete_app(app))
        return 202, None

    async def _delete_app(self, app: FakeApp) -> None:
        for m in list(app.machines.values()):
            async with m.lock:
                await m.destroy()
        await asyncio.sleep(self.api.settings.step * 4)
        await self.api.proxy.drop(app.name)
        self.api.apps.pop(app.name, None)
