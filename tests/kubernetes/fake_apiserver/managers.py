"""Field managers: who set which field of an object, and the conflicts of server-side apply.

As on a real server, every write records its manager: server-side apply under its
``fieldManager`` (operation ``Apply``), other writes (create, replace, merge patch, the
``scale`` subresource) under their ``fieldManager`` or, without one, the client's
user-agent product (``python-httpx``), operation ``Update``. An apply that is not forced
and changes the value of a field another manager owns is refused with 409 ``Conflict``
("Apply failed with 1 conflict: conflict with "python-httpx" using apps/v1:
.spec.replicas"); forced, it takes the field over. A field set to the same value by two
managers is owned by both.

Fields are leaves of the object in structured-merge-diff's notation (``.spec.replicas``,
``.spec.template.spec.containers[name="app"].image``): lists of objects with a key field
(``name``, ``containerPort``...) are keyed by it, other lists are one value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

__all__ = ["FieldOwners", "Manager", "leaves", "user_agent_manager"]

_SKIPPED = {"apiVersion", "kind", "status"}
_META_SKIPPED = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
}
_KEYS = (("name",), ("containerPort", "protocol"), ("port", "protocol"), ("mountPath",), ("ip",))


def _walk(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _walk(item, f"{path}.{key}", out)
        return
    if isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        keys = next((k for k in _KEYS if all(all(f in i for f in k) for i in value)), None)
        if keys is not None:
            for item in value:
                selector = ",".join(f"{k}={json.dumps(item[k])}" for k in keys)
                _walk(item, f"{path}[{selector}]", out)
            return
    out[path] = value


def leaves(obj: JSON) -> dict[str, Any]:
    """Every field of ``obj`` a manager can own, by its path, with its value."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in _SKIPPED:
            continue
        if key == "metadata" and isinstance(value, dict):
            for mkey, mvalue in value.items():
                if mkey not in _META_SKIPPED:
                    _walk(mvalue, f".metadata.{mkey}", out)
            continue
        _walk(value, f".{key}", out)
    return out


def user_agent_manager(user_agent: str) -> str:
    """The manager of a write without ``fieldManager``: the user-agent's product."""
    return (user_agent.split("/", 1)[0] or "unknown").strip() or "unknown"


@dataclass(frozen=True)
class Manager:
    """A manager entry: its name, ``Apply`` or ``Update``, and the API version it used."""

    name: str
    operation: str
    api_version: str


@dataclass
class FieldOwners:
    """The managers of one object and the fields each owns."""

    owned: dict[Manager, set[str]] = field(default_factory=dict)

    def conflicts(
        self, applier: Manager, applied: dict[str, Any], current: dict[str, Any]
    ) -> list[tuple[str, Manager]]:
        """The fields ``applier`` would change that another manager owns."""
        found: list[tuple[str, Manager]] = []
        for path, value in applied.items():
            if path in current and current[path] == value:
                continue
            for other, paths in self.owned.items():
                if other.name != applier.name and path in paths:
                    found.append((path, other))
        return found

    def applied(self, applier: Manager, fields: dict[str, Any], *, force: bool) -> None:
        """``applier`` applied ``fields`` (forced: it took them from the others)."""
        if force:
            for other, paths in self.owned.items():
                if other.name != applier.name:
                    paths.difference_update(fields)
        self.owned[applier] = set(fields)
        self._prune()

    def updated(self, updater: Manager, before: dict[str, Any], after: dict[str, Any]) -> None:
        """``updater`` changed the object from ``before`` to ``after``: it owns what it
        changed (everything, for a create), the others lose it."""
        changed = {p for p, v in after.items() if p not in before or before[p] != v}
        for other, paths in self.owned.items():
            if other != updater:
                paths.difference_update(changed)
            paths.intersection_update(after)
        self.owned.setdefault(updater, set()).update(changed)
        self._prune()

    def _prune(self) -> None:
        self.owned = {m: p for m, p in self.owned.items() if p}

    def managed_fields(self, time: str) -> list[JSON]:
        """``metadata.managedFields`` (``fieldsV1`` in structured-merge-diff's notation)."""
        out: list[JSON] = []
        for manager, paths in self.owned.items():
            fields: JSON = {}
            for path in sorted(paths):
                node = fields
                for part in _parts(path):
                    node = node.setdefault(part, {})
            out.append(
                {
                    "manager": manager.name,
                    "operation": manager.operation,
                    "apiVersion": manager.api_version,
                    "time": time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields,
                }
            )
        return out


def _parts(path: str) -> list[str]:
    """``.spec.containers[name="a"].image`` -> ``f:spec``, ``f:containers``,
    ``k:{"name":"a"}``, ``f:image``."""
    out: list[str] = []
    rest = path
    while rest:
        if rest.startswith("."):
            end = min(
                (i for i in (rest.find(".", 1), rest.find("[", 1)) if i > 0), default=len(rest)
            )
            out.append("f:" + rest[1:end])
            rest = rest[end:]
        elif rest.startswith("["):
            end = rest.index("]")
            pairs = dict(p.split("=", 1) for p in rest[1:end].split(","))
            out.append(
                "k:"
                + json.dumps({k: json.loads(v) for k, v in pairs.items()}, separators=(",", ":"))
            )
            rest = rest[end + 1 :]
        else:
            out.append("f:" + rest)
            break
    return out
