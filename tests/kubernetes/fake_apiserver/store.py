"""The fake API server's object store: resourceVersion, uid, generation, label selectors,
and the watchers that see every change (``ADDED``, ``MODIFIED``, ``DELETED``)."""

from __future__ import annotations

import asyncio
import builtins
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
_KEY = r"[A-Za-z0-9./_-]+"


def parse_selector(text: str | None) -> list[tuple[str, str, str]]:
    """``a=b,c!=d,e`` -> requirements; ``ValueError`` with the real server's message for
    what it cannot parse (``a b c``: "found 'b', expected: '=', '!=', '==', 'in', notin'")."""
    out: list[tuple[str, str, str]] = []
    for part in filter(None, (text or "").split(",")):
        m = _REQ.match(part)
        if m:
            out.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
        elif re.match(rf"^\s*!?{_KEY}\s*$", part):
            key = part.strip()
            out.append((key.lstrip("!"), "!exists" if key.startswith("!") else "exists", ""))
        else:
            words = part.split()
            found = words[1] if len(words) > 1 else part.strip()
            raise ValueError(
                f"unable to parse requirement: found '{found}', expected: '=', '!=', '==', "
                "'in', notin'"
            )
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
class Watcher:
    """One watch: the changes of ``kind`` in ``ns`` matching ``selector``, as
    ``(type, object)`` in ``queue``."""

    kind: str
    ns: str
    selector: list[tuple[str, str, str]]
    queue: asyncio.Queue[tuple[str, JSON]] = field(default_factory=asyncio.Queue)

    def offer(self, change: str, obj: JSON) -> None:
        meta = obj["metadata"]
        mine = obj["kind"] == self.kind and meta.get("namespace", "") == self.ns
        if mine and matches(meta.get("labels"), self.selector):
            self.queue.put_nowait((change, copy.deepcopy(obj)))


@dataclass
class Store:
    """Objects by (kind, namespace, name); every write bumps the global resourceVersion
    and is told to the watchers of its kind."""

    objects: dict[Key, JSON] = field(default_factory=dict)
    by_kind: dict[str, dict[Key, JSON]] = field(default_factory=dict)
    """The same objects by kind (lists read one kind)."""
    watchers: list[Watcher] = field(default_factory=list)
    _rv: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    version: int = 999
    """The newest resourceVersion handed out (a list's ``metadata.resourceVersion``)."""

    def _next(self) -> str:
        self.version = next(self._rv)
        return str(self.version)

    def _tell(self, change: str, obj: JSON) -> None:
        for watcher in self.watchers:
            watcher.offer(change, obj)

    def get(self, kind: str, ns: str, name: str) -> JSON | None:
        return self.objects.get((kind, ns, name))

    def list(
        self, kind: str, ns: str, selector: list[tuple[str, str, str]] | None = None
    ) -> list[JSON]:
        return [
            o
            for (_, n, _), o in sorted(self.by_kind.get(kind, {}).items())
            if n == ns and matches(o["metadata"].get("labels"), selector or [])
        ]

    def list_kind(self, kind: str) -> builtins.list[JSON]:
        """Every object of ``kind`` in every namespace."""
        return list(self.by_kind.get(kind, {}).values())

    def put(self, obj: JSON, *, spec_changed: bool = False) -> JSON:
        """Store ``obj`` (setting uid, creationTimestamp, resourceVersion, generation;
        ``spec_changed`` when the stored object's spec was changed in place)."""
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
            changed = spec_changed or old.get("spec") != obj.get("spec")
            meta["generation"] = gen + (1 if changed else 0)
        meta["resourceVersion"] = self._next()
        self.objects[key] = obj
        self.by_kind.setdefault(key[0], {})[key] = obj
        self._tell("ADDED" if old is None else "MODIFIED", obj)
        return obj

    def touch(self, obj: JSON) -> None:
        """Bump ``obj``'s resourceVersion after an in-place status change."""
        obj["metadata"]["resourceVersion"] = self._next()
        self._tell("MODIFIED", obj)

    def delete(self, kind: str, ns: str, name: str) -> JSON | None:
        gone = self.objects.pop((kind, ns, name), None)
        self.by_kind.get(kind, {}).pop((kind, ns, name), None)
        if gone is not None:
            gone["metadata"]["resourceVersion"] = self._next()
            self._tell("DELETED", gone)
        return gone

    def snapshot(self, obj: JSON) -> JSON:
        """A copy to send (so later changes do not leak into an encoded answer)."""
        return copy.deepcopy(obj)
