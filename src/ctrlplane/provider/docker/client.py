"""The client of the Docker Engine API: the only module that imports ``aiodocker`` and
``aiohttp``, and the only place their errors are translated.

No aiodocker or aiohttp exception leaves this module: engine unreachable (or silent past
a timeout) -> :class:`BackendUnavailable`, 401/403 -> :class:`PermissionDenied`, anything
else -> :class:`BackendError` (with the HTTP status). 404s that callers expect come back
as ``None`` / ``False`` instead; pull failures are classified (:func:`_pull_error`).

Timeouts, from :class:`DockerConfig` on every call: ``connect_timeout`` bounds connecting;
``request_timeout`` bounds the engine's silence while it answers one request (a stop
gets its grace period on top). Waits that are not single requests (following logs,
waiting for a container to exit, an exec's output, a pull's progress) have no read
timeout: their callers bound them with their own deadlines.

Calls go through aiodocker's public API where it has a method that does what is needed.
aiodocker has no public request method, so the few other calls are small aiohttp
requests over the same client session (and connector), in :meth:`DockerClient._request`:
``_ping`` and container ``update`` (no aiodocker method), the raw log stream (aiodocker's
``log()`` merges stdout and stderr), exec start (stdin must be ended while the output is
still read; aiodocker's ``Stream.close()`` drops the response too) and image pulls
(aiodocker's ``pull()`` refuses credentials for an image without a registry host and
rewrites their server address).

One :class:`DockerClient` wraps one ``aiodocker.Docker`` (an aiohttp session bound to the
running event loop); the provider opens one per operation (:func:`open_client`), so a
provider object can be used from any event loop and holds no connection state.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tarfile
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError
from aiodocker.execs import Exec
from aiodocker.networks import DockerNetwork
from aiodocker.volumes import DockerVolume

from ctrlplane.errors import BackendError, BackendUnavailable, CtrlplaneError, PermissionDenied
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.docker.config import BACKEND, DockerConfig
from ctrlplane.provider.docker.observe.logframes import FrameDecoder
from ctrlplane.provider.native import JSON
from ctrlplane.registry_logins import registry_host

__all__ = ["DockerClient", "ExecOutput", "ExecStream", "exec_exit_code", "open_client"]

_T = TypeVar("_T")

_UNREACHABLE_STATUS = 900
"""aiodocker's status for a connection that could not be made."""

_LIST_FIELDS = ("Id", "Names", "Image", "Labels", "State", "Status", "Created")
"""The fields of a container list entry the provider reads."""


def _answer_error(status: int, text: str, what: str) -> CtrlplaneError:
    """The error for an engine answer with HTTP ``status`` and message ``text``."""
    text = text.strip()
    if status == _UNREACHABLE_STATUS:
        return BackendUnavailable(
            f"Docker engine unreachable while trying to {what}: {text}", backend=BACKEND
        )
    if status in (401, 403):
        return PermissionDenied(
            f"Docker engine refused to {what}: {text}", backend=BACKEND, status=status
        )
    return BackendError(
        f"Docker engine failed to {what}: {text} (HTTP {status})", backend=BACKEND, status=status
    )


def _message(text: str) -> str:
    """The ``message`` of an engine's JSON error answer (the text itself otherwise)."""
    try:
        found = json.loads(text)
    except ValueError:
        return text
    return str(found.get("message", text)) if isinstance(found, dict) else text


def _error(exc: BaseException, what: str, config: DockerConfig) -> CtrlplaneError:
    """The ctrlplane error for an aiodocker / aiohttp / socket error while doing ``what``."""
    if isinstance(exc, DockerError):
        return _answer_error(int(exc.status), str(exc.message), what)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        limit = seconds(config.connect_timeout)
        return BackendUnavailable(
            f"Docker engine unreachable while trying to {what}: no connection within "
            f"{limit:g}s (connect_timeout)",
            backend=BACKEND,
        )
    if isinstance(exc, TimeoutError):
        limit = seconds(config.request_timeout)
        return BackendUnavailable(
            f"Docker engine did not answer within {limit:g}s (request_timeout) while trying "
            f"to {what}",
            backend=BACKEND,
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        return BackendUnavailable(
            f"Docker engine unreachable while trying to {what}: {exc}", backend=BACKEND
        )
    if isinstance(exc, ValueError):  # aiodocker: no usable DOCKER_HOST
        return BackendUnavailable(f"no Docker engine configured: {exc}", backend=BACKEND)
    return BackendError(f"Docker engine failed to {what}: {exc}", backend=BACKEND)


@dataclass(frozen=True, slots=True)
class ExecOutput:
    """Captured output of an exec."""

    exit_code: int
    stdout: bytes
    stderr: bytes


class ExecStream:
    """The connection of an exec started attached (:meth:`DockerClient.attach_exec`): the
    output as the engine sends it (raw bytes: multiplexed frames without a tty), input
    written as it comes, and end of input as a half-close of the connection."""

    _HIGH_WATER = 256 * 1024
    """Bytes of unsent input past which :meth:`write` waits for the engine to read."""

    def __init__(
        self, resp: aiohttp.ClientResponse, chunks: AsyncIterator[bytes], what: str, patience: float
    ) -> None:
        self._resp = resp
        self._chunks = chunks
        self._what = what
        self._patience = patience

    async def read(self) -> bytes:
        """The next bytes the engine sent; ``b""`` once it ended the stream (the process
        exited, or the engine closed the connection)."""
        return await anext(self._chunks, b"")

    def _transport(self) -> asyncio.Transport:
        conn = self._resp.connection
        transport = conn.transport if conn is not None else None
        if transport is None or transport.is_closing():
            raise BackendError(f"{self._what}: the connection has ended", backend=BACKEND)
        return transport

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the process's input; waits (at most ``request_timeout``)
        while the engine has not read what was sent before."""
        transport = self._transport()
        transport.write(data)
        try:
            async with asyncio.timeout(self._patience):
                while transport.get_write_buffer_size() > self._HIGH_WATER:
                    await asyncio.sleep(0.01)
                    transport = self._transport()
        except TimeoutError:
            raise BackendUnavailable(
                f"{self._what}: the engine read no input within {self._patience:g}s "
                "(request_timeout)",
                backend=BACKEND,
            ) from None

    def end_input(self) -> None:
        """Half-close the connection: the process reads end of input (without a tty;
        with one the engine ends the whole stream, see :mod:`.sessions`)."""
        transport = self._transport()
        if transport.can_write_eof():
            transport.write_eof()

    def close(self) -> None:
        """Drop the connection (the engine does not stop the process for it)."""
        self._resp.close()


class DockerClient:
    """The engine calls the provider makes; arguments and answers are the API's JSON."""

    def __init__(self, docker: aiodocker.Docker, config: DockerConfig) -> None:
        self._docker = docker
        self._config = config
        self.engine_version = ""
        """The engine's version, once :meth:`negotiate` read it."""

    @property
    def api_version(self) -> str:
        """The API version spoken (``v1.41``), or ``auto`` before the first call."""
        return str(self._docker.api_version)

    @property
    def local(self) -> bool:
        """Whether the engine is reached over a unix socket (so, most likely, it
        publishes ports on this machine)."""
        return str(self._docker.docker_host).startswith("unix://")

    # -- plumbing -------------------------------------------------------------------

    @asynccontextmanager
    async def _translated(self, what: str) -> AsyncIterator[None]:
        """Translate aiodocker/aiohttp errors raised inside into ctrlplane errors."""
        try:
            yield
        except (DockerError, aiohttp.ClientError, OSError) as exc:
            raise _error(exc, what, self._config) from None

    async def _unless_absent(
        self, what: str, work: Awaitable[_T], absent: tuple[int, ...] = (404,)
    ) -> _T | None:
        """``work``'s result, or ``None`` when the engine answers one of the ``absent``
        statuses (the object does not exist: an answer the caller expects)."""
        try:
            async with self._translated(what):
                return await work
        except BackendError as exc:
            if exc.status in absent:
                return None
            raise

    def _single(self, extra: float = 0.0) -> aiohttp.ClientTimeout:
        """The timeouts of one request (``extra`` seconds of engine-side waiting on top)."""
        return aiohttp.ClientTimeout(
            sock_connect=seconds(self._config.connect_timeout),
            sock_read=seconds(self._config.request_timeout) + extra,
        )

    def _waiting(self) -> aiohttp.ClientTimeout:
        """The timeouts of a wait that is not one request: connecting only."""
        return aiohttp.ClientTimeout(sock_connect=seconds(self._config.connect_timeout))

    def _container(self, ref: str) -> aiodocker.containers.DockerContainer:
        return self._docker.containers.container(ref)

    def _network(self, ref: str) -> DockerNetwork:
        return DockerNetwork(self._docker, ref)  # type: ignore[no-untyped-call]

    @asynccontextmanager
    async def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        body: JSON | None = None,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        limits: aiohttp.ClientTimeout,
        session: aiohttp.ClientSession | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request to ``/<api version>/<path>`` over the client's session (or
        ``session``, on the same connector), for the endpoints aiodocker has no fitting
        method for (see the module docstring); the body is ``body`` as JSON or ``raw`` as
        a tar archive."""
        async with self._translated(what):
            if self.api_version == "auto":
                await self.negotiate()
            url = f"{self._docker.docker_host}/{self.api_version}/{path}"
            data = json.dumps(body).encode() if body is not None else raw
            kind = "application/x-tar" if raw is not None else "application/json"
            sent = {"Content-Type": kind, **(headers or {})}
            async with (session or self._docker.session).request(
                method, url, params=params, data=data, headers=sent, timeout=limits
            ) as resp:
                if resp.status >= 400:
                    text = _message((await resp.read()).decode("utf-8", "replace"))
                    raise _answer_error(resp.status, text, what)
                yield resp

    # -- system ---------------------------------------------------------------------

    async def negotiate(self) -> None:
        """Settle the API version with the engine (it reads ``/version``) and record the
        engine's version."""
        version = await self.version()
        self.engine_version = str(version.get("Version", ""))

    async def version(self) -> JSON:
        async with self._translated("read its version"):
            return await self._docker.version()

    async def ping(self) -> None:
        async with self._request("GET", "_ping", what="answer a ping", limits=self._single()) as r:
            await r.read()

    # -- containers -----------------------------------------------------------------

    async def list_containers(self, filters: Mapping[str, list[str]]) -> list[JSON]:
        """Every container (running or not) matching ``filters``, as list entries."""
        async with self._translated("list containers"):
            found = await self._docker.containers.list(all="1", filters=json.dumps(dict(filters)))
        return [{k: c[k] for k in _LIST_FIELDS if k in c} for c in found]

    async def inspect_container(self, ref: str) -> JSON | None:
        """``docker inspect`` of a container, or ``None`` if it does not exist."""
        return await self._unless_absent(f"inspect container {ref}", self._container(ref).show())

    async def create_container(self, name: str, body: JSON) -> str:
        async with self._translated(f"create container {name}"):
            created = await self._docker.containers.create(body, name=name)
        return created.id

    async def start_container(self, ref: str) -> None:
        async with self._translated(f"start container {ref}"):
            await self._container(ref).start()

    async def stop_container(self, ref: str, timeout_s: int) -> None:
        """Stop (SIGTERM, then SIGKILL after ``timeout_s``); a missing container is fine."""
        stop = self._container(ref).stop(t=timeout_s, timeout=self._single(timeout_s))
        await self._unless_absent(f"stop container {ref}", stop)

    async def remove_container(self, ref: str) -> bool:
        """Force-remove (kills if running) with its anonymous volumes (named volumes
        stay); a missing container, or one already being removed (409), is fine: false
        then (this call did not remove it)."""

        async def delete() -> bool:
            await self._container(ref).delete(force=True, v=True, timeout=self._single())
            return True

        removed = await self._unless_absent(f"remove container {ref}", delete(), (404, 409))
        return bool(removed)

    async def wait_container(self, ref: str) -> int:
        """Wait until the container exits (no read timeout); its exit code."""
        async with self._translated(f"wait for container {ref}"):
            result = await self._container(ref).wait(timeout=self._waiting())
        return int(result.get("StatusCode", -1))

    async def update_container(self, ref: str, body: JSON) -> None:
        what = f"update container {ref}"
        path = f"containers/{ref}/update"
        async with self._request("POST", path, what=what, body=body, limits=self._single()) as r:
            await r.read()

    async def rename_container(self, ref: str, name: str) -> None:
        async with self._translated(f"rename container {ref} to {name}"):
            await self._container(ref).rename(name)

    async def put_archive(self, ref: str, path: str, data: bytes) -> None:
        """Extract the tar ``data`` at ``path`` in the container."""
        async with self._translated(f"copy files into container {ref}"):
            await self._container(ref).put_archive(path, data)  # type: ignore[no-untyped-call]

    async def get_archive(self, ref: str, path: str) -> tarfile.TarFile | None:
        """The tar of ``path`` in the container, or ``None`` if it (or the container)
        does not exist."""
        archive = self._container(ref).get_archive(path)
        return await self._unless_absent(f"copy files out of container {ref}", archive)

    @asynccontextmanager
    async def logs(
        self, ref: str, params: Mapping[str, str], *, follow: bool
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """The raw log stream of one container (frames as the engine sends them); a
        followed log has no read timeout.

        The request speaks HTTP/1.0, on a session of its own over the client's connector:
        the engine then sends the stream as it comes and closes the connection at its end,
        instead of one HTTP chunk per log line (which the client handles one by one)."""
        what = f"read the logs of container {ref}"
        timeout = self._waiting() if follow else self._single()
        path = f"containers/{ref}/logs"
        session = aiohttp.ClientSession(
            connector=self._docker.session.connector,
            connector_owner=False,
            version=aiohttp.HttpVersion10,
        )
        try:
            async with self._request(
                "GET", path, what=what, params=params, limits=timeout, session=session
            ) as resp:
                yield self._chunks(resp, what)
        finally:
            await session.close()

    async def _chunks(self, resp: aiohttp.ClientResponse, what: str) -> AsyncIterator[bytes]:
        while True:
            async with self._translated(what):
                chunk = await resp.content.readany()
            if not chunk:
                return
            yield chunk

    async def stats(self, ref: str) -> JSON | None:
        """One stats sample (the engine takes about a second); ``None`` if gone."""
        sample = self._container(ref).stats(stream=False, timeout=self._single())
        samples = await self._unless_absent(f"read the stats of container {ref}", sample)
        return samples[0] if samples else None

    async def exec(
        self, ref: str, argv: list[str], *, stdin: bytes | None, tty: bool
    ) -> ExecOutput:
        """Run ``argv`` in a running container; stdin (if given) is written then ended
        (:meth:`_exec_output`), and the output is read until the engine ends the stream
        (no read timeout: the command takes what it takes). The exit code is the
        engine's, never guessed: a command still running once its output ended is a
        :class:`BackendError`."""
        what = f"run a command in container {ref}"
        async with self._translated(what):
            execution = await self._container(ref).exec(
                argv, stdout=True, stderr=True, stdin=stdin is not None, tty=tty
            )
        out, err = await self._exec_output(execution.id, stdin, tty, what)
        info: JSON = {}
        async with self._translated(what):
            for _ in range(50):
                info = await execution.inspect()
                if not info.get("Running"):
                    break
                await asyncio.sleep(0.05)
        code = info.get("ExitCode")
        if info.get("Running") or code is None:
            raise BackendError(
                f"{what}: its output ended but it still runs (no exit code to report)",
                backend=BACKEND,
            )
        return _normalized(int(code), out, err)

    async def _exec_output(
        self, exec_id: str, stdin: bytes | None, tty: bool, what: str
    ) -> tuple[bytes, bytes]:
        """Start exec ``exec_id`` attached (without a protocol upgrade the engine answers
        200 and streams the output until the command ends), feed it ``stdin``, then end
        the input: a half-close, or on a tty its end-of-input character (Ctrl-D, which
        ends input after a complete line: end ``stdin`` with a newline there)."""
        out, err = bytearray(), bytearray()
        decoder = FrameDecoder(tty=tty)
        path = f"exec/{exec_id}/start"
        body: JSON = {"Detach": False, "Tty": tty}
        async with self._request(
            "POST", path, what=what, body=body, limits=self._waiting()
        ) as resp:
            if stdin is not None:
                transport = resp.connection.transport if resp.connection else None
                if transport is None:
                    raise BackendError(f"{what}: the engine closed the stream", backend=BACKEND)
                if stdin:
                    transport.write(stdin)
                if tty:  # a half-close would end the stream, not the process's input
                    transport.write(_TTY_EOF)
                elif transport.can_write_eof():
                    transport.write_eof()
            async for chunk in self._chunks(resp, what):
                for stream, payload in decoder.feed(chunk):
                    (err if stream == "stderr" else out).extend(payload)
        return bytes(out), bytes(err)

    async def create_exec(
        self, ref: str, argv: list[str], *, tty: bool, env: Mapping[str, str]
    ) -> str:
        """Create (not start) an exec of ``argv`` in a running container with its input
        attached, ``env`` added to the container's; its ID."""
        async with self._translated(f"create an exec in container {ref}"):
            execution = await self._container(ref).exec(
                argv, stdout=True, stderr=True, stdin=True, tty=tty, environment=dict(env)
            )
        return execution.id

    @asynccontextmanager
    async def attach_exec(self, exec_id: str, tty: bool, ref: str) -> AsyncIterator[ExecStream]:
        """Start exec ``exec_id`` attached (the engine hijacks the connection and answers
        200 with the raw stream); the connection is dropped when the block ends."""
        what = f"run an interactive exec in container {ref}"
        body: JSON = {"Detach": False, "Tty": tty}
        path = f"exec/{exec_id}/start"
        async with self._request(
            "POST", path, what=what, body=body, limits=self._waiting()
        ) as resp:
            stream = ExecStream(
                resp, self._chunks(resp, what), what, seconds(self._config.request_timeout)
            )
            try:
                yield stream
            finally:
                stream.close()

    async def resize_exec(self, exec_id: str, rows: int, columns: int) -> None:
        """Set the tty size of a running exec."""
        execution = Exec(self._docker, exec_id)
        async with self._translated("resize an exec's terminal"):
            await execution.resize(h=rows, w=columns)

    async def inspect_exec(self, exec_id: str) -> JSON | None:
        """``GET /exec/{id}/json`` (``Running``, ``ExitCode``, ``Pid``), or ``None`` if the
        engine no longer knows it."""
        execution = Exec(self._docker, exec_id)
        return await self._unless_absent("inspect an exec", execution.inspect())

    # -- networks and volumes -------------------------------------------------------

    async def list_networks(self, filters: Mapping[str, list[str]]) -> list[JSON]:
        async with self._translated("list networks"):
            return await self._docker.networks.list(filters=dict(filters))

    async def inspect_network(self, ref: str) -> JSON | None:
        """``docker network inspect``, or ``None`` if the network does not exist."""
        return await self._unless_absent(f"inspect network {ref}", self._network(ref).show())

    async def create_network(self, body: JSON) -> str:
        async with self._translated(f"create network {body.get('Name')}"):
            created = await self._docker.networks.create(body)
        return str(created.id)

    async def remove_network(self, ref: str) -> None:
        """Remove a network; a missing one is fine."""
        await self._unless_absent(f"remove network {ref}", self._network(ref).delete())

    async def connect_network(
        self, network: str, ref: str, aliases: list[str], *, ipv4: str = ""
    ) -> None:
        """Attach a running container to a network under ``aliases``; ``ipv4`` asks for
        that address (the network needs a subnet given at creation)."""
        endpoint: JSON = {"Aliases": aliases}
        if ipv4:
            endpoint["IPAMConfig"] = {"IPv4Address": ipv4}
        async with self._translated(f"connect container {ref} to network {network}"):
            await self._network(network).connect({"Container": ref, "EndpointConfig": endpoint})

    async def disconnect_network(self, network: str, ref: str) -> None:
        """Detach a container from a network (force); already detached or gone is fine."""
        try:
            async with self._translated(f"disconnect container {ref} from network {network}"):
                await self._network(network).disconnect({"Container": ref, "Force": True})
        except BackendError as exc:
            # 404: gone; 403/500 "is not connected": detached already (varies by version)
            if exc.status != 404 and "not connected" not in str(exc):
                raise

    async def list_volumes(self, filters: Mapping[str, list[str]]) -> list[JSON]:
        async with self._translated("list volumes"):
            found: JSON = await self._docker.volumes.list(  # type: ignore[no-untyped-call]
                filters=dict(filters)
            )
        return list(found.get("Volumes") or [])

    async def create_volume(self, body: JSON) -> str:
        async with self._translated(f"create volume {body.get('Name')}"):
            created = await self._docker.volumes.create(body)  # type: ignore[no-untyped-call]
        return str(created.name)

    async def remove_volume(self, name: str) -> None:
        """Remove a volume; a missing one is fine."""
        volume = DockerVolume(self._docker, name)  # type: ignore[no-untyped-call]
        deletion = volume.delete()  # type: ignore[no-untyped-call]
        await self._unless_absent(f"remove volume {name}", deletion)

    # -- images ---------------------------------------------------------------------

    async def image_exists(self, ref: str) -> bool:
        found = await self._unless_absent(f"inspect image {ref}", self._docker.images.inspect(ref))
        return found is not None

    async def import_image(self, repository: str, tag: str, archive: bytes) -> None:
        """Make image ``repository:tag`` from the root filesystem in the tar ``archive``
        (``docker import``; nothing is pulled)."""
        params = {"fromSrc": "-", "repo": repository, "tag": tag}
        what = f"import image {repository}:{tag}"
        async with self._request(
            "POST", "images/create", what=what, params=params, raw=archive, limits=self._single()
        ) as resp:
            await resp.read()

    async def pull(self, ref: str, auth: Mapping[str, str] | None) -> None:
        """Pull ``ref`` (no read timeout: progress comes as the layers arrive); errors
        reported inside the progress stream raise too.

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
        what = f"pull image {ref}"
        try:
            async with self._request(
                "POST",
                "images/create",
                what=what,
                params=params,
                headers=headers,
                limits=self._waiting(),
            ) as resp:
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
_TTY_EOF = b"\x04"


def exec_exit_code(code: int, head: bytes) -> int:
    """The exit code of an exec whose output starts with ``head``: a program that could
    not be started is reported by the engine as 126 with its reason as output; 127 when
    the program was not found (as a shell does)."""
    if code == 126 and head.startswith(_START_FAILED):
        text = head.lower()
        if b"not found" in text or b"no such file" in text:
            return 127
    return code


def _normalized(code: int, out: bytes, err: bytes) -> ExecOutput:
    """A program that could not be started (:func:`exec_exit_code`): its reason goes to
    stderr."""
    if code == 126 and out.startswith(_START_FAILED):
        return ExecOutput(exec_exit_code(code, out), b"", err + out.replace(b"\r\n", b"\n"))
    return ExecOutput(code, out, err)


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
async def open_client(config: DockerConfig, api_version: str) -> AsyncIterator[DockerClient]:
    """A :class:`DockerClient` for one operation, speaking ``api_version`` (``auto``:
    negotiated first); the connection is closed on exit."""
    timeout = aiohttp.ClientTimeout(
        sock_connect=seconds(config.connect_timeout),
        sock_read=seconds(config.request_timeout),
    )
    try:
        docker = aiodocker.Docker(url=config.docker_host, api_version=api_version, timeout=timeout)
    except (ValueError, OSError, DockerError) as exc:
        raise _error(exc, "connect", config) from None
    try:
        client = DockerClient(docker, config)
        if api_version == "auto":
            await client.negotiate()
        yield client
    finally:
        await asyncio.shield(docker.close())
