"""The Volumes endpoints of the fake Machines API: a volume lives in one region and attaches
to at most one Machine; an attached volume cannot be destroyed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .answers import Answer, error
from .records import FakeVolume, new_token
from .rules import VOLUME_NAME

if TYPE_CHECKING:
    from .server import FakeFlyAPI

JSON = dict[str, Any]


class VolumesApi:
    """Handlers of ``/apps/{app_name}/volumes...`` (one per operation ID)."""

    def __init__(self, api: FakeFlyAPI) -> None:
        self.api = api

    async def volumes_list(self, request: web.Request, body: Any) -> Answer:
        app = self.api.find_app(request.match_info["app_name"])
        if app is None:
            return error(404, "app not found")
        return 200, [v.as_json() for v in app.volumes.values() if v.state != "destroyed"]

    async def volumes_create(self, request: web.Request, body: JSON) -> Answer:
        app = self.api.find_app(request.match_info["app_name"])
        if app is None:
            return error(404, "app not found")
        name, region = str(body.get("name", "")), str(body.get("region", ""))
        if not VOLUME_NAME.match(name):
            return error(400, f"volume name {name!r}: lowercase letters, digits, _, max 30")
        if region not in self.api.regions:
            return error(400, f"region {region!r} not found")
        size = int(body.get("size_gb") or 1)
        if size < 1:
            return error(400, "size_gb must be at least 1")
        volume = FakeVolume(id=f"vol_{new_token(16)}", name=name, region=region, size_gb=size)
        app.volumes[volume.id] = volume
        return 200, volume.as_json()

    def _volume(self, request: web.Request) -> FakeVolume | None:
        app = self.api.find_app(request.match_info["app_name"])
        if app is None:
            return None
        volume = app.volumes.get(request.match_info["volume_id"])
        return None if volume is None or volume.state == "destroyed" else volume

    async def volumes_get_by_id(self, request: web.Request, body: Any) -> Answer:
        volume = self._volume(request)
        return (200, volume.as_json()) if volume else error(404, "volume not found")

    async def volumes_update(self, request: web.Request, body: JSON) -> Answer:
        volume = self._volume(request)
        if volume is None:
            return error(404, "volume not found")
        if "snapshot_retention" in body:
            volume.snapshot_retention = int(body["snapshot_retention"])
        if "auto_backup_enabled" in body:
            volume.auto_backup_enabled = bool(body["auto_backup_enabled"])
        return 200, volume.as_json()

    async def volume_delete(self, request: web.Request, body: Any) -> Answer:
        app = self.api.find_app(request.match_info["app_name"])
        volume = self._volume(request)
        if app is None or volume is None:
            return error(404, "volume not found")
        holder = app.machines.get(volume.attached_machine_id)
        if holder is not None and not holder.gone:
            return error(412, f"volume {volume.id} is attached to machine {holder.id}")
        volume.state = "destroyed"
        shown = volume.as_json()
        del app.volumes[volume.id]
        return 200, shown

    async def volumes_extend(self, request: web.Request, body: JSON) -> Answer:
        volume = self._volume(request)
        if volume is None:
            return error(404, "volume not found")
        size = int(body.get("size_gb") or 0)
        if size <= volume.size_gb:
            return error(400, f"size_gb must be more than {volume.size_gb}")
        volume.size_gb = size
        return 200, {"needs_restart": False, "volume": volume.as_json()}

    async def volumes_list_snapshots(self, request: web.Request, body: Any) -> Answer:
        volume = self._volume(request)
        return (200, []) if volume else error(404, "volume not found")

    async def createvolumesnapshot(self, request: web.Request, body: Any) -> Answer:
        volume = self._volume(request)
        return (200, None) if volume else error(404, "volume not found")
