"""Validation of received objects: the official OpenAPI schemas plus the server's semantic rules.

Schemas come from ``kubernetes-validate`` (the strict variant: unknown fields are errors).
One validator per (version, kind) is built once and cached. Older servers than the oldest
shipped schema (1.25) use it minus the fields they do not know yet (:mod:`.versions`).

Server-side apply reports what the structured-merge-diff library finds before any
validation as a **500** ("failed to create typed patch object: .spec.x: field not declared
in schema", "... expected numeric (int or float), got string"): :func:`apply_errors`.
Everything else is validation (422 ``Invalid``): the rest of the schema (enums, required
fields), then the semantic rules the schemas cannot express and a real API server
enforces: DNS-1123 names, label and annotation keys and values, the size of annotations,
unique container/volume/port names, mounts of declared volumes, selectors matching
template labels, port ranges, no probes on plain init containers. Messages follow the
real server's (``Deployment.apps "x" is invalid: spec.template.metadata.labels: Invalid
value: map[string]string{"app":"x"}: `selector` does not match template `labels```).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema

from .versions import introduced_after

JSON = dict[str, Any]

OLDEST_SCHEMA = (1, 25)
NEWEST_SCHEMA = (1, 37)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

NAME_PART_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
"""The real server's message for a label or annotation key whose name part is invalid."""

RELAXED_ENV_NAMES_SINCE = (1, 32)
"""From this version on, env var names may be any printable ASCII but ``=``."""

ANNOTATIONS_LIMIT = 256 * 1024
"""Total size of an object's annotations (keys and values), as the real server counts."""


class Invalid(Exception):
    """The object breaks a rule: ``causes`` are (field path, message) pairs."""

    def __init__(self, causes: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in causes))
        self.causes = causes


def schema_version(server: tuple[int, int]) -> tuple[int, int]:
    """The schema version used for a server version (clamped to what is shipped)."""
    return max(OLDEST_SCHEMA, min(server, NEWEST_SCHEMA))


@functools.cache
def _definitions(version: tuple[int, int]) -> referencing.Registry[Any]:
    folder = f"v{version[0]}.{version[1]}.0-local-strict"
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", folder)
    defs = json.loads(root.joinpath("_definitions.json").read_text())
    return referencing.jsonschema.DRAFT202012.create_resource(defs) @ referencing.Registry()


@functools.cache
def validator(version: tuple[int, int], kind: str, api_version: str) -> jsonschema.Validator:
    """The (cached) validator of ``kind`` in ``api_version`` for schema ``version``."""
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"v{version[0]}.{version[1]}.0-local-strict"
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", folder)
    schema = json.loads(root.joinpath(f"{kind.lower()}-{group}.json").read_text())
    cls = jsonschema.validators.Draft202012Validator
    return cls(schema, registry=_definitions(version))


def check_schema(obj: JSON, server: tuple[int, int]) -> None:
    """Raise :class:`Invalid` unless ``obj`` matches its kind's official schema for a
    server of ``server`` (fields newer than it included)."""
    v = validator(schema_version(server), obj["kind"], obj["apiVersion"])
    errors = sorted(v.iter_errors(obj), key=lambda e: list(e.path))
    causes = [(".".join(str(p) for p in e.path), e.message) for e in errors[:5]]
    causes += [
        (path.lstrip("."), "field not declared in schema") for path in introduced_after(obj, server)
    ]
    if causes:
        raise Invalid(causes)


_SMD_TYPES = {
    "integer": "numeric (int or float)",
    "number": "numeric (int or float)",
    "string": "string",
    "boolean": "bool",
    "object": "map",
    "array": "list",
}
_LIST_KEYS = (
    ("name",),
    ("containerPort", "protocol"),
    ("port", "protocol"),
    ("mountPath",),
    ("ip",),
)


def smd_path(obj: Any, path: list[Any]) -> str:
    """A field path as structured-merge-diff writes it: ``.spec.template.spec.
    initContainers[name="side"].restartPolicy`` (list elements by their key fields)."""
    out = ""
    cur = obj
    for part in path:
        if isinstance(part, int) and isinstance(cur, list):
            item: Any = cur[part] if part < len(cur) else None
            keys = next(
                (k for k in _LIST_KEYS if isinstance(item, dict) and all(f in item for f in k)),
                None,
            )
            if keys is None:
                out += f"[{part}]"
            else:
                out += "[" + ",".join(f"{k}={json.dumps(item[k])}" for k in keys) + "]"
            cur = item
        else:
            out += f".{part}"
            cur = cur.get(part) if isinstance(cur, dict) else None
    return out


def _smd_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "numeric"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "map"


def apply_errors(obj: JSON, server: tuple[int, int]) -> list[str]:
    """What structured-merge-diff rejects in an applied ``obj`` before any validation
    (the real server answers 500 "failed to create typed patch object"): fields the
    server's schema does not declare, and values of the wrong type."""
    v = validator(schema_version(server), obj["kind"], obj["apiVersion"])
    found: list[str] = []
    for err in sorted(v.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        where = list(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            assert isinstance(err.schema, Mapping)  # the object schema that failed
            declared = set((err.schema or {}).get("properties") or {})
            for extra in sorted(set(err.instance) - declared):
                found.append(f"{smd_path(obj, [*where, extra])}: field not declared in schema")
        elif err.validator == "type":
            wanted = err.validator_value
            assert isinstance(wanted, str | list)  # a type name or a list of them
            names = [wanted] if isinstance(wanted, str) else [t for t in wanted if t != "null"]
            expected = " or ".join(_SMD_TYPES.get(t, t) for t in names)
            found.append(
                f"{smd_path(obj, where)}: expected {expected}, got {_smd_type(err.instance)}"
            )
    found += [f"{path}: field not declared in schema" for path in introduced_after(obj, server)]
    return sorted(set(found), key=found.index)


def smd_message(errors: list[str]) -> str:
    """The 500 message of a server-side apply that failed in structured-merge-diff."""
    if len(errors) == 1:
        return f"failed to create typed patch object: {errors[0]}"
    listed = "".join(f"\n  {e}" for e in errors)
    return f"failed to create typed patch object: errors:{listed}"


def check_apply_schema(obj: JSON, server: tuple[int, int]) -> None:
    """The schema errors structured-merge-diff lets through (required fields, enums,
    formats, ranges), as validation errors (:class:`Invalid`)."""
    v = validator(schema_version(server), obj["kind"], obj["apiVersion"])
    causes = [
        (".".join(str(p) for p in e.path), e.message)
        for e in sorted(v.iter_errors(obj), key=lambda e: list(e.path))
        if e.validator not in ("additionalProperties", "type")
    ]
    if causes:
        raise Invalid(causes[:5])


def go_map(values: JSON | None) -> str:
    """A ``map[string]string`` as Go's ``%#v`` writes it (keys sorted)."""
    items = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted((values or {}).items()))
    return f"map[string]string{{{items}}}"


def go_selector(selector: JSON | None) -> str:
    """A ``LabelSelector`` as Go's ``%#v`` writes it (match labels only)."""
    labels = go_map((selector or {}).get("matchLabels"))
    return (
        f"v1.LabelSelector{{MatchLabels:{labels}, "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
    )


def _qualified_name_problem(key: str) -> str:
    """Why ``key`` is not a qualified name (a label or annotation key); '' if it is."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return "prefix part must be a lowercase RFC 1123 subdomain"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _LABEL_NAME.match(name):
        return NAME_PART_MESSAGE
    return ""


def _label_keys_valid(labels: JSON | None) -> bool:
    return not any(_qualified_name_problem(k) for k in labels or {})


def _labels(where: str, labels: JSON | None, causes: list[tuple[str, str]]) -> None:
    for key, value in (labels or {}).items():
        problem = _qualified_name_problem(key)
        if problem:
            causes.append((where, f"Invalid value: {json.dumps(key)}: {problem}"))
        if not isinstance(value, str) or len(value) > 63:
            causes.append(
                (where, f"Invalid value: {json.dumps(value)}: must be no more than 63 characters")
            )
        elif not _LABEL_VALUE.match(value):
            causes.append(
                (
                    where,
                    f"Invalid value: {json.dumps(value)}: a valid label must be an empty string "
                    "or consist of alphanumeric characters, '-', '_' or '.', and must start "
                    "and end with an alphanumeric character",
                )
            )


def _annotations(where: str, annotations: JSON | None, causes: list[tuple[str, str]]) -> None:
    size = 0
    for key, value in (annotations or {}).items():
        problem = _qualified_name_problem(key)
        if problem:
            causes.append((where, f"Invalid value: {json.dumps(key)}: {problem}"))
        size += len(key) + len(str(value))
    if size > ANNOTATIONS_LIMIT:
        causes.append((where, f"Too long: must have at most {ANNOTATIONS_LIMIT} bytes"))


def _port_range(where: str, value: Any, causes: list[tuple[str, str]]) -> None:
    if isinstance(value, int) and not 1 <= value <= 65535:
        causes.append((where, f"Invalid value: {value}: must be between 1 and 65535, inclusive"))


def _env_name_ok(name: str, server: tuple[int, int]) -> bool:
    """Env var names: C-identifier-like before 1.32; any printable ASCII but '=' after
    (``RelaxedEnvironmentVariableValidation``, on by default from 1.32)."""
    if server >= RELAXED_ENV_NAMES_SINCE:
        return bool(name) and all(32 <= ord(c) <= 126 for c in name) and "=" not in name
    return bool(_ENV_NAME.match(name))


def _pod_spec(
    where: str, spec: JSON, server: tuple[int, int], causes: list[tuple[str, str]]
) -> None:
    volumes = spec.get("volumes") or []
    vnames = [v["name"] for v in volumes]
    for i, name in enumerate(vnames):
        if not _DNS_LABEL.match(name) or len(name) > 63:
            causes.append(
                (
                    f"{where}.volumes[{i}].name",
                    f"Invalid value: {json.dumps(name)}: a lowercase RFC 1123 label must "
                    "consist of lower case alphanumeric characters or '-', and must start and "
                    "end with an alphanumeric character (at most 63 characters)",
                )
            )
        if vnames.count(name) > 1:
            causes.append((f"{where}.volumes[{i}].name", f"Duplicate value: {json.dumps(name)}"))
    seen: list[str] = []
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            path = f"{where}.{group}[{i}]"
            name = c["name"]
            if not _DNS_LABEL.match(name) or len(name) > 63:
                causes.append(
                    (
                        f"{path}.name",
                        f"Invalid value: {json.dumps(name)}: a lowercase RFC 1123 label",
                    )
                )
            if name in seen:
                causes.append((f"{path}.name", f"Duplicate value: {json.dumps(name)}"))
            seen.append(name)
            native = c.get("restartPolicy") == "Always"
            if group == "containers" and "restartPolicy" in c:
                causes.append((f"{path}.restartPolicy", "Forbidden: may not be set for containers"))
            if group == "initContainers" and not native:
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    if probe in c:
                        causes.append(
                            (f"{path}.{probe}", "Forbidden: may not be set for init containers")
                        )
            for j, e in enumerate(c.get("env") or []):
                if not _env_name_ok(e["name"], server):
                    causes.append(
                        (
                            f"{path}.env[{j}].name",
                            f"Invalid value: {json.dumps(e['name'])}: a valid environment "
                            "variable name must consist of alphabetic characters, digits, '_', "
                            "'-', or '.', and must not start with a digit",
                        )
                    )
            mounts = [m["mountPath"] for m in c.get("volumeMounts") or []]
            for j, m in enumerate(c.get("volumeMounts") or []):
                if m["name"] not in vnames and m["name"] not in _claim_names(spec):
                    causes.append(
                        (f"{path}.volumeMounts[{j}].name", f"Not found: {json.dumps(m['name'])}")
                    )
                if mounts.count(m["mountPath"]) > 1:
                    causes.append(
                        (f"{path}.volumeMounts[{j}].mountPath", "Invalid value: must be unique")
                    )
            ports = [p.get("containerPort") for p in c.get("ports") or []]
            for j, port in enumerate(ports):
                _port_range(f"{path}.ports[{j}].containerPort", port, causes)
            if len(ports) != len(set(ports)):
                causes.append((f"{path}.ports", "Duplicate value"))


def _claim_names(spec: JSON) -> list[str]:
    return [str(n) for n in spec.get("__claims__", [])]


def _selector_matches(selector: JSON | None, labels: JSON | None) -> bool:
    wanted = (selector or {}).get("matchLabels") or {}
    have = labels or {}
    return bool(wanted) and all(have.get(k) == v for k, v in wanted.items())


def _controller(obj: JSON, server: tuple[int, int], causes: list[tuple[str, str]]) -> None:
    """A Deployment's, StatefulSet's or ReplicaSet's selector and pod template, in the
    real server's order: an invalid selector stops the template's checks."""
    spec = obj.get("spec") or {}
    selector = spec.get("selector") or {}
    matched = selector.get("matchLabels") or {}
    _labels("spec.selector.matchLabels", matched, causes)
    if not _label_keys_valid(matched):
        causes.append(
            ("spec.selector", f"Invalid value: {go_selector(selector)}: invalid label selector")
        )
        return
    template = spec.get("template") or {}
    tmeta = template.get("metadata") or {}
    _labels("spec.template.metadata.labels", tmeta.get("labels"), causes)
    _annotations("spec.template.metadata.annotations", tmeta.get("annotations"), causes)
    if not _selector_matches(selector, tmeta.get("labels")):
        causes.append(
            (
                "spec.template.metadata.labels",
                f"Invalid value: {go_map(tmeta.get('labels'))}: `selector` does not match "
                "template `labels`",
            )
        )
    pod = dict(template.get("spec") or {})
    if obj["kind"] == "StatefulSet":
        pod["__claims__"] = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates") or []]
    _pod_spec("spec.template.spec", pod, server, causes)


def check_semantics(obj: JSON, server: tuple[int, int]) -> None:
    """Raise :class:`Invalid` for what a real API server rejects beyond the schema."""
    causes: list[tuple[str, str]] = []
    kind = obj["kind"]
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    name_rule = _DNS_LABEL if kind == "Service" else _DNS_SUBDOMAIN
    if not name or not name_rule.match(name) or len(name) > (63 if kind == "Service" else 253):
        causes.append(
            ("metadata.name", f"Invalid value: {json.dumps(name)}: a lowercase RFC 1123 name")
        )
    _labels("metadata.labels", meta.get("labels"), causes)
    _annotations("metadata.annotations", meta.get("annotations"), causes)
    spec = obj.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        _controller(obj, server, causes)
    if kind in ("Secret", "ConfigMap"):
        for key in list(obj.get("data") or {}) + list(obj.get("stringData") or {}):
            if not _CONFIG_KEY.match(key):
                causes.append(
                    (
                        f"data[{key}]",
                        "a valid config key must consist of alphanumerics, '-', '_' or '.'",
                    )
                )
    if kind == "Service":
        ports = spec.get("ports") or []
        names = [p.get("name") for p in ports]
        if len(names) > 1 and (None in names or len(set(names)) != len(names)):
            causes.append(
                ("spec.ports", "port names must be unique and set when there are several")
            )
        for i, port in enumerate(ports):
            _port_range(f"spec.ports[{i}].port", port.get("port"), causes)
            _port_range(f"spec.ports[{i}].targetPort", port.get("targetPort"), causes)
            node_port = port.get("nodePort")
            if isinstance(node_port, int) and node_port and not 30000 <= node_port <= 32767:
                causes.append(
                    (
                        f"spec.ports[{i}].nodePort",
                        f"Invalid value: {node_port}: provided port is not in the valid range. "
                        "The range of valid ports is 30000-32767",
                    )
                )
    if kind == "Lease":
        duration = spec.get("leaseDurationSeconds")
        if isinstance(duration, int) and duration <= 0:
            causes.append(
                ("spec.leaseDurationSeconds", f"Invalid value: {duration}: must be greater than 0")
            )
    if causes:
        raise Invalid(causes)


_STS_MUTABLE = {
    "replicas",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "ordinals",
    "revisionHistoryLimit",
}


def check_update(old: JSON, new: JSON) -> None:
    """Raise :class:`Invalid` when ``new`` changes a field that is immutable in ``old``."""
    causes: list[tuple[str, str]] = []
    kind = new["kind"]
    o, n = old.get("spec") or {}, new.get("spec") or {}
    if kind == "Deployment" and o.get("selector") != n.get("selector"):
        causes.append(
            (
                "spec.selector",
                f"Invalid value: {go_selector(n.get('selector'))}: field is immutable",
            )
        )
    if kind == "StatefulSet":
        for key in set(o) | set(n):
            if key not in _STS_MUTABLE and o.get(key) != n.get(key):
                causes.append(
                    (
                        "spec",
                        "Forbidden: updates to statefulset spec for fields other than "
                        "'replicas', 'ordinals', 'template', 'updateStrategy', "
                        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
                        "are forbidden",
                    )
                )
                break
    if (
        kind == "Service"
        and o.get("clusterIP")
        and n.get("clusterIP") not in (None, o.get("clusterIP"))
    ):
        causes.append(("spec.clusterIP", "Invalid value: field is immutable"))
    if (
        kind in ("Secret", "ConfigMap")
        and old.get("immutable")
        and old.get("data") != new.get("data")
    ):
        causes.append(("data", "Forbidden: field is immutable when `immutable` is set"))
    if kind == "PersistentVolumeClaim":
        ospec = {k: v for k, v in o.items() if k not in ("resources", "volumeName")}
        nspec = {k: v for k, v in n.items() if k not in ("resources", "volumeName")}
        if ospec != {k: v for k, v in nspec.items() if k in ospec or v is not None}:
            causes.append(
                ("spec", "Forbidden: spec is immutable after creation except resources.requests")
            )
    if causes:
        raise Invalid(causes)
