"""The I/O shell: a thin typed wrapper over ``aiodocker`` that speaks ctrlplane errors.

Every call goes through :func:`translated`, so no aiodocker or aiohttp exception leaves
this module: engine unreachable -> :class:`BackendUnavailable`, 401/403 ->
:class:`PermissionDenied`, anything else -> :class:`BackendError` (with the HTTP
status). 404s that callers expect come back as ``None`` / ``False`` instead.

One :class:`Engine` wraps one ``aiodocker.Docker`` client (an aiohttp session bound to
the running event loop); the provider opens one per operation (:func:`open_engine`), so
a provider object can be used from any event loop and holds no connection state.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    CtrlplaneError,
    PermissionDenied,
)
from ctrlplane.provider.docker.materials import registry_host

__all__ = ["Engine", "ExecOutput", "open_engine", "translated"]

JSON = dict[str, Any]
BACKEND = "docker"


def _error(exc: BaseException, what: str) -> CtrlplaneError:
    if isinstance(exc, DockerError):
        status = int(exc.status)
        text = str(exc.message).strip()
        if status == 900:
            return BackendUnavailable(
                f"Docker engine unreachable while trying to {what}: {text}",
                backend=BACKEND,
            )
        if status in (401, 403):
            return PermissionDenied(
                f"Docker engine refused to {what}: {text}", backend=BACKEND, status=status
            )
        return BackendError(
            f"Docker engine failed to {what}: {text} (HTTP {status})",
            backend=BACKEND,
            status=status,
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        return BackendUnavailable(
            f"Docker engine unreachable while trying to {what}: {exc}", backend=BACKEND
        )
    if isinstance(exc, ValueError):  # aiodocker: no usable DOCKER_HOST
        return BackendUnavailable(f"no Docker engine configured: {exc}", backend=BACKEND)
    return BackendError(f"Docker engine failed to {what}: {exc}", backend=BACKEND)


@asynccontextmanager
async def translated(what: str) -> AsyncIterator[None]:
    """Translate aiodocker/aiohttp errors raised inside into ctrlplane errors."""
    try:
        yield
    except (DockerError, aiohttp.ClientError, OSError) as exc:
        raise _error(exc, what) from None


def _is_status(exc: DockerError, *codes: int) -> bool:
    return int(exc.status) in codes


class ExecOutput:
    """Captured output of an exec."""

    def __init__(self, exit_code: int, stdout: bytes, stderr: bytes) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


class Engine:
    """Engine calls used by the provider; arguments and answers are the API's JSON."""

    def __init__(self, client: aiodocker.Docker) -> None:
        self.client = client

    async def _json(self, what: str, path: str, method: str = "GET", **kw: Any) -> Any:
        async with translated(what):
            return await self.client._query_json(path, method, **kw)

    # -- system ---------------------------------------------------------------------

    async def version(self) -> JSON:
        result: JSON = await self._json("read its version", "version")
        return result

    async def ping(self) -> None:
        async with translated("answer a ping"), self.client._query("_ping") as resp:
            await resp.read()

    # -- containers -----------------------------------------------------------------

    async def list_containers(self, filters: Mapping[str, list[str]]) -> list[JSON]:
        result: list[JSON] = await self._json(
            "list containers",
            "containers/json",
            params={"all": "1", "filters": json.dumps(dict(filters))},
        )
        return result

    async def inspect_container(self, ref: str) -> JSON | None:
        """``docker inspect`` of a container, or ``None`` if it does not exist."""
        try:
            result: JSON = await self._json(f"inspect container {ref}", f"containers/{ref}/json")
        except BackendError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def create_container(self, name: str, body: JSON) -> str:
        result: JSON = await self._json(
            f"create container {name}",
            "containers/create",
            "POST",
            params={"name": name},
            data=body,
        )
        return str(result["Id"])

    async def start_container(self, ref: str) -> None:
        async with (
            translated(f"start container {ref}"),
            self.client._query(f"containers/{ref}/start", "POST") as resp,
        ):
            await resp.read()

    async def stop_container(self, ref: str, timeout_s: int) -> None:
        """Stop (SIGTERM, then SIGKILL after ``timeout_s``); a missing container is fine."""
        try:
            async with (
                translated(f"stop container {ref}"),
                self.client._query(
                    f"containers/{ref}/stop",
                    "POST",
                    params={"t": str(timeout_s)},
                    timeout=aiohttp.ClientTimeout(total=timeout_s + 30),
                ) as resp,
            ):
                await resp.read()
        except BackendError as exc:
            if exc.status != 404:
                raise

    async def remove_container(self, ref: str) -> None:
        """Force-remove (kills if running) with its anonymous volumes (named volumes
        stay); a missing container is fine."""
        try:
            async with (
                translated(f"remove container {ref}"),
                self.client._query(
                    f"containers/{ref}", "DELETE", params={"force": "1", "v": "1"}
                ) as resp,
            ):
                await resp.read()
        except BackendError as exc:
            if exc.status not in (404, 409):  # 409: removal already in progress
                raise

    async def wait_container(self, ref: str) -> int:
        """Wait until the container exits; its exit code."""
        result: JSON = await self._json(
            f"wait for container {ref}",
            f"containers/{ref}/wait",
            "POST",
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return int(result.get("StatusCode", -1))

    async def update_container(self, ref: str, body: JSON) -> None:
        await self._json(f"update container {ref}", f"containers/{ref}/update", "POST", data=body)

    async def rename_container(self, ref: str, name: str) -> None:
        async with (
            translated(f"rename container {ref} to {name}"),
            self.client._query(f"containers/{ref}/rename", "POST", params={"name": name}) as resp,
        ):
            await resp.read()

    async def connect_network(
        self, network: str, ref: str, aliases: list[str], *, ipv4: str = ""
    ) -> None:
        """Attach a running container to a network under ``aliases``; ``ipv4`` asks for
        that address (the network needs a subnet given at creation)."""
        endpoint: JSON = {"Aliases": aliases}
        if ipv4:
            endpoint["IPAMConfig"] = {"IPv4Address": ipv4}
        await self._json(
            f"connect container {ref} to network {network}",
            f"networks/{network}/connect",
            "POST",
            data={"Container": ref, "EndpointConfig": endpoint},
        )

    async def disconnect_network(self, network: str, ref: str) -> None:
        """Detach a container from a network (force); already detached or gone is fine."""
        try:
            await self._json(
                f"disconnect container {ref} from network {network}",
                f"networks/{network}/disconnect",
                "POST",
                data={"Container": ref, "Force": True},
            )
        except BackendError as exc:
            # 404: gone; 403/500 "is not connected": detached already (varies by version)
            if exc.status != 404 and "not connected" not in str(exc):
                raise

    async def put_archive(self, ref: str, path: str, data: bytes) -> None:
        async with (
            translated(f"copy files into container {ref}"),
            self.client._query(
                f"containers/{ref}/archive",
                "PUT",
                params={"path": path},
                data=data,
                headers={"Content-Type": "application/x-tar"},
            ) as resp,
        ):
            await resp.read()

    async def get_archive(self, ref: str, path: str) -> bytes | None:
        """The tar of ``path`` in the container, or ``None`` if it does not exist."""
        try:
            async with (
                translated(f"copy files out of container {ref}"),
                self.client._query(
                    f"containers/{ref}/archive", "GET", params={"path": path}
                ) as resp,
            ):
                return await resp.read()
        except BackendError as exc:
            if exc.status == 404:
                return None
            raise

    @asynccontextmanager
    async def logs(self, ref: str, params: Mapping[str, str]) -> AsyncIterator[Any]:
        """The raw log response (``.content`` is the byte stream) of one container."""
        async with (
            translated(f"read the logs of container {ref}"),
            self.client._query(
                f"containers/{ref}/logs",
                "GET",
                params=dict(params),
                timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
            ) as resp,
        ):
            yield resp

    async def stats(self, ref: str) -> JSON | None:
        """One stats sample (the engine takes about a second); ``None`` if gone."""
        try:
            result: JSON = await self._json(
                f"read the stats of container {ref}",
                f"containers/{ref}/stats",
                params={"stream": "0"},
            )
        except BackendError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def exec(
        self, ref: str, argv: list[str], *, stdin: bytes | None, tty: bool
    ) -> ExecOutput:
        """Run ``argv`` in a running container; stdin (if given) is written then closed.

        aiodocker's ``Stream.close()`` half-closes stdin *and* drops the response, so
        stdin is ended with a half-close of the socket only, and output is read until
        the engine ends the stream.
        """
        what = f"run a command in container {ref}"
        async with translated(what):
            container = self.client.containers.container(ref)
            execution = await container.exec(
                argv, stdout=True, stderr=True, stdin=stdin is not None, tty=tty
            )
            stream = execution.start(detach=False)
            out = bytearray()
            err = bytearray()
            try:
                await stream.__aenter__()
                if stdin is not None:
                    if stdin:
                        await stream.write_in(stdin)
                    _half_close(stream)
                while True:
                    msg = await stream.read_out()
                    if msg is None:
                        break
                    (err if msg.stream == 2 else out).extend(msg.data)
            finally:
                await stream.close()
            info: JSON = {}
            for _ in range(50):
                info = await execution.inspect()
                if not info.get("Running"):
                    break
                await asyncio.sleep(0.05)
            code = info.get("ExitCode")
        return _normalized(int(code) if code is not None else -1, bytes(out), bytes(err))

    # -- networks and volumes -------------------------------------------------------

    async def list_networks(self, filters: Mapping[str, list[str]]) -> list[JSON]:
        result: list[JSON] = await self._json(
            "list networks", "networks", params={"filters": json.dumps(dict(filters))}
        )
        return result

    async def inspect_network(self, ref: str) -> JSON | None:
        """``docker network inspect``, or ``None`` if the network does not exist."""
        try:
            result: JSON = await self._json(f"inspect network {ref}", f"networks/{ref}")
        except BackendError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def create_network(self, body: JSON) -> str:
        result: JSON = await self._json(
            f"create network {body.get('Name')}", "networks/create", "POST", data=body
        )
        return str(result["Id"])

    async def remove_network(self, ref: str) -> None:
        try:
            async with (
                translated(f"remove network {ref}"),
                self.client._query(f"networks/{ref}", "DELETE") as resp,
            ):
                await resp.read()
        except BackendError as exc:
            if exc.status != 404:
                raise

    async def list_volumes(self, filters: Mapping[str, list[str]]) -> list[JSON]:
        result: JSON = await self._json(
            "list volumes", "volumes", params={"filters": json.dumps(dict(filters))}
        )
        return list(result.get("Volumes") or [])

    async def create_volume(self, body: JSON) -> str:
        result: JSON = await self._json(
            f"create volume {body.get('Name')}", "volumes/create", "POST", data=body
        )
        return str(result["Name"])

    async def remove_volume(self, name: str) -> None:
        try:
            async with (
                translated(f"remove volume {name}"),
                self.client._query(f"volumes/{name}", "DELETE") as resp,
            ):
                await resp.read()
        except BackendError as exc:
            if exc.status != 404:
                raise

    # -- images ---------------------------------------------------------------------

    async def image_exists(self, ref: str) -> bool:
        try:
            await self._json(f"inspect image {ref}", f"images/{ref}/json")
        except BackendError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def pull(self, ref: str, auth: Mapping[str, str] | None) -> None:
        """Pull ``ref``; errors reported inside the progress stream raise too.

        Failures are classified (:func:`_pull_error`): rejected or missing credentials ->
        :class:`PermissionDenied` saying authentication failed; an image the registry does
        not have -> :class:`BackendError` with status 404. Every message names ``ref``, and
        the password of ``auth`` is never part of one.
        """
        name, tag = _split_ref(ref)
        params = {"fromImage": name}
        if tag:
            params["tag"] = tag
        headers = {}
        if auth:
            raw = json.dumps(dict(auth)).encode()
            headers["X-Registry-Auth"] = base64.urlsafe_b64encode(raw).decode()
        try:
            async with (
                translated(f"pull image {ref}"),
                self.client._query(
                    "images/create",
                    "POST",
                    params=params,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=None),
                ) as resp,
            ):
                body = await resp.read()
        except BackendUnavailable:
            raise
        except BackendError as exc:
            raise _pull_error(ref, auth, str(exc), exc.status) from None
        for line in body.decode("utf-8", "replace").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and item.get("error"):
                raise _pull_error(ref, auth, str(item["error"]), None)


_PULL_PREFIX = "Docker engine failed to pull image "
_AUTH_REJECTED = ("unauthorized", "authentication required", "incorrect username or password")
_AUTH_MISSING = ("no basic auth credentials",)
_NOT_FOUND = ("manifest unknown", "not found")
_UNREACHABLE = ("dial tcp", "connection refused", "no such host", "i/o timeout")


def _pull_error(
    ref: str, auth: Mapping[str, str] | None, text: str, status: int | None
) -> BackendError:
    """A typed, explained error for a failed pull of ``ref`` (the engine answers 500 for
    most registry failures, so the engine's text is classified)."""
    detail = text.removeprefix(f"{_PULL_PREFIX}{ref}: ").removesuffix(f" (HTTP {status})")
    password = (auth or {}).get("password", "")
    if password:
        detail = detail.replace(password, "<redacted>")
    host = (auth or {}).get("serveraddress") or registry_host(ref)
    low = detail.lower()
    prefix = f"{_PULL_PREFIX}{ref}: "
    if any(s in low for s in _AUTH_MISSING):
        return PermissionDenied(
            f"{prefix}authentication failed: registry {host} requires credentials and none "
            f"were given (DockerConfig.registry_auth or a registry secret) ({detail})",
            backend=BACKEND,
            status=status,
        )
    if any(s in low for s in _AUTH_REJECTED):
        who = f"user {auth['username']!r}" if auth and auth.get("username") else "no user"
        return PermissionDenied(
            f"{prefix}authentication failed: registry {host} rejected the credentials "
            f"({who}) ({detail})",
            backend=BACKEND,
            status=status,
        )
    if "denied" in low:
        return PermissionDenied(
            f"{prefix}access denied by registry {host}: authentication failed or the "
            f"repository does not exist ({detail})",
            backend=BACKEND,
            status=status,
        )
    if any(s in low for s in _UNREACHABLE):
        return BackendError(
            f"{prefix}registry {host} is unreachable ({detail})", backend=BACKEND, status=status
        )
    if status == 404 or any(s in low for s in _NOT_FOUND):
        return BackendError(
            f"{prefix}the image is not in registry {host} ({detail})", backend=BACKEND, status=404
        )
    return BackendError(f"{prefix}{detail}", backend=BACKEND, status=status)


_START_FAILED = b"OCI runtime exec failed"


def _normalized(code: int, out: bytes, err: bytes) -> ExecOutput:
    """A program that could not be started: the engine writes its reason to the output
    stream and reports 126; report it on stderr, with 127 when the program was not found
    (as a shell does)."""
    if code == 126 and out.startswith(_START_FAILED):
        text = out.lower()
        if b"not found" in text or b"no such file" in text:
            code = 127
        return ExecOutput(code, b"", err + out.replace(b"\r\n", b"\n"))
    return ExecOutput(code, out, err)


def _half_close(stream: Any) -> None:
    """End the exec's stdin without dropping the response (see :meth:`Engine.exec`)."""
    resp = getattr(stream, "_resp", None)
    conn = getattr(resp, "connection", None)
    transport = getattr(conn, "transport", None)
    if transport is not None and transport.can_write_eof():
        transport.write_eof()


def _split_ref(ref: str) -> tuple[str, str]:
    """``name[:tag][@digest]`` -> (name or name@digest, tag); tag defaults to latest."""
    if "@" in ref:
        return ref, ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


@asynccontextmanager
async def open_engine(url: str | None, api_version: str = "auto") -> AsyncIterator[Engine]:
    """An :class:`Engine` for one operation; the client is closed on exit."""
    try:
        client = aiodocker.Docker(url=url, api_version=api_version)
    except (ValueError, OSError) as exc:
        raise _error(exc, "connect") from None
    try:
        yield Engine(client)
    finally:
        await asyncio.shield(client.close())
