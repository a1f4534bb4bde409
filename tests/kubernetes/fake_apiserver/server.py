"""The HTTP face of the fake API server (aiohttp, real HTTP on 127.0.0.1).

Serves the paths the Kubernetes backend calls, as the real server answers them (the
answers of a real 1.21.2 server are in ``recorded/``; ``test_recorded_answers.py`` replays
them): server-side apply (``application/apply-patch+yaml``, ``fieldManager`` required,
``force``; field managers and their 409 conflicts, see :mod:`.managers`; what
structured-merge-diff rejects is a 500, see :mod:`.schemas`), merge patches, create (409
when the object exists), replace (``PUT``: the ``resourceVersion`` is the check-and-set
token, 409 on a stale one), get, list and watch with label and field selectors, delete
with ``propagationPolicy`` and ``preconditions`` (a graceful or foreground delete returns
the object, an immediate one a ``Status``), the ``scale`` subresource, ``pods/log`` and
``pods/exec`` (:mod:`.streams`), ``/version``, nodes and, when installed, the metrics API.
Served kinds: Pods, Services, Endpoints, Secrets, ConfigMaps, PersistentVolumeClaims,
Events, Deployments, ReplicaSets, StatefulSets and ``coordination.k8s.io`` Leases. A path
nothing serves is a plain-text ``404 page not found``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import yaml
from aiohttp import web

from . import streams
from .answers import (
    conflict,
    invalid,
    json_answer,
    not_found,
    page_not_found,
    resource_name,
    status_error,
    success,
)
from .cluster import NODE, Cluster
from .managers import FieldOwners, Manager, leaves, user_agent_manager
from .schemas import (
    Invalid,
    apply_errors,
    check_apply_schema,
    check_schema,
    check_semantics,
    check_update,
    smd_message,
)
from .store import now_rfc3339, parse_selector

JSON = dict[str, Any]

GROUPS: list[tuple[str, str, dict[str, str]]] = [
    (
        "/api/v1",
        "",
        {
            "pods": "Pod",
            "services": "Service",
            "endpoints": "Endpoints",
            "secrets": "Secret",
            "configmaps": "ConfigMap",
            "persistentvolumeclaims": "PersistentVolumeClaim",
            "events": "Event",
        },
    ),
    (
        "/apis/apps/v1",
        "apps",
        {"deployments": "Deployment", "statefulsets": "StatefulSet", "replicasets": "ReplicaSet"},
    ),
    ("/apis/coordination.k8s.io/v1", "coordination.k8s.io", {"leases": "Lease"}),
]
READ_ONLY = {"Event"}
WITH_STATUS = {"Pod", "Service", "Deployment", "StatefulSet", "ReplicaSet", "PersistentVolumeClaim"}
"""Kinds whose ``status`` is a subresource (a write of the object keeps it)."""
NO_UNCONDITIONAL_UPDATE = {"Lease"}
"""Kinds whose replace must name the ``resourceVersion`` it replaces."""
SCALED = {"Deployment", "StatefulSet", "ReplicaSet"}
GRACEFUL = {"Pod"}
"""Kinds deleted gracefully (the delete returns the object, which goes later)."""


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
        if path not in allowed:
            raise ValueError(f"field label not supported: {path}")
        out.append((path, op != "!=", value))
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
        r.add_get("/api/v1/nodes", self.nodes)
        r.add_get("/api/v1/nodes/{name}", self.node)
        r.add_get("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods", self.pod_metrics)
        r.add_get("/api/v1/namespaces/{ns}/pods/{name}/log", self.log)
        r.add_route("*", "/api/v1/namespaces/{ns}/pods/{name}/exec", self.exec)
        for prefix, group, kinds in GROUPS:
            for plural, kind in kinds.items():
                base = f"{prefix}/namespaces/{{ns}}/{plural}"
                ctx = {"kind": kind, "plural": plural, "group": group}
                r.add_route("*", base, self._bind(self.collection, ctx))
                r.add_route("*", base + "/{name}", self._bind(self.item, ctx))
                if kind in SCALED:
                    r.add_route("*", base + "/{name}/scale", self._bind(self.scale, ctx))
        r.add_route("*", "/{tail:.*}", self.nothing)

    @staticmethod
    def _bind(handler: Callable[..., Awaitable[web.StreamResponse]], ctx: JSON) -> Any:
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
        await self.disconnect()

    async def disconnect(self) -> None:
        """Stop answering (the API server lost): connections are closed, new ones refused."""
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.cluster.requests.append((request.method, request.path_qs))
        result: web.StreamResponse = await handler(request)
        return result

    async def nothing(self, request: web.Request) -> web.Response:
        return page_not_found()

    # discovery-ish

    async def version(self, request: web.Request) -> web.Response:
        major, minor = self.cluster.version
        return json_answer(
            {
                "major": str(major),
                "minor": str(minor),
                "gitVersion": f"v{major}.{minor}.0",
                "platform": "linux/amd64",
            }
        )

    def _node(self) -> JSON:
        free = self.cluster.allocatable
        mem = f"{self.cluster.backend.host_memory_mb}Mi"
        resources = {
            "cpu": "4",
            "memory": mem,
            "ephemeral-storage": "100Gi",
            "nvidia.com/gpu": "1",
            "pods": str(int(free["pods"])),
        }
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}},
            "status": {
                "capacity": dict(resources),
                "allocatable": dict(resources),
                "addresses": [
                    {"type": "InternalIP", "address": "10.0.0.254"},
                    {"type": "Hostname", "address": NODE},
                ],
            },
        }

    async def nodes(self, request: web.Request) -> web.Response:
        return json_answer(
            {"apiVersion": "v1", "kind": "NodeList", "metadata": {}, "items": [self._node()]}
        )

    async def node(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name != NODE:
            return not_found("nodes", "", name)
        return json_answer(self._node())

    async def pod_metrics(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        if not self.cluster.hooks.metrics_api:
            return page_not_found()  # metrics.k8s.io is not installed
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
        return json_answer(
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

    def _manager(self, request: web.Request, group: str, operation: str = "Update") -> Manager:
        name = request.query.get("fieldManager") or user_agent_manager(
            request.headers.get("User-Agent", "")
        )
        return Manager(name, operation, self._api_version(group))

    def _owners(self, obj: JSON) -> FieldOwners:
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace", ""), meta["name"])
        return self.cluster.owners.setdefault(key, FieldOwners())

    def _store(self, obj: JSON) -> JSON:
        """Store ``obj`` with its managed fields written out."""
        obj["metadata"]["managedFields"] = self._owners(obj).managed_fields(now_rfc3339())
        return self.cluster.store.put(obj)

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
        if kind in READ_ONLY:
            raise Invalid([("kind", f"{kind} cannot be written through this fake")])
        sent = {k: v for k, v in obj.items() if k != "status"}
        check_schema(sent, self.cluster.version)
        check_semantics(obj, self.cluster.version)
        if old is not None:
            check_update(old, obj)

    def _undecodable(self, body: JSON, kind: str) -> web.Response | None:
        """A create or replace whose values have the wrong JSON type: the real server
        cannot decode it (400). (Unknown fields, which a real server drops, are refused
        here with 422 to catch a client's mistakes.)"""
        sent = {k: v for k, v in body.items() if k != "status"}
        if not isinstance(sent.get("metadata"), dict) or not sent.get("kind"):
            return None
        try:
            wrong = [e for e in apply_errors(sent, self.cluster.version) if ": expected " in e]
        except (KeyError, OSError):
            return None
        if not wrong:
            return None
        version = str(body.get("apiVersion", "v1")).rsplit("/", 1)[-1]
        return status_error(
            400,
            "BadRequest",
            f'{kind} in version "{version}" cannot be handled as a {kind}: {wrong[0]}',
        )

    async def _body(self, request: web.Request) -> JSON | web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError as exc:
            return status_error(400, "BadRequest", f"bad JSON: {exc}")
        if not isinstance(body, dict):
            return status_error(400, "BadRequest", "the body must be an object")
        return body

    async def collection(
        self, request: web.Request, kind: str, plural: str, group: str
    ) -> web.StreamResponse:
        ns = request.match_info["ns"]
        store = self.cluster.store
        try:
            selector = parse_selector(request.query.get("labelSelector"))
        except ValueError as exc:
            return status_error(400, "BadRequest", str(exc))
        if request.method == "GET":
            if (failed := self._failing_read(kind)) is not None:
                return failed
            try:
                fields = parse_field_selector(kind, request.query.get("fieldSelector", ""))
            except ValueError as exc:
                return status_error(400, "BadRequest", str(exc))
            items = [
                store.snapshot(o)
                for o in store.list(kind, ns, selector)
                if all((_field(o, path) == value) == equal for path, equal, value in fields)
            ]
            if request.query.get("watch") in ("1", "true"):
                return await streams.watch_stream(self.cluster, request, kind, items)
            return json_answer(
                {
                    "apiVersion": self._api_version(group),
                    "kind": f"{kind}List",
                    "metadata": {"resourceVersion": str(store.version)},
                    "items": items,
                }
            )
        if request.method == "POST":
            body = await self._body(request)
            if isinstance(body, web.Response):
                return body
            name = (body.get("metadata") or {}).get("name", "")
            if store.get(kind, ns, name) is not None:
                return status_error(
                    409,
                    "AlreadyExists",
                    f'{resource_name(plural, group)} "{name}" already exists',
                    {"name": name, "group": group, "kind": plural},
                )
            body.setdefault("metadata", {})["namespace"] = ns
            body["metadata"].pop("resourceVersion", None)
            if (undecodable := self._undecodable(body, kind)) is not None:
                return undecodable
            try:
                self._validate(body, kind, group, None)
            except Invalid as err:
                return invalid(kind, group, name, err)
            self._owners(body).updated(self._manager(request, group), {}, leaves(body))
            return json_answer(store.snapshot(self._store(body)), 201)
        if request.method == "DELETE":
            for obj in store.list(kind, ns, selector):
                await self._delete(obj, "Background")
            return json_answer(
                {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
            )
        return status_error(405, "MethodNotAllowed", f"{request.method} is not allowed here")

    async def item(
        self, request: web.Request, kind: str, plural: str, group: str
    ) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        obj = self.cluster.store.get(kind, ns, name)
        if request.method == "GET":
            if (failed := self._failing_read(kind)) is not None:
                return failed
            if obj is None:
                return not_found(plural, group, name)
            return json_answer(self.cluster.store.snapshot(obj))
        if request.method == "DELETE":
            return await self._delete_item(request, obj, kind, plural, group, name)
        if request.method == "PUT":
            return await self._replace(request, obj, kind, plural, group, name)
        if request.method == "PATCH":
            return await self._patch(request, obj, kind, plural, group, name)
        return status_error(405, "MethodNotAllowed", f"{request.method} is not allowed here")

    async def _delete_item(
        self, request: web.Request, obj: JSON | None, kind: str, plural: str, group: str, name: str
    ) -> web.Response:
        ns = request.match_info["ns"]
        hooks = self.cluster.hooks
        if kind in hooks.stalled_deletes:
            hooks.stalled.append(kind)
        while kind in hooks.stalled_deletes:  # noqa: ASYNC110 - tests clear the set, no event
            await asyncio.sleep(0.05)
        if obj is None:
            return not_found(plural, group, name)
        if kind in self.cluster.hooks.refused_deletes:
            return status_error(
                403,
                "Forbidden",
                f'{plural} "{name}" is forbidden: User "tester" cannot delete resource '
                f'"{plural}" in API group "{group}" in the namespace "{ns}"',
                {"name": name, "group": group, "kind": plural},
            )
        options: JSON = {}
        raw = await request.read()
        if raw:
            try:
                options = json.loads(raw)
            except ValueError as exc:
                return status_error(400, "BadRequest", f"bad DeleteOptions: {exc}")
        pre = options.get("preconditions") or {}
        meta = obj["metadata"]
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            why = (
                f"Precondition failed: UID in precondition: {pre['uid']}, "
                f"UID in object meta: {meta['uid']}"
            )
            return conflict(plural, group, name, why)
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            why = (
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}"
            )
            return conflict(plural, group, name, why)
        policy = options.get("propagationPolicy") or request.query.get(
            "propagationPolicy", "Background"
        )
        if policy not in ("Background", "Foreground", "Orphan"):
            return status_error(400, "BadRequest", f"invalid propagationPolicy {policy!r}")
        gone_now = await self._delete(obj, policy)
        if gone_now:
            return success(name, group, plural, str(meta["uid"]))
        return json_answer(self.cluster.store.snapshot(obj))

    async def _delete(self, obj: JSON, policy: str) -> bool:
        """Delete ``obj`` with ``policy``; whether it is gone at once (else it goes later:
        a pod gracefully, an owner once the garbage collector removed its dependents)."""
        cluster = self.cluster
        meta = obj["metadata"]
        if obj["kind"] in GRACEFUL:
            await cluster.delete_pod(meta["namespace"], meta["name"])
            return False
        if policy == "Foreground":
            meta["deletionTimestamp"] = now_rfc3339()
            meta["finalizers"] = ["foregroundDeletion"]
            cluster.store.touch(obj)
            return False
        if policy == "Orphan":
            uid = meta["uid"]
            for other in cluster.store.objects.values():
                refs = other["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    other["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
        await cluster.remove(obj)
        return True

    async def _replace(
        self, request: web.Request, obj: JSON | None, kind: str, plural: str, group: str, name: str
    ) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        meta = body.setdefault("metadata", {})
        if meta.get("name") != name:
            return status_error(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                f"({name})",
            )
        if obj is None:
            return not_found(plural, group, name)
        wanted = meta.get("resourceVersion")
        if not wanted and kind in NO_UNCONDITIONAL_UPDATE:
            return invalid(
                kind,
                group,
                name,
                Invalid(
                    [
                        (
                            "metadata.resourceVersion",
                            "Invalid value: 0x0: must be specified for an update",
                        )
                    ]
                ),
            )
        if wanted and wanted != obj["metadata"]["resourceVersion"]:
            return conflict(
                plural,
                group,
                name,
                "the object has been modified; please apply your changes to the latest version "
                "and try again",
            )
        meta["namespace"] = request.match_info["ns"]
        if (undecodable := self._undecodable(body, kind)) is not None:
            return undecodable
        try:
            self._validate(body, kind, group, obj)
        except Invalid as err:
            return invalid(kind, group, name, err)
        if kind in WITH_STATUS:
            body["status"] = obj.get("status", {})
        self._owners(body).updated(self._manager(request, group), leaves(obj), leaves(body))
        return json_answer(self.cluster.store.snapshot(self._store(body)))

    async def _patch(
        self, request: web.Request, obj: JSON | None, kind: str, plural: str, group: str, name: str
    ) -> web.Response:
        ctype = request.headers.get("Content-Type", "")
        known = ("apply-patch", "merge-patch+json", "strategic-merge-patch+json")
        if not any(k in ctype for k in known):
            return status_error(415, "UnsupportedMediaType", "415: Unsupported Media Type")
        raw = await request.read()
        try:
            body = yaml.safe_load(raw) if "apply-patch" in ctype else json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            return status_error(400, "BadRequest", f"error decoding patch: {exc}")
        if not isinstance(body, dict):
            return status_error(400, "BadRequest", "patch must be an object")
        if "apply-patch" in ctype:
            return self._apply(request, obj, body, kind, plural, group, name)
        if obj is None:
            return not_found(plural, group, name)
        merged = merge_patch(self.cluster.store.snapshot(obj), body)
        try:
            self._validate(merged, kind, group, obj)
        except Invalid as err:
            return invalid(kind, group, name, err)
        merged["status"] = obj.get("status", {})
        self._owners(merged).updated(self._manager(request, group), leaves(obj), leaves(merged))
        return json_answer(self.cluster.store.snapshot(self._store(merged)))

    def _apply(
        self,
        request: web.Request,
        obj: JSON | None,
        body: JSON,
        kind: str,
        plural: str,
        group: str,
        name: str,
    ) -> web.Response:
        ns = request.match_info["ns"]
        if not request.query.get("fieldManager"):
            return status_error(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: '
                "fieldManager: Required value: is required for apply patch",
                {
                    "group": "meta.k8s.io",
                    "kind": "PatchOptions",
                    "causes": [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: is required for apply patch",
                            "field": "fieldManager",
                        }
                    ],
                },
            )
        meta = body.get("metadata") or {}
        if meta.get("name") != name:
            return status_error(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                f"({name})",
            )
        if meta.get("namespace", ns) != ns:
            return status_error(
                400,
                "BadRequest",
                "the namespace of the object does not match the namespace on the request",
            )
        if body.get("kind") != kind or body.get("apiVersion") != self._api_version(group):
            return invalid(
                kind,
                group,
                name,
                Invalid([("kind", f"expected {self._api_version(group)} {kind}")]),
            )
        body["metadata"]["namespace"] = ns
        sent = {k: v for k, v in body.items() if k != "status"}
        errors = apply_errors(sent, self.cluster.version)
        if kind in self.cluster.hooks.undeclared_fields:
            errors.append(
                f"{self.cluster.hooks.undeclared_fields[kind]}: field not declared in schema"
            )
        if errors:
            return status_error(500, None, smd_message(errors))
        applier = self._manager(request, group, "Apply")
        owners = self._owners(body)
        applied = leaves(sent)
        force = request.query.get("force") in ("true", "1")
        if obj is not None and not force:
            found = owners.conflicts(applier, applied, leaves(obj))
            if found:
                return self._conflicts(found, plural, group, name)
        new = json.loads(json.dumps(sent))
        new["metadata"]["namespace"] = ns
        if obj is not None:
            self._keep_unapplied(obj, new, kind)
            new["status"] = obj.get("status", {})
        elif kind in SCALED:
            new.setdefault("spec", {}).setdefault("replicas", 1)
        try:
            check_apply_schema(sent, self.cluster.version)
            check_semantics(new, self.cluster.version)
            if obj is not None:
                check_update(obj, new)
        except Invalid as err:
            return invalid(kind, group, name, err)
        owners.applied(applier, applied, force=force)
        created = obj is None
        return json_answer(self.cluster.store.snapshot(self._store(new)), 201 if created else 200)

    @staticmethod
    def _keep_unapplied(old: JSON, new: JSON, kind: str) -> None:
        """What the applier left out keeps the value others set: replicas (the ``scale``
        subresource), a Service's cluster IP and allocated node ports. (Apply merges are
        otherwise approximated: the applied object replaces the previous one.)"""
        old_spec = old.get("spec") or {}
        if kind in SCALED | {"Service"}:
            spec = new.setdefault("spec", {})
            if kind in SCALED and "replicas" not in spec:
                spec["replicas"] = old_spec.get("replicas", 1)
            if kind == "Service" and "clusterIP" in old_spec and "clusterIP" not in spec:
                spec["clusterIP"] = old_spec["clusterIP"]
            if kind == "Service":
                allocated = {p["port"]: p.get("nodePort") for p in old_spec.get("ports") or []}
                for port in spec.get("ports") or []:
                    if "nodePort" not in port and allocated.get(port["port"]):
                        port["nodePort"] = allocated[port["port"]]

    @staticmethod
    def _conflicts(
        found: list[tuple[str, Manager]], plural: str, group: str, name: str
    ) -> web.Response:
        causes = [
            {
                "reason": "FieldManagerConflict",
                "message": f'conflict with "{m.name}" using {m.api_version}',
                "field": path,
            }
            for path, m in found
        ]
        if len(found) == 1:
            path, m = found[0]
            text = (
                f'Apply failed with 1 conflict: conflict with "{m.name}" using '
                f"{m.api_version}: {path}"
            )
        else:
            listed = "".join(f"\n* {c['message']}: {c['field']}" for c in causes)
            text = f"Apply failed with {len(found)} conflicts: {listed}"
        return status_error(
            409, "Conflict", text, {"name": name, "group": group, "kind": plural, "causes": causes}
        )

    async def scale(self, request: web.Request, kind: str, plural: str, group: str) -> web.Response:
        ns, name = request.match_info["ns"], request.match_info["name"]
        obj = self.cluster.store.get(kind, ns, name)
        if obj is None:
            return not_found(plural, group, name)
        if request.method in ("PATCH", "PUT"):
            try:
                body = json.loads(await request.read())
                replicas = body["spec"]["replicas"]
            except (ValueError, KeyError, TypeError) as exc:
                return status_error(400, "BadRequest", f"bad scale patch: {exc}")
            if not isinstance(replicas, int) or replicas < 0:
                return invalid(
                    "Scale",
                    "autoscaling",
                    name,
                    Invalid(
                        [
                            (
                                "spec.replicas",
                                f"Invalid value: {replicas}: must be greater than or equal to 0",
                            )
                        ]
                    ),
                )
            before = leaves(obj)
            obj["spec"]["replicas"] = replicas
            self._owners(obj).updated(self._manager(request, group), before, leaves(obj))
            obj["metadata"]["managedFields"] = self._owners(obj).managed_fields(now_rfc3339())
            self.cluster.store.put(obj, spec_changed=True)
        elif request.method != "GET":
            return status_error(405, "MethodNotAllowed", f"{request.method} is not allowed here")
        selector = ",".join(f"{k}={v}" for k, v in obj["spec"]["selector"]["matchLabels"].items())
        return json_answer(
            {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "resourceVersion": obj["metadata"]["resourceVersion"],
                    "uid": obj["metadata"]["uid"],
                    "creationTimestamp": obj["metadata"]["creationTimestamp"],
                },
                "spec": {"replicas": obj["spec"]["replicas"]},
                "status": {
                    "replicas": (obj.get("status") or {}).get("replicas", 0),
                    "selector": selector,
                },
            }
        )

    # pods/log and pods/exec

    async def log(self, request: web.Request) -> web.StreamResponse:
        return await streams.log_stream(self.cluster, request)

    async def exec(self, request: web.Request) -> web.StreamResponse:
        return await streams.exec_stream(self.cluster, request)
