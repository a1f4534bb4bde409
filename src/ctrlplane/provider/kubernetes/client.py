"""The client of the Kubernetes API server: every call the backend makes, through lightkube.

This is the only module that imports lightkube's client (and httpx2, its HTTP library),
and the only place their errors are translated into :mod:`ctrlplane.errors`. The rest of
the backend sees plain manifests (:data:`~ctrlplane.provider.native.JSON`) and our errors:

- ``ApiError`` 401/403 -> :class:`PermissionDenied`; 404 -> :class:`InstanceNotFound` when an
  instance is named (else :class:`BackendError`); 422 -> :class:`InvalidSpec` (the server's
  causes become problems); a server-side apply that structured-merge-diff refused (500
  "failed to create typed patch object: .spec.x: ...", before any validation) ->
  :class:`NotSupported` for a field the server does not declare (a newer Kubernetes
  field), :class:`InvalidSpec` for a value of the wrong type; any other status ->
  :class:`BackendError` with the status;
- connection, DNS, TLS and timeout errors -> :class:`BackendUnavailable`;
- lightkube's configuration errors -> :class:`BackendUnavailable` naming the kubeconfig.

Only public lightkube API is used: the typed calls of ``lightkube.AsyncClient``, and for
what it has no call for (``/version``, ``pods/log`` with ``sinceTime`` and ``stream``) an
HTTP client configured from the same kubeconfig by lightkube's own
``lightkube.config.client_adapter``. Every request has the config's ``request_timeout`` as
its connect and read timeout (a followed log has no read timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import httpx2 as httpx
import msgspec
from lightkube import ApiError, AsyncClient, ConfigError, KubeConfig
from lightkube.codecs import from_dict
from lightkube.config.client_adapter import AsyncClient as configured_http_client
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import SingleConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment, ReplicaSet, StatefulSet
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import (
    ConfigMap,
    Endpoints,
    Event,
    Node,
    PersistentVolumeClaim,
    Pod,
    Secret,
    Service,
)
from lightkube.types import CascadeType, PatchType

from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    CtrlplaneError,
    InstanceNotFound,
    InvalidSpec,
    NotSupported,
    PermissionDenied,
    Problem,
)
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.render.naming import BACKEND
from ctrlplane.provider.native import JSON

__all__ = [
    "Cluster",
    "Connections",
    "ExecOutput",
    "Kind",
    "LogResponse",
    "ServerVersion",
    "StdinNotClosable",
    "connect",
    "translate",
    "translated",
]

Kind = Literal[
    "Deployment",
    "StatefulSet",
    "ReplicaSet",
    "Service",
    "Endpoints",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Pod",
    "Event",
    "Node",
    "Lease",
]
"""The kinds of object the backend reads and writes."""

_PodMetrics = create_namespaced_resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods")

_RESOURCES: dict[str, Any] = {
    "Deployment": Deployment,
    "StatefulSet": StatefulSet,
    "ReplicaSet": ReplicaSet,
    "Service": Service,
    "Endpoints": Endpoints,
    "Lease": Lease,
    "Secret": Secret,
    "ConfigMap": ConfigMap,
    "PersistentVolumeClaim": PersistentVolumeClaim,
    "Pod": Pod,
    "Event": Event,
    "Node": Node,
}


_PATHS: dict[str, tuple[str, str]] = {
    "Lease": ("/apis/coordination.k8s.io/v1", "leases"),
}
"""Where the kinds deleted with preconditions are served (lightkube's ``delete`` takes no
``DeleteOptions`` body)."""


# -- errors -------------------------------------------------------------------------------


_TYPED_PATCH = "failed to create typed patch object"


def _typed_patch_problems(message: str) -> list[Problem]:
    """The field problems of a structured-merge-diff refusal (one, or ``errors:`` and one
    per line)."""
    text = message.split(":", 1)[1].strip() if ":" in message else message
    if text.startswith("(") and "):" in text:  # newer servers name the object first
        text = text.split("):", 1)[1].strip()
    lines = text.splitlines()[1:] if text.startswith("errors:") else [text]
    problems = []
    for line in lines:
        path, _, problem = line.strip().partition(": ")
        problems.append(Problem(path.lstrip("."), problem or path))
    return problems


def _schema_refusal(message: str, what: str) -> CtrlplaneError:
    """:class:`NotSupported` or :class:`InvalidSpec` for an apply structured-merge-diff
    refused (see the module)."""
    problems = _typed_patch_problems(message)
    unknown = [p.path for p in problems if "not declared in schema" in p.message]
    if unknown:
        return NotSupported(
            BACKEND,
            ", ".join(unknown),
            detail=f"{what}: the API server does not declare this field (it is newer than "
            "the server's Kubernetes version)",
        )
    return InvalidSpec(problems, subject=f"Kubernetes object ({what})")


def translate(exc: BaseException, what: str, *, instance_id: str = "") -> CtrlplaneError:
    """The ctrlplane error for a client-library exception raised while doing ``what``."""
    if isinstance(exc, ApiError):
        status = exc.status
        code = status.code or 0
        message = status.message or str(exc)
        if code == 500 and message.startswith(_TYPED_PATCH):
            return _schema_refusal(message, what)
        if code in (401, 403):
            return PermissionDenied(f"{what}: {message}", backend=BACKEND, status=code)
        if code == 404 and instance_id:
            return InstanceNotFound(instance_id, provider=BACKEND)
        if code == 422:
            causes = status.details.causes if status.details and status.details.causes else []
            problems = [Problem(c.field or "", c.message or "") for c in causes]
            return InvalidSpec(problems or message, subject=f"Kubernetes object ({what})")
        return BackendError(f"{what}: {message}", backend=BACKEND, status=code)
    if isinstance(exc, ConfigError):
        return BackendUnavailable(f"{what}: Kubernetes configuration: {exc}", backend=BACKEND)
    if isinstance(exc, httpx.TimeoutException):
        return BackendUnavailable(f"{what}: the API server did not answer in time", backend=BACKEND)
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        cls = PermissionDenied if code in (401, 403) else BackendError
        return cls(f"{what}: HTTP {code} from the API server", backend=BACKEND, status=code)
    if isinstance(exc, httpx.HTTPError | OSError):
        return BackendUnavailable(f"{what}: cannot reach the API server: {exc}", backend=BACKEND)
    return BackendError(f"{what}: {type(exc).__name__}: {exc}", backend=BACKEND)


def _links(err: BaseException) -> list[BaseException]:
    """What a walk of an error's chain goes on to: its cause, context and members."""
    found = [x for x in (err.__cause__, err.__context__) if x is not None]
    if isinstance(err, BaseExceptionGroup):
        found += list(err.exceptions)
    return list({id(x): x for x in found}.values())


def _loops(exc: BaseException) -> bool:
    """Whether the chain of ``exc`` leads back to an error on the way to it."""
    done: set[int] = set()
    path: set[int] = set()
    stack: list[tuple[BaseException, bool]] = [(exc, False)]
    while stack:
        err, leaving = stack.pop()
        if leaving:
            path.discard(id(err))
            done.add(id(err))
            continue
        if id(err) in path:
            return True
        if id(err) in done:
            continue
        path.add(id(err))
        stack.append((err, True))
        stack.extend((linked, False) for linked in _links(err))
    return False


def untangle(exc: BaseException) -> BaseException:
    """``exc`` cut from its chain when the chain loops back (lightkube's exec raises an
    error chained to an exception group that holds it), so whoever walks it (the redactor
    scrubbing an error) ends; its message stays."""
    if _loops(exc):
        exc.__cause__ = exc.__context__ = None
        exc.__suppress_context__ = True
    return exc


@contextlib.contextmanager
def translated(what: str, *, instance_id: str = "") -> Iterator[None]:
    """Run a block of API calls, translating client-library errors (ours pass through)."""
    try:
        yield
    except CtrlplaneError:
        raise
    except (ApiError, ConfigError, httpx.HTTPError, OSError) as exc:
        raise translate(untangle(exc), what, instance_id=instance_id) from exc


def _status(exc: BaseException) -> int:
    """The HTTP status of an error answer (0 for anything else): lightkube's ``ApiError``
    for a ``Status`` body, or a bare HTTP error for anything else (the plain-text ``404
    page not found`` of a path the server does not serve)."""
    if isinstance(exc, ApiError):
        return exc.status.code or 0
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    return 0


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerVersion:
    """The API server's version: ``major.minor`` and its ``gitVersion`` (``v1.33.0``)."""

    major: int
    minor: int
    git_version: str

    @property
    def pair(self) -> tuple[int, int]:
        """``(major, minor)``, for comparisons."""
        return self.major, self.minor


@dataclass(frozen=True)
class ExecOutput:
    """What a command run through ``pods/exec`` left."""

    exit_code: int
    stdout: bytes
    stderr: bytes


class StdinNotClosable(Exception):
    """The server speaks only ``v4.channel.k8s.io``: stdin cannot be closed, so a command
    that reads it would never end."""


class LogResponse:
    """One open ``pods/log`` stream (headers read); close it with :meth:`aclose`."""

    def __init__(self, response: httpx.Response, what: str) -> None:
        self._response = response
        self._what = what

    async def lines(self) -> AsyncIterator[str]:
        """The lines of the log as they arrive; the response is closed at the end."""
        try:
            with translated(self._what):
                async for line in self._response.aiter_lines():
                    yield line
        finally:
            await self._response.aclose()

    async def aclose(self) -> None:
        """Close the response (idempotent)."""
        await self._response.aclose()


# -- the client ---------------------------------------------------------------------------


def _kubeconfig(config: KubernetesConfig) -> SingleConfig:
    if config.in_cluster:
        found = KubeConfig.from_service_account().get()
    elif config.kubeconfig:
        found = KubeConfig.from_file(config.kubeconfig).get(config.context)
    else:
        found = KubeConfig.from_env().get(config.context)
    if found is None:
        raise ConfigError("the kubeconfig selects no context; set `context`")
    cluster = found.cluster
    if cluster.server.startswith("http://") and not cluster.insecure:
        # plain HTTP (a local proxy): no TLS, so no CA bundle to load for nothing (the
        # client builds a TLS context otherwise: about 0.1 s of CPU)
        found = found._replace(cluster=msgspec.structs.replace(cluster, insecure=True))
    return found


class Cluster:
    """An open connection to the API server for one operation, in the configured namespace.

    Calls name what they do (``what``) for error messages; an ``instance_id`` makes a 404
    an :class:`InstanceNotFound`.
    """

    def __init__(self, config: KubernetesConfig, api: AsyncClient) -> None:
        self.config = config
        self.namespace = config.namespace
        self._api = api
        self._http: httpx.AsyncClient | None = None

    def _timeout(self, *, read: bool = True) -> httpx.Timeout:
        limit = seconds(self.config.request_timeout)
        return httpx.Timeout(limit, read=limit if read else None)

    def _raw(self) -> httpx.AsyncClient:
        """An HTTP client configured from the same kubeconfig (server, TLS, credentials)
        by lightkube's public adapter, for the endpoints lightkube has no call for."""
        if self._http is None:
            params = ConnectionParams(timeout=self._timeout(), trust_env=False)
            self._http = configured_http_client(self._api.config, params)
        return self._http

    async def close(self) -> None:
        """Close the connections."""
        try:
            if self._http is not None:
                await self._http.aclose()
        finally:
            await self._api.close()

    async def version(self) -> ServerVersion:
        """The server's ``/version``."""
        with translated("read the server version"):
            resp = await self._raw().get("/version")
            resp.raise_for_status()
            data = resp.json()
        minor = "".join(c for c in str(data.get("minor", "0")) if c.isdigit()) or "0"
        major = int(str(data.get("major", "1")) or 1)
        return ServerVersion(major, int(minor), str(data.get("gitVersion") or ""))

    async def get(self, kind: Kind, name: str) -> JSON:
        """The object ``kind``/``name`` (a Node is cluster-wide, the rest namespaced)."""
        resource = _RESOURCES[kind]
        with translated(f"read {kind} {name}"):
            if kind == "Node":
                found = await self._api.get(resource, name)
            else:
                found = await self._api.get(resource, name, namespace=self.namespace)
        return cast(JSON, found.to_dict())

    async def find(self, kind: Kind, name: str) -> JSON | None:
        """:meth:`get`, or ``None`` when there is no such object."""
        try:
            return await self.get(kind, name)
        except BackendError as exc:
            if _status(exc.__cause__ or exc) == 404:
                return None
            raise

    async def list_objects(
        self,
        kind: Kind,
        *,
        labels: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
        what: str = "",
        instance_id: str = "",
    ) -> list[JSON]:
        """The objects of ``kind`` in the namespace matching ``labels`` and ``fields``."""
        resource = _RESOURCES[kind]
        selected: dict[str, Any] = {"labels": dict(labels or {}) or None}
        if fields:
            selected["fields"] = dict(fields)
        with translated(what or f"list {kind}s", instance_id=instance_id):
            return [
                cast(JSON, o.to_dict())
                async for o in self._api.list(resource, namespace=self.namespace, **selected)
            ]

    async def apply(self, manifests: Sequence[JSON], what: str) -> None:
        """Server-side apply of each manifest, in order, under the configured field manager
        (conflicts forced: the backend owns its objects)."""
        for manifest in manifests:
            name = manifest["metadata"]["name"]
            with translated(f"{what}: apply {manifest['kind']} {name}"):
                await self._api.apply(
                    from_dict(manifest), field_manager=self.config.field_manager, force=True
                )

    async def create(self, manifest: JSON, what: str) -> JSON | None:
        """Create the object ``manifest`` (``POST``); ``None`` when it exists already."""
        try:
            with translated(what):
                made = await self._api.create(from_dict(manifest))
        except BackendError as exc:
            if _status(exc.__cause__ or exc) == 409:
                return None
            raise
        return cast(JSON, cast(Any, made).to_dict())

    async def replace(self, manifest: JSON, what: str) -> JSON | None:
        """Replace the object with ``manifest`` (``PUT``), whose ``resourceVersion`` is the
        version it replaces; ``None`` when the object changed since (409) or is gone."""
        try:
            with translated(what):
                made = await self._api.replace(from_dict(manifest))
        except BackendError as exc:
            if _status(exc.__cause__ or exc) in (404, 409):
                return None
            raise
        return cast(JSON, cast(Any, made).to_dict())

    async def delete_version(self, kind: Kind, name: str, resource_version: str) -> None:
        """Delete ``kind``/``name`` only if it is still at ``resource_version`` (a
        ``preconditions`` delete): a changed or missing object is left alone."""
        prefix, plural = _PATHS[kind]
        url = f"{prefix}/namespaces/{self.namespace}/{plural}/{name}"
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"resourceVersion": resource_version},
        }
        with translated(f"delete {kind} {name}"):
            resp = await self._raw().request("DELETE", url, json=body)
            if resp.status_code in (404, 409):
                return
            resp.raise_for_status()

    async def delete(self, kind: Kind, name: str, *, background: bool = False) -> None:
        """Delete ``kind``/``name`` (already gone is fine); ``background`` deletes its
        dependants (a controller's pods) after it."""
        cascade = CascadeType.BACKGROUND if background else None
        try:
            with translated(f"delete {kind} {name}"):
                await self._api.delete(
                    _RESOURCES[kind], name, namespace=self.namespace, cascade=cascade
                )
        except BackendError as exc:
            if _status(exc.__cause__ or exc) != 404:
                raise

    async def scale(self, kind: Kind, name: str, replicas: int, *, instance_id: str) -> None:
        """Set a controller's replica count through its ``scale`` subresource."""
        resource = _RESOURCES[kind]
        with translated(f"scale {instance_id}", instance_id=instance_id):
            await self._api.patch(
                resource.Scale,
                name,
                {"spec": {"replicas": replicas}},
                namespace=self.namespace,
                patch_type=PatchType.MERGE,
            )

    async def exec(
        self, pod: str, container: str, argv: Sequence[str], stdin: bytes | None
    ) -> ExecOutput:
        """Run ``argv`` in ``container`` of ``pod`` (``pods/exec``), stdin written and
        closed; bounded by the request timeout. :class:`StdinNotClosable` when the server
        cannot close stdin (``v4.channel.k8s.io`` only)."""
        try:
            with translated(f"exec in {pod}/{container}"):
                resp = await self._api.exec(
                    pod,
                    namespace=self.namespace,
                    container=container,
                    command=list(argv),
                    stdin=stdin,
                    stdout=True,
                    stderr=True,
                    decode=None,
                    timeout=seconds(self.config.request_timeout),
                )
        except CtrlplaneError as exc:
            cause = exc.__cause__
            message = cause.status.message or "" if isinstance(cause, ApiError) else ""
            if "supports writing to stdin" in message:
                raise StdinNotClosable from None
            raise
        return ExecOutput(resp.exit_code, _as_bytes(resp.stdout), _as_bytes(resp.stderr))

    async def pod_metrics(self, labels: Mapping[str, str]) -> list[JSON]:
        """The ``PodMetrics`` of the pods matching ``labels`` (``metrics.k8s.io``);
        :class:`NotSupported` when the cluster serves no metrics API."""
        try:
            with translated("read pod metrics"):
                return [
                    cast(JSON, cast(Any, m).to_dict())
                    async for m in self._api.list(
                        _PodMetrics, namespace=self.namespace, labels=dict(labels)
                    )
                ]
        except BackendError as exc:
            if _status(exc.__cause__ or exc) in (404, 503):
                raise NotSupported(
                    BACKEND,
                    "resources",
                    detail="the cluster serves no metrics API (metrics-server)",
                ) from None
            raise

    def _log_url(self, pod: str) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{pod}/log"

    async def open_log(
        self, pod: str, params: Mapping[str, str], *, follow: bool, what: str, subject: str
    ) -> LogResponse | None:
        """Open ``pods/log`` of ``pod`` with ``params`` (headers read); ``None`` if the pod
        is gone. A followed log has no read timeout. An error answer is a
        :class:`CtrlplaneError` naming ``subject``, with the status and the server's text."""
        with translated(what):
            request = self._raw().build_request(
                "GET",
                self._log_url(pod),
                params=dict(params),
                timeout=self._timeout(read=not follow),
            )
            resp = await self._raw().send(request, stream=True)
            if resp.status_code < 400:
                return LogResponse(resp, what)
            body = (await resp.aread()).decode(errors="replace")
            await resp.aclose()
        if resp.status_code == 404:
            return None
        raise CtrlplaneError(f"{subject}: HTTP {resp.status_code}: {body[:300]}")

    async def read_log(self, pod: str, params: Mapping[str, str], what: str) -> str | None:
        """The text ``pods/log`` of ``pod`` answers to ``params`` (not followed); ``None``
        for an error answer (to find out how the server treats a parameter)."""
        with translated(what):
            resp = await self._raw().get(self._log_url(pod), params=dict(params))
        return resp.text if resp.status_code < 400 else None


def _as_bytes(data: str | bytes | None) -> bytes:
    if data is None:
        return b""
    return data.encode() if isinstance(data, str) else bytes(data)


def _open(config: KubernetesConfig) -> Cluster:
    """A new :class:`Cluster` for the configured kubeconfig, context and namespace (proxy
    variables of the environment are not used)."""
    with translated("connect to the API server"):
        api = AsyncClient(
            config=_kubeconfig(config),
            namespace=config.namespace,
            field_manager=config.field_manager,
            timeout=httpx.Timeout(seconds(config.request_timeout)),
            trust_env=False,
        )
    return Cluster(config, api)


@contextlib.asynccontextmanager
async def connect(config: KubernetesConfig) -> AsyncIterator[Cluster]:
    """A new :class:`Cluster`, closed at the end of the block."""
    cluster = _open(config)
    try:
        yield cluster
    finally:
        await cluster.close()


class Connections:
    """A provider object's connections to the API server: one :class:`Cluster` per event
    loop, shared by its operations and lease calls (making a client costs a TLS context,
    about 0.1 s of CPU, and a kubeconfig read), until :meth:`aclose`.

    HTTP connections are pooled by the client: a request that was cancelled or timed
    out leaves no connection behind, so work that must run after one (a cleanup, a
    restore) uses the same :class:`Cluster`.
    """

    def __init__(self, config: KubernetesConfig) -> None:
        self.config = config
        self._clusters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Cluster] = (
            weakref.WeakKeyDictionary()
        )

    def cluster(self) -> Cluster:
        """The :class:`Cluster` of the running event loop (made on first use)."""
        loop = asyncio.get_running_loop()
        found = self._clusters.get(loop)
        if found is None:
            found = _open(self.config)
            self._clusters[loop] = found
        return found

    async def aclose(self) -> None:
        """Close the running loop's connections (the next call opens new ones)."""
        found = self._clusters.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found.close()
