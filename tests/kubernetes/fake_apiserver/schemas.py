"""Validation of received objects: the official OpenAPI schemas plus the server's semantic rules.

Schemas come from ``kubernetes-validate`` (the strict variant: unknown fields are errors,
as a server-side apply of an undeclared field is). One validator per (version, kind) is
built once and cached. The semantic rules are the ones the schemas cannot express and a
real API server enforces: DNS-1123 names, unique container/volume/port names, mounts of
declared volumes, selectors matching template labels, no probes on plain init containers,
label syntax, and (on servers older than 1.28) no ``restartPolicy`` on containers.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema

JSON = dict[str, Any]

OLDEST_SCHEMA = (1, 25)
NEWEST_SCHEMA = (1, 37)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


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
    """Raise :class:`Invalid` unless ``obj`` matches its kind's official schema."""
    v = validator(schema_version(server), obj["kind"], obj["apiVersion"])
    errors = sorted(v.iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        raise Invalid([(".".join(str(p) for p in e.path), e.message) for e in errors[:5]])


def _labels(where: str, labels: JSON | None, causes: list[tuple[str, str]]) -> None:
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if (prefix and not _DNS_SUBDOMAIN.match(prefix)) or not _LABEL_NAME.match(name):
            causes.append((f"{where}[{key}]", "name part must consist of alphanumeric characters"))
        if len(name) > 63 or not isinstance(value, str) or len(value) > 63:
            causes.append((f"{where}[{key}]", "must be no more than 63 characters"))
        elif not _LABEL_VALUE.match(value):
            causes.append((f"{where}[{key}]", f"invalid label value {value!r}"))


def _pod_spec(
    where: str, spec: JSON, server: tuple[int, int], causes: list[tuple[str, str]]
) -> None:
    volumes = spec.get("volumes") or []
    vnames = [v["name"] for v in volumes]
    for i, name in enumerate(vnames):
        if not _DNS_LABEL.match(name) or len(name) > 63:
            causes.append((f"{where}.volumes[{i}].name", "must be a DNS-1123 label"))
        if vnames.count(name) > 1:
            causes.append((f"{where}.volumes[{i}].name", f"Duplicate value: {name!r}"))
    seen: list[str] = []
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            path = f"{where}.{group}[{i}]"
            name = c["name"]
            if not _DNS_LABEL.match(name) or len(name) > 63:
                causes.append((f"{path}.name", "must be a DNS-1123 label"))
            if name in seen:
                causes.append((f"{path}.name", f"Duplicate value: {name!r}"))
            seen.append(name)
            native = c.get("restartPolicy") == "Always"
            if "restartPolicy" in c and server < (1, 28):
                causes.append((f"{path}.restartPolicy", "field not declared in schema"))
            if group == "containers" and "restartPolicy" in c:
                causes.append((f"{path}.restartPolicy", "Forbidden: may not be set for containers"))
            if group == "initContainers" and not native:
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    if probe in c:
                        causes.append(
                            (f"{path}.{probe}", "Forbidden: may not be set for init containers")
                        )
            for j, e in enumerate(c.get("env") or []):
                if not _ENV_NAME.match(e["name"]):
                    causes.append((f"{path}.env[{j}].name", "a valid environment variable name"))
            for j, m in enumerate(c.get("volumeMounts") or []):
                if m["name"] not in vnames and m["name"] not in _claim_names(spec):
                    causes.append((f"{path}.volumeMounts[{j}].name", f"Not found: {m['name']!r}"))
            ports = [p.get("containerPort") for p in c.get("ports") or []]
            if len(ports) != len(set(ports)):
                causes.append((f"{path}.ports", "Duplicate value"))


def _claim_names(spec: JSON) -> list[str]:
    return [str(n) for n in spec.get("__claims__", [])]


def _selector_matches(selector: JSON | None, labels: JSON | None) -> bool:
    wanted = (selector or {}).get("matchLabels") or {}
    have = labels or {}
    return bool(wanted) and all(have.get(k) == v for k, v in wanted.items())


def check_semantics(obj: JSON, server: tuple[int, int]) -> None:
    """Raise :class:`Invalid` for what a real API server rejects beyond the schema."""
    causes: list[tuple[str, str]] = []
    kind = obj["kind"]
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    name_rule = _DNS_LABEL if kind == "Service" else _DNS_SUBDOMAIN
    if not name or not name_rule.match(name) or len(name) > (63 if kind == "Service" else 253):
        causes.append(("metadata.name", f"Invalid value: {name!r}: a lowercase RFC 1123 name"))
    _labels("metadata.labels", meta.get("labels"), causes)
    size = sum(len(k) + len(str(v)) for k, v in (meta.get("annotations") or {}).items())
    if size > 256 * 1024:
        causes.append(("metadata.annotations", "Too long: must have at most 262144 bytes"))
    spec = obj.get("spec") or {}
    if kind in ("Deployment", "StatefulSet"):
        template = spec.get("template") or {}
        tmeta = template.get("metadata") or {}
        _labels("spec.template.metadata.labels", tmeta.get("labels"), causes)
        if not _selector_matches(spec.get("selector"), tmeta.get("labels")):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    "Invalid value: `selector` does not match template `labels`",
                )
            )
        pod = dict(template.get("spec") or {})
        if kind == "StatefulSet":
            pod["__claims__"] = [
                c["metadata"]["name"] for c in spec.get("volumeClaimTemplates") or []
            ]
        _pod_spec("spec.template.spec", pod, server, causes)
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
        names = [p.get("name") for p in spec.get("ports") or []]
        if len(names) > 1 and (None in names or len(set(names)) != len(names)):
            causes.append(
                ("spec.ports", "port names must be unique and set when there are several")
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
        causes.append(("spec.selector", "Invalid value: field is immutable"))
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
