"""The client of Fly's Machines API (and of the GraphQL app-secrets slice): the only module
that imports ``httpx``, and the only place its errors and the API's answers are translated.

Every request carries ``Authorization: Bearer <token>`` and the configured timeouts
(``connect_timeout`` to connect, ``request_timeout`` for the rest of one call); a
``/wait`` asks the API for at most ``timeout`` seconds, well within that. Machine lease
nonces travel in the ``fly-machine-lease-nonce`` header (Fly's documented header; the
Swagger file does not list headers).

Translation (nothing from httpx escapes): connection, TLS and timeout failures ->
:class:`~ctrlplane.errors.BackendUnavailable`; 401/403 ->
:class:`~ctrlplane.errors.PermissionDenied`; an ``ErrorResponse`` with status
``insufficient_capacity`` -> :class:`~.errors.InsufficientCapacity` naming the region;
409/412 -> :class:`~.errors.MachineConflict`; 404 -> ``None`` where the caller allows it
(``missing_ok``), else :class:`~.errors.FlyNotFound`; 5xx -> :class:`~.errors.ServerError`
naming the region; any other non-2xx -> :class:`~ctrlplane.errors.BackendError` with the
API's ``error`` text. The token never appears in a message.

Importing this module without ``httpx`` raises :class:`~ctrlplane.errors.MissingExtra`
naming ``pip install 'ctrlplane[fly]'``.
"""

from __future__ import annotations

import functools
import json
import ssl
from typing import Any
from urllib.parse import quote

from ctrlplane.errors import BackendError, BackendUnavailable, MissingExtra, PermissionDenied
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.fly.config import BACKEND, FlyConfig
from ctrlplane.provider.fly.errors import (
    FlyNotFound,
    InsufficientCapacity,
    MachineConflict,
    ServerError,
)
from ctrlplane.provider.native import JSON

try:
    import httpx
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingExtra(BACKEND, "httpx") from None

__all__ = ["NONCE_HEADER", "FlyClient"]

NONCE_HEADER = "fly-machine-lease-nonce"
"""The header that proves a caller holds a Machine's lease."""
_WAIT_TIMEOUT = 408


@functools.cache
def _tls() -> ssl.SSLContext:
    """The TLS context of every client (built once: loading the CA bundle is slow)."""
    return ssl.create_default_context()


def _q(value: str) -> str:
    return quote(value, safe="")


class FlyClient:
    """One ``httpx.AsyncClient`` on the Machines API; use as ``async with FlyClient(cfg)``."""

    def __init__(self, cfg: FlyConfig) -> None:
        self.cfg = cfg
        headers = {"Accept": "application/json"}
        if cfg.token_value():
            headers["Authorization"] = f"Bearer {cfg.token_value()}"
        limit = seconds(cfg.request_timeout)
        self.http = httpx.AsyncClient(
            headers=headers,
            verify=_tls(),
            timeout=httpx.Timeout(limit, connect=min(limit, seconds(cfg.connect_timeout))),
        )
        self.base = cfg.api_url + "/v1"

    async def __aenter__(self) -> FlyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    # -- the one request -----------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: dict[str, str] | None = None,
        nonce: str = "",
        missing_ok: bool = False,
        region: str = "",
        allow: tuple[int, ...] = (),
    ) -> Any:
        """One Machines API call (``path`` under ``/v1``); the decoded JSON answer (``None``
        for an empty body, a 404 with ``missing_ok``, or a status in ``allow``)."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if nonce:
            headers[NONCE_HEADER] = nonce
        try:
            resp = await self.http.request(
                method,
                self.base + path,
                params=params,
                content=None if body is None else json.dumps(body).encode(),
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from None
        if resp.status_code in allow or (missing_ok and resp.status_code == 404):
            return None
        if resp.status_code >= 300:
            self._raise(method, path, resp, region)
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise BackendError(
                f"Fly {method} {path}: the answer is not JSON: {exc}", backend=BACKEND
            ) from None

    def _unavailable(self, exc: Exception) -> BackendUnavailable:
        return BackendUnavailable(
            f"the Fly Machines API at {self.cfg.api_url} is unreachable: "
            f"{type(exc).__name__}: {exc}",
            backend=BACKEND,
        )

    def _raise(self, method: str, path: str, resp: httpx.Response, region: str) -> None:
        status = resp.status_code
        text = resp.text.strip()[:500]
        detail = text
        kind = ""
        try:
            data = resp.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            detail = str(data.get("error") or text)
            kind = str(data.get("status") or "")
        where = f" in region {region}" if region else ""
        message = f"Fly {method} {path} answered {status}{where}: {detail}"
        if status in (401, 403):
            raise PermissionDenied(
                f"{message} (check the API token: CTRLPLANE_FLY_TOKEN or FLY_API_TOKEN, and its "
                f"access to organization {self.cfg.org_slug!r})",
                backend=BACKEND,
                status=status,
            )
        if kind == "insufficient_capacity":
            raise InsufficientCapacity(
                f"{message}: region {region or '(the default)'} has no capacity for this "
                "Machine; retry later or choose other regions (FlyConfig.regions)",
                region=region,
                status=status,
            )
        if status in (409, 412):
            raise MachineConflict(message, backend=BACKEND, status=status)
        if status == 404:
            raise FlyNotFound(message, backend=BACKEND, status=status)
        if status >= 500:
            raise ServerError(
                f"{message} (a Fly API server error; the call may be retried)",
                region=region,
                status=status,
            )
        raise BackendError(message, backend=BACKEND, status=status)

    # -- apps --------------------------------------------------------------------------

    async def list_apps(self, org_slug: str) -> list[JSON]:
        """The organization's apps (``ListApp`` objects)."""
        answer = await self.request("GET", "/apps", params={"org_slug": org_slug})
        return list((answer or {}).get("apps") or [])

    async def get_app(self, app: str) -> JSON | None:
        """The app, or ``None`` when it does not exist (for this token)."""
        found: JSON | None = await self.request("GET", f"/apps/{_q(app)}", missing_ok=True)
        return found

    async def create_app(self, app: str, org_slug: str) -> str:
        """Create the app; ``""`` when created, else the API's refusal text (a 400: the
        name is taken or invalid), for the caller to decide."""
        try:
            await self.request("POST", "/apps", body={"app_name": app, "org_slug": org_slug})
        except BackendError as exc:
            if exc.status == 400:
                return str(exc)
            raise
        return ""

    async def delete_app(self, app: str) -> None:
        """Ask the API to delete the app (it does so asynchronously); absent: fine."""
        await self.request("DELETE", f"/apps/{_q(app)}", missing_ok=True)

    # -- machines ----------------------------------------------------------------------

    def _m(self, app: str, machine_id: str = "") -> str:
        path = f"/apps/{_q(app)}/machines"
        return f"{path}/{_q(machine_id)}" if machine_id else path

    async def list_machines(self, app: str, *, include_deleted: bool = False) -> list[JSON]:
        """The app's Machines (destroyed ones too with ``include_deleted``); ``[]`` when the
        app does not exist."""
        params = {"include_deleted": "true"} if include_deleted else None
        found = await self.request("GET", self._m(app), params=params, missing_ok=True)
        return list(found or [])

    async def get_machine(self, app: str, machine_id: str) -> JSON | None:
        """The Machine (a destroyed one is reported while the API keeps it), or ``None``."""
        found: JSON | None = await self.request("GET", self._m(app, machine_id), missing_ok=True)
        return found

    async def create_machine(self, app: str, body: JSON, *, region: str) -> JSON:
        """Create a Machine (``CreateMachineRequest``); errors name ``region``."""
        created: JSON = await self.request("POST", self._m(app), body=body, region=region)
        return created

    async def update_machine(self, app: str, machine_id: str, body: JSON, *, nonce: str) -> JSON:
        """Update a Machine (``UpdateMachineRequest``; ``current_version`` in ``body`` makes
        it a check-and-set); ``nonce``: the Machine's lease we hold."""
        updated: JSON = await self.request("POST", self._m(app, machine_id), body=body, nonce=nonce)
        return updated

    async def destroy_machine(self, app: str, machine_id: str, *, nonce: str = "") -> None:
        """Destroy a Machine (``force``: stopping it if it runs); absent: fine."""
        await self.request(
            "DELETE",
            self._m(app, machine_id),
            params={"force": "true"},
            nonce=nonce,
            missing_ok=True,
        )

    async def action(
        self, app: str, machine_id: str, verb: str, *, nonce: str = "", body: object = None
    ) -> None:
        """``start``, ``stop``, ``restart``, ``cordon`` or ``uncordon`` a Machine."""
        await self.request("POST", f"{self._m(app, machine_id)}/{verb}", nonce=nonce, body=body)

    async def wait(
        self, app: str, machine_id: str, state: str, limit: int, *, version: str = ""
    ) -> bool:
        """``/wait`` up to ``limit`` seconds (1-60) for ``state``; whether it was reached."""
        params = {"state": state, "timeout": str(max(1, min(limit, 60)))}
        if version:
            params["instance_id"] = version
        path = f"{self._m(app, machine_id)}/wait"
        try:
            await self.request("GET", path, params=params)
        except BackendError as exc:
            if exc.status == _WAIT_TIMEOUT:
                return False
            if exc.status == 400 and version:
                return False  # the Machine moved on to another version
            raise
        return True

    async def versions(self, app: str, machine_id: str) -> list[JSON]:
        """The Machine's configuration versions (``MachineVersion``), newest first."""
        found = await self.request("GET", f"{self._m(app, machine_id)}/versions")
        return list(found or [])

    async def processes(self, app: str, machine_id: str) -> list[JSON]:
        """The Machine's processes (``ProcessStat``); ``[]`` if it is gone."""
        found = await self.request("GET", f"{self._m(app, machine_id)}/ps", missing_ok=True)
        return list(found or [])

    async def exec(self, app: str, machine_id: str, argv: list[str], limit: int) -> JSON:
        """Run ``argv`` in the Machine; the API's answer (``stdout``, ``stderr``,
        ``exit_code``; a bare string answer is refused: no exit code, never guessed)."""
        answer = await self.request(
            "POST",
            f"{self._m(app, machine_id)}/exec",
            body={"command": argv, "timeout": max(1, limit)},
        )
        if not isinstance(answer, dict):
            raise BackendError(
                "Fly exec answered without an exit code (raw output only); the result is "
                "unknown, not guessed",
                backend=BACKEND,
            )
        return answer

    # -- leases ------------------------------------------------------------------------

    async def get_lease(self, app: str, machine_id: str) -> JSON | None:
        """The Machine's live lease, or ``None``."""
        found: JSON | None = await self.request(
            "GET", f"{self._m(app, machine_id)}/lease", missing_ok=True
        )
        return found

    async def create_lease(
        self, app: str, machine_id: str, ttl: int, description: str, *, nonce: str = ""
    ) -> JSON | None:
        """Take the Machine's lease (or, with ``nonce``, refresh ours): the ``Lease``, or
        ``None`` when another holder has it (409)."""
        try:
            lease: JSON = await self.request(
                "POST",
                f"{self._m(app, machine_id)}/lease",
                body={"ttl": max(1, ttl), "description": description},
                nonce=nonce,
            )
        except MachineConflict:
            return None
        return lease

    async def release_lease(self, app: str, machine_id: str, nonce: str) -> None:
        """Release our lease; one that is gone or not ours is left alone."""
        await self.request(
            "DELETE",
            f"{self._m(app, machine_id)}/lease",
            nonce=nonce,
            missing_ok=True,
            allow=(409,),
        )

    # -- volumes -----------------------------------------------------------------------

    async def list_volumes(self, app: str) -> list[JSON]:
        """The app's volumes; ``[]`` when the app does not exist."""
        found = await self.request("GET", f"/apps/{_q(app)}/volumes", missing_ok=True)
        return list(found or [])

    async def create_volume(self, app: str, body: JSON, *, region: str) -> JSON:
        """Create a volume (``CreateVolumeRequest``)."""
        created: JSON = await self.request(
            "POST", f"/apps/{_q(app)}/volumes", body=body, region=region
        )
        return created

    async def delete_volume(self, app: str, volume_id: str) -> None:
        """Destroy a volume; absent: fine."""
        await self.request("DELETE", f"/apps/{_q(app)}/volumes/{_q(volume_id)}", missing_ok=True)

    # -- GraphQL (app secrets) ---------------------------------------------------------

    async def graphql(self, query: str, variables: JSON) -> JSON:
        """One GraphQL operation on ``graphql_url``; its ``data``. GraphQL errors are
        translated like HTTP ones (``NOT_FOUND``, ``UNAUTHORIZED``...)."""
        try:
            resp = await self.http.post(
                self.cfg.graphql_url, json={"query": query, "variables": variables}
            )
        except httpx.HTTPError as exc:
            raise BackendUnavailable(
                f"Fly's GraphQL API at {self.cfg.graphql_url} is unreachable: "
                f"{type(exc).__name__}: {exc}",
                backend=BACKEND,
            ) from None
        if resp.status_code >= 300:
            self._raise("POST", "graphql", resp, "")
        try:
            answer = resp.json()
        except ValueError as exc:
            raise BackendError(
                f"Fly GraphQL: the answer is not JSON: {exc}", backend=BACKEND
            ) from None
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if errors:
            first = errors[0] if isinstance(errors[0], dict) else {}
            code = str((first.get("extensions") or {}).get("code", ""))
            message = f"Fly GraphQL: {first.get('message', errors)}"
            if code == "NOT_FOUND":
                raise FlyNotFound(message, backend=BACKEND)
            if code in ("UNAUTHORIZED", "FORBIDDEN"):
                raise PermissionDenied(message, backend=BACKEND)
            raise BackendError(message, backend=BACKEND)
        data: JSON = (answer or {}).get("data") or {}
        return data
