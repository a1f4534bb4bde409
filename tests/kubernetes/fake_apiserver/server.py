"""The HTTP face of the fake API server (aiohttp, real HTTP on 127.0.0.1).

Serves the paths the Kubernetes backend calls, as the real server answers them: server-side
apply (``application/apply-patch+yaml`` with a required ``fieldManager``), merge patches,
create (409 when the object exists), get and list with label selectors, delete with
``propagationPolicy`` (and collections by label), the ``scale`` subresource, ``pods/log``
(container, tail, since, timestamps, follow, and ``stream`` on 1.32+ servers) and
``pods/exec`` over websockets (``v5.channel.k8s.io`` / ``v4.channel.k8s.io``: channels 0-2
for stdin/stdout/stderr, 3 for the Status with the exit code), ``/version``, nodes and the
metrics API. Every received object is validated (see :mod:`.schemas`); errors are
``Status`` objects with ``Content-Type: application/json`` exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import yaml
from aiohttp import WSMsgType, web

from .cluster import Cluster
from .schemas import Invalid, check_schema, check_semantics, check_update
from .store import now_rfc3339, parse_selector

JSON = dict[str, Any]

CORE = {
    "pods": "Pod",
    "services": "Service",
    "secrets": "Secret",
    "configmaps": "ConfigMap",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "events": "Event",
}
APPS = {"deployments": "Deployment", "statefulsets": "StatefulSet"}
WRITABLE = set(CORE.values()) - {"Event"} | set(APPS.values())


def _json(body: JSON, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def status_error(code: int, reason: str, message: str, details: JSON | None = None) -> web.Response:
    """A ``Status`` error answer, as the API server writes it."""
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return _json(body, code)


def _not_found(plural: str, group: str, name: str) -> web.Response:
    what = f"{plural}.{group}" if group else plural
    return status_error(
        404,
        "NotFound",
        f'{what} "{name}" not found',
        {"name": name, "group": group, "kind": plural},
    )


def _invalid(kind: str, name: str, err: Invalid) -> web.Response:
    causes = [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in err.causes]
    return status_error(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {err}',
        {"name": name, "kind": kind, "causes": causes},
    )


def _field(obj: JSON, path: str) -> str:
    """The value of a dotted field path (``involvedObject.name``) as text."""
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


FIELD_LABELS: dict[str, frozenset[str]] = {
    "Event": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    "Pod": frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
        }
    ),
    "Secret": frozenset({"type"}),
}
"""Field labels each kind supports in ``fieldSelector`` besides ``metadata.name`` and
``metadata.namespace`` (as the real server registers them); others are a 400."""


def parse_field_selector(kind: str, text: str) -> list[tuple[str, bool, str]]:
    """``(path, equal, value)`` terms of a field selector (``=``, ``==``, ``!=``); a
    ``ValueError`` with the real server's message for a field the kind does not support."""
    allowed = FIELD_LABELS.get(kind, frozenset()) | {"metadata.name", "metadata.namespace"}
    out: list[tuple[str, bool, str]] = []
    for term in filter(None, text.split(",")):
        op = next((o for o in ("!=", "==", "=") if o in term), None)
        if op is None:
            raise ValueError(f"invalid selector: '{text}'; can't understand '{term}'")
        path, value = term.split(op, 1)
        equal = op != "!="
        if path not in allowed:
            raise ValueError(f"field label not supported: {path}")
        out.append((path, equal, value))
    return out


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class FakeApiServer:
    """The fake server: ``await start()``, then point a kubeconfig at :attr:`url`."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.app = web.Application()
        self.runner: web.AppRunner | None = None
        self.url = ""
        r = self.app.router
        r.add_get("/version", self.version)
        r.add_get("/api/v1/nodes/{name}", self.node)
        r.add_get("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods", self.pod_metrics)
        for prefix, group, kinds in (("/api/v1", "", CORE), ("/apis/apps/v1", "apps", APPS)):
            for plural, kind in kinds.items():
                base = f"{prefix}/namespaces/{{ns}}/{plural}"
                ctx = {"kind": kind, "plural": plural, "group": group}
                r.add_route("*", base, self._bind(self.collection, ctx))
                r.add_route("*", base + "/{name}", self._bind(self.item, ctx))
                if group == "apps":
                    r.add_route("*", base + "/{name}/scale", self._bind(self.scale, ctx))
        r.add_get("/api/v1/namespaces/{ns}/pods/{name}/log", self.log)
        r.add_route("*", "/api/v1/namespaces/{ns}/pods/{name}/exec", self.exec)

    @staticmethod
    def _bind(handler: Any, ctx: JSON) -> Any:
        async def bound(request: web.Request) -> web.StreamResponse:
            return await handler(request, **ctx)

        return bound

    async def start(self) -> str:
        await self.cluster.start()
        self.app.middlewares.append(self._record)
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        await self.cluster.stop()
        if self.runner is not None:
            await self.runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.cluster.requests.append((request.method, request.path_qs))
        result: web.StreamResponse = await handler(request)
        return result

    # discovery-ish

    async def version(self, request: web.Request) -> web.Response:
        major, minor = self.cluster.version
        return _json(
            {
                "major": str(major),
                "minor": str(minor),
                "gitVersion": f"v{major}.{minor}.0",
                "platform": "linux/amd64",
            }
        )

    async def node(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name != "fake-node":
            return _not_found("nodes", "", name)
        mem = f"{self.cluster.backend.host_memory_mb}Mi"
        return _json(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name},
                "status": {
                    "capacity": {"memory": mem, "cpu": "4"},
                    "allocatable": {"memory": mem, "cpu": "4"},
                    "addresses": [
                        {"type": "InternalIP", "address": "10.0.0.254"},
                        {"type": "Hostname", "address": "fake-node"},
                    ],
                },
            }
        )

    async def pod_metrics(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        if not self.cluster.hooks.metrics_api:
            return status_error(404, "NotFound", "the server could not find the requested resource")
        try:
            selector = parse_selector(request.query.get("labelSelector"))
        except ValueError as exc:
            return status_error(400, "BadRequest", str(exc))
        items = []
        for pod in self.cluster.store.list("Pod", ns, selector):
            runner = self.cluster.runners.get((ns, pod["metadata"]["name"]))
            if runner is None:
                continue
            containers = [
                {
                    "name": s.name,
                    "usage": {
                        "cpu": f"{max(1, int(s.proc.image.cpu_percent * 10))}m",
                        "memory": f"{s.proc.image.memory_mb * 1024}Ki",
                    },
                }
                for s in runner.slots
                if s.proc is not None and s.proc.running
            ]
            items.append(
                {
                    "metadata": {
                        "name": pod["metadata"]["name"],
                        "namespace": ns,
                        "labels": pod["metadata"].get("labels", {}),
                    },
                    "timestamp": now_rfc3339(),
                    "window": "30s",
                    "containers": containers,
                }
            )
        return _json(
            {
                "kind": "PodMetricsList",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {},
                "items": items,
            }
        )

    # objects

    def _api_version(self, group: str) -> str:
        return f"{group}/v1" if group else "v1"

    async def collection(
        self, request: web.Request, kind: str, plural: str, group: str
    ) -> web.Response:
        ns = request.match_info["ns"]
        store = self.cluster.store
        try:
            selector = parse_selector(request.query.get("labelSelector"))
        except ValueError as exc:
            return status_error(400, "BadRequest", str(exc))
        if request.method == "GET" and (failed := self._failing_read(kind)) is not None:
            return failed
        if request.method == "GET":
            if request.query.get("watch") in ("1", "true"):
                return status_error(405, "MethodNotAllowed", "watch is not served by this fake")
            try:
                fields = parse_field_selector(kind, request.query.get("fieldSelector", ""))
            except ValueError as exc:
                return status_error(400, "BadRequest", str(exc))
            items = [
                store.snapshot(o)
                for o in store.list(kind, ns, selector)
                if all((_field(o, path) == value) == equal for path, equal, value in fields)
            ]
            return _json(
                {
                    "apiVersion": self._api_version(group),
                    "kind": f"{kind}List",
                    "metadata": {"resourceVersion": str(len(store.objects))},
                    "items": items,
                }
            )
        if request.method == "POST":
            try:
                obj = json.loads(await request.read())
            except ValueError as exc:
                return status_error(400, "BadRequest", f"bad JSON: {exc}")
            name = (obj.get("metadata") or {}).get("name", "")
            if store.get(kind, ns, name) is not None:
                return status_error(
                    409,
                    "AlreadyExists",
                    f'{plural}{"." + group if group else ""} "{name}" already exists',
                    {"name": name, "group": group, "kind": plural},
                )
            obj.setdefault("metadata", {})["namespace"] = ns
            try:
                self._validate(obj, kind, group, None)
            except Invalid as err:
                return _invalid(kind, name, err)
            return _json(store.snapshot(store.put(obj)), 201)
        if request.method == "DELETE":
            for obj in store.list(kind, ns, selector):
                await self._delete(obj, "Background")
            return _json(
                {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
            )
        return status_error(405, "MethodNotAllowed", f"{request.method} is not allowed here")

    def _failing_read(self, kind: str) -> web.Response | None:
        """A 500 answer while ``hooks.failing_reads`` counts GETs of ``kind`` down."""
        left = self.cluster.hooks.failing_reads.get(kind, 0)
        if left <= 0:
            return None
        self.cluster.hooks.failing_reads[kind] = left - 1
        return status_error(500, "InternalError", f"etcdserver: request timed out ({kind})")

    def _validate(self, obj: JSON, kind: str, group: str, old: JSON | None) -> None:
        if obj.get("kind") != kind or obj.get("apiVersion") != self._api_version(group):
            raise Invalid([("kind", f"expected {self._api_version(group)} {kind}")])
        if kind not in WRITABLE:
            raise Invalid([("kind", f"{kind} cannot be written through this fake")])
        sent = {k: v for k, v in obj.items() if k != "status"}
        check_schema(sent, self.cluster.version)
        check_semantics(obj, self.cluster.version)
        if old is not None:
            check_update(old, obj)

    async def item(self, request: web.Request, kind: str, plural: str, group: str) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        store = self.cluster.store
        obj = store.get(kind, ns, name)
        if request.method == "GET" and (failed := self._failing_read(kind)) is not None:
            return failed
        if request.method == "GET":
            return (
                _json(store.snapshot(obj)) if obj is not None else _not_found(plural, group, name)
            )
        if request.method == "DELETE":
            if obj is None:
                return _not_found(plural, group, name)
            if kind in self.cluster.hooks.refused_deletes:
                return status_error(
                    403,
                    "Forbidden",
                    f'{plural} "{name}" is forbidden: User "tester" cannot delete resource '
                    f'"{plural}" in API group "{group}" in the namespace "{ns}"',
                    {"name": name, "group": group, "kind": plural},
                )
            policy = request.query.get("propagationPolicy", "Background")
            if policy not in ("Background", "Foreground", "Orphan"):
                return status_error(400, "BadRequest", f"invalid propagationPolicy {policy!r}")
            await self._delete(obj, policy)
            return _json(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {"name": name, "kind": plural},
                }
            )
        if request.method == "PATCH":
            ctype = request.headers.get("Content-Type", "")
            known = ("apply-patch", "merge-patch+json", "strategic-merge-patch+json")
            if not any(k in ctype for k in known):
                return status_error(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format ({ctype}) - accepted "
                    "media types include: application/merge-patch+json, "
                    "application/apply-patch+yaml",
                )
            raw = await request.read()
            try:
                body = yaml.safe_load(raw) if "apply-patch" in ctype else json.loads(raw)
            except (ValueError, yaml.YAMLError) as exc:
                return status_error(400, "BadRequest", f"error decoding patch: {exc}")
            if not isinstance(body, dict):
                return status_error(400, "BadRequest", "patch must be an object")
            if "apply-patch" in ctype:
                return self._apply(request, obj, body, kind, plural, group, ns, name)
            if ctype.startswith(
                ("application/merge-patch+json", "application/strategic-merge-patch+json")
            ):
                if obj is None:
                    return _not_found(plural, group, name)
                merged = merge_patch(store.snapshot(obj), body)
                try:
                    self._validate(merged, kind, group, obj)
                except Invalid as err:
                    return _invalid(kind, name, err)
                merged["status"] = obj.get("status", {})
                return _json(store.snapshot(store.put(merged)))
            return status_error(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format ({ctype}) - accepted media "
                "types include: application/merge-patch+json, application/apply-patch+yaml",
            )
        return status_error(405, "MethodNotAllowed", f"{request.method} is not allowed here")

    def _apply(
        self,
        request: web.Request,
        obj: JSON | None,
        body: JSON,
        kind: str,
        plural: str,
        group: str,
        ns: str,
        name: str,
    ) -> web.Response:
        manager = request.query.get("fieldManager", "")
        if not manager:
            return status_error(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: '
                "fieldManager: Required value: is required for apply patch",
            )
        meta = body.get("metadata") or {}
        if meta.get("name") != name:
            return status_error(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        if meta.get("namespace", ns) != ns:
            return status_error(
                400,
                "BadRequest",
                "the namespace of the object does not match the namespace on the request",
            )
        store = self.cluster.store
        try:
            if body.get("kind") != kind or body.get("apiVersion") != self._api_version(group):
                raise Invalid([("kind", f"expected {self._api_version(group)} {kind}")])
            check_schema({k: v for k, v in body.items() if k != "status"}, self.cluster.version)
        except Invalid as err:
            return _invalid(kind, name, err)
        new = json.loads(json.dumps(body))
        new["metadata"]["namespace"] = ns
        if obj is not None:
            # one manager owns what it applies; fields it omits keep the values set by
            # others (here: replicas set through the scale subresource, clusterIP).
            old_spec = obj.get("spec") or {}
            if kind in ("Deployment", "StatefulSet", "Service"):
                spec = new.setdefault("spec", {})
                if kind != "Service" and "replicas" not in spec:
                    spec["replicas"] = old_spec.get("replicas", 1)
                if kind == "Service" and "clusterIP" in old_spec and "clusterIP" not in spec:
                    spec["clusterIP"] = old_spec["clusterIP"]
                if kind == "Service":  # allocated node ports stay unless the applier sets them
                    allocated = {p["port"]: p.get("nodePort") for p in old_spec.get("ports") or []}
                    for port in spec.get("ports") or []:
                        if "nodePort" not in port and allocated.get(port["port"]):
                            port["nodePort"] = allocated[port["port"]]
            new["status"] = obj.get("status", {})
        elif kind in ("Deployment", "StatefulSet"):
            new.setdefault("spec", {}).setdefault("replicas", 1)
        try:
            check_semantics(new, self.cluster.version)
            if obj is not None:
                check_update(obj, new)
        except Invalid as err:
            return _invalid(kind, name, err)
        new["metadata"]["managedFields"] = [
            {
                "manager": manager,
                "operation": "Apply",
                "apiVersion": body["apiVersion"],
                "time": now_rfc3339(),
                "fieldsType": "FieldsV1",
                "fieldsV1": {},
            }
        ]
        created = obj is None
        return _json(store.snapshot(store.put(new)), 201 if created else 200)

    async def _delete(self, obj: JSON, policy: str) -> None:
        store = self.cluster.store
        meta = obj["metadata"]
        kind, ns, name = obj["kind"], meta["namespace"], meta["name"]
        if kind == "Pod":
            await self.cluster.delete_pod(ns, name)
            return
        if kind not in ("Deployment", "StatefulSet"):
            store.delete(kind, ns, name)
            return
        if policy == "Orphan":
            for pod in self.cluster.owned_pods(obj):
                pod["metadata"].pop("ownerReferences", None)
            store.delete(kind, ns, name)
            return
        if policy == "Background":
            store.delete(kind, ns, name)
            await self.cluster.delete_owned(obj)
            return
        meta["deletionTimestamp"] = now_rfc3339()
        meta["finalizers"] = ["foregroundDeletion"]
        store.touch(obj)
        await self.cluster.delete_owned(obj)

        async def finish() -> None:
            while self.cluster.owned_pods(obj):  # noqa: ASYNC110 - polls the simulated GC
                await asyncio.sleep(self.cluster.tick)
            store.delete(kind, ns, name)

        asyncio.get_running_loop().create_task(finish())

    async def scale(self, request: web.Request, kind: str, plural: str, group: str) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        obj = self.cluster.store.get(kind, ns, name)
        if obj is None:
            return _not_found(plural, group, name)
        if request.method == "PATCH":
            try:
                body = json.loads(await request.read())
                replicas = body["spec"]["replicas"]
            except (ValueError, KeyError, TypeError) as exc:
                return status_error(400, "BadRequest", f"bad scale patch: {exc}")
            if not isinstance(replicas, int) or replicas < 0:
                return _invalid(
                    "Scale",
                    name,
                    Invalid([("spec.replicas", "must be greater than or equal to 0")]),
                )
            obj["spec"]["replicas"] = replicas
            self.cluster.store.put(obj)
        elif request.method != "GET":
            return status_error(405, "MethodNotAllowed", f"{request.method} is not allowed here")
        selector = ",".join(f"{k}={v}" for k, v in obj["spec"]["selector"]["matchLabels"].items())
        return _json(
            {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "resourceVersion": obj["metadata"]["resourceVersion"],
                    "uid": obj["metadata"]["uid"],
                },
                "spec": {"replicas": obj["spec"]["replicas"]},
                "status": {
                    "replicas": (obj.get("status") or {}).get("replicas", 0),
                    "selector": selector,
                },
            }
        )

    # pods/log and pods/exec

    def _container(
        self, ns: str, pod_name: str, container: str | None
    ) -> tuple[Any, Any] | web.Response:
        pod = self.cluster.store.get("Pod", ns, pod_name)
        runner = self.cluster.runners.get((ns, pod_name))
        if pod is None or runner is None:
            return _not_found("pods", "", pod_name)
        names = [c["name"] for c in pod["spec"]["containers"]]
        inits = [c["name"] for c in pod["spec"].get("initContainers") or []]
        if not container:
            if len(names) + len(inits) != 1:
                return status_error(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {pod_name}, "
                    f"choose one of: [{' '.join(names)}]"
                    + (f" or one of the init containers: [{' '.join(inits)}]" if inits else ""),
                )
            container = (names + inits)[0]
        slot = runner.slot(container)
        if slot is None:
            return status_error(
                400, "BadRequest", f"container {container} is not valid for pod {pod_name}"
            )
        return runner, slot

    async def log(self, request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        q = request.query
        found = self._container(ns, name, q.get("container"))
        if isinstance(found, web.Response):
            return found
        runner, slot = found
        proc = slot.previous if q.get("previous") == "true" else slot.proc
        if proc is None:
            reason = slot.waiting[0] if slot.waiting else "ContainerCreating"
            return status_error(
                400,
                "BadRequest",
                f'container "{slot.name}" in pod "{name}" is waiting to start: {reason}',
            )
        stream = q.get("stream", "All")
        if stream != "All" and self.cluster.version < (1, 32):
            return status_error(
                400, "BadRequest", "stream: field not declared for this server version"
            )
        want = {"All": ("stdout", "stderr"), "Stdout": ("stdout",), "Stderr": ("stderr",)}.get(
            stream
        )
        if want is None:
            return status_error(422, "Invalid", f"stream: Unsupported value: {stream!r}")
        since: datetime | None = None
        if "sinceSeconds" in q:
            since = datetime.fromtimestamp(time.time() - int(q["sinceSeconds"]), UTC)
        if "sinceTime" in q:
            since = datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00"))
        stamps = q.get("timestamps") == "true"
        follow = q.get("follow") == "true"

        def lines(records: list[Any]) -> bytes:
            out = []
            for r in records:
                at = r.time.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z "
                out.append(((at if stamps else "") + r.line + "\n").encode())
            return b"".join(out)

        self.cluster.backend.catch_up(proc)
        records = [r for r in proc.logs if r.stream in want and (since is None or r.time >= since)]
        if "tailLines" in q:
            n = int(q["tailLines"])
            records = records[-n:] if n > 0 else []
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        await resp.write(lines(records))
        seen = len(proc.logs)
        while follow:
            await asyncio.sleep(self.cluster.tick * 2)
            self.cluster.backend.catch_up(proc)
            fresh = [r for r in proc.logs[seen:] if r.stream in want]
            seen = len(proc.logs)
            if fresh:
                await resp.write(lines(fresh))
            if not proc.running or runner.stopped or slot.proc is not proc:
                break
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
        return resp

    async def exec(self, request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        q = request.query
        command = q.getall("command", [])
        if not command:
            return status_error(400, "BadRequest", "you must specify at least 1 command")
        found = self._container(ns, name, q.get("container"))
        if isinstance(found, web.Response):
            return found
        _, slot = found
        proc = slot.proc
        if proc is None or not proc.running:
            return status_error(
                400,
                "BadRequest",
                f'unable to upgrade connection: container not found ("{slot.name}")',
            )
        protocols = ("v4.channel.k8s.io",)
        if self.cluster.version >= (1, 30):  # the v5 subprotocol (stdin close) is 1.30+
            protocols = ("v5.channel.k8s.io", *protocols)
        ws = web.WebSocketResponse(protocols=protocols)
        if not ws.can_prepare(request).ok:
            return status_error(400, "BadRequest", "Upgrade request required")
        await ws.prepare(request)
        v5 = ws.ws_protocol == "v5.channel.k8s.io"
        stdin = bytearray()
        if q.get("stdin") in ("true", "1"):
            # collect stdin until the client closes it (v5) or goes quiet: never block on it
            while True:
                try:
                    msg = await ws.receive(timeout=0.2 if not stdin else 1.0)
                except TimeoutError:
                    break
                if msg.type != WSMsgType.BINARY:
                    break
                data = bytes(msg.data)
                if v5 and data == bytes((255, 0)):
                    break
                if data[:1] == b"\x00":
                    stdin += data[1:]
        from ctrlplane.testing.shell import run_command

        res = await run_command(command, env=proc.env, fs=proc.files, stdin=bytes(stdin))
        with contextlib.suppress(ConnectionError):  # the client may have gone
            if res.stdout and q.get("stdout") in ("true", "1"):
                await ws.send_bytes(b"\x01" + res.stdout)
            if res.stderr and q.get("stderr") in ("true", "1"):
                await ws.send_bytes(b"\x02" + res.stderr)
            if res.exit_code == 0:
                status: JSON = {"metadata": {}, "status": "Success"}
            else:
                status = {
                    "metadata": {},
                    "status": "Failure",
                    "message": "command terminated with non-zero exit code: error executing "
                    f"command {command}, exit code {res.exit_code}",
                    "reason": "NonZeroExitCode",
                    "details": {"causes": [{"reason": "ExitCode", "message": str(res.exit_code)}]},
                }
            await ws.send_bytes(b"\x03" + json.dumps(status).encode())
            await ws.close()
        return ws
