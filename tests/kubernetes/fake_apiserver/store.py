"""The fake API server's object store: resourceVersion, uid, generation, label selectors."""

from __future__ import annotations

import copy
import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

Key = tuple[str, str, str]  # (kind, namespace, name)


def now_rfc3339() -> str:
    """Current time as the API server writes it (seconds precision)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time() -> str:
    """Current time with microseconds (MicroTime fields)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_REQ = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


def parse_selector(text: str | None) -> list[tuple[str, str, str]]:
    """``a=b,c!=d,e`` -> requirements; ValueError on what this fake does not understand."""
    out: list[tuple[str, str, str]] = []
    for part in filter(None, (text or "").split(",")):
        m = _REQ.match(part)
        if m:
            out.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
        elif re.match(r"^\s*!?[A-Za-z0-9./_-]+\s*$", part):
            key = part.strip()
            out.append((key.lstrip("!"), "!exists" if key.startswith("!") else "exists", ""))
        else:
            raise ValueError(f"unable to parse requirement: {part!r}")
    return out


def matches(labels: JSON | None, reqs: list[tuple[str, str, str]]) -> bool:
    """Whether ``labels`` satisfy every requirement."""
    have = labels or {}
    for key, op, value in reqs:
        if op == "=" and have.get(key) != value:
            return False
        if op == "!=" and have.get(key) == value:
            return False
        if op == "exists" and key not in have:
            return False
        if op == "!exists" and key in have:
            return False
    return True


@dataclass
class Store:
    """Objects by (kind, namespace, name); every write bumps the global resourceVersion."""

    objects: dict[Key, JSON] = field(default_factory=dict)
    _rv: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    def get(self, kind: str, ns: str, name: str) -> JSON | None:
        return self.objects.get((kind, ns, name))

    def list(
        self, kind: str, ns: str, selector: list[tuple[str, str, str]] | None = None
    ) -> list[JSON]:
        return [
            o
            for (k, n, _), o in sorted(self.objects.items())
            if k == kind and n == ns and matches(o["metadata"].get("labels"), selector or [])
        ]

    def put(self, obj: JSON) -> JSON:
        """Store ``obj`` (setting uid, creationTimestamp, resourceVersion, generation)."""
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace", ""), meta["name"])
        old = self.objects.get(key)
        if old is None:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_rfc3339())
            meta["generation"] = 1
        else:
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            gen = old["metadata"].get("generation", 1)
            meta["generation"] = gen + (1 if old.get("spec") != obj.get("spec") else 0)
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[key] = obj
        return obj

    def touch(self, obj: JSON) -> None:
        """Bump ``obj``'s resourceVersion after an in-place status change."""
        obj["metadata"]["resourceVersion"] = str(next(self._rv))

    def delete(self, kind: str, ns: str, name: str) -> JSON | None:
        return self.objects.pop((kind, ns, name), None)

    def snapshot(self, obj: JSON) -> JSON:
        """A copy to send (so later changes do not leak into an encoded answer)."""
        return copy.deepcopy(obj)
