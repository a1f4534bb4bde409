"""The subset of Nomad's filter expressions (go-bexpr) the fake agent evaluates.

Supported: clauses joined by ``and``, each ``"<key>" in Meta`` (the key is in the
object's meta), ``Meta.<key> == "<value>"`` / ``!=``, or ``<Field> == "<value>"`` /
``!=`` on a top-level field (``JobID == "web"``), with double-quoted string literals
(``\\"`` and ``\\\\`` escapes). Anything else is refused as the agent refuses an
expression it cannot read (``failed to read filter expression``), so a provider that
sends an expression the fake does not understand fails loudly instead of being
answered unfiltered.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FilterError", "compile_filter"]

_STRING = r'"((?:[^"\\]|\\.)*)"'
_IN_META = re.compile(rf"^{_STRING}\s+in\s+Meta$")
_META_CMP = re.compile(rf"^Meta\.([A-Za-z0-9_]+)\s*(==|!=)\s*{_STRING}$")
_FIELD_CMP = re.compile(rf"^([A-Z][A-Za-z0-9]*)\s*(==|!=)\s*{_STRING}$")


class FilterError(ValueError):
    """The expression is not one the fake agent evaluates."""


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _split_and(expr: str) -> list[str]:
    """Split on `` and `` outside string literals."""
    parts: list[str] = []
    buf = ""
    in_string = escaped = False
    i = 0
    while i < len(expr):
        ch = expr[i]
        if in_string:
            buf += ch
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            buf += ch
        elif expr.startswith(" and ", i):
            parts.append(buf.strip())
            buf = ""
            i += 5
            continue
        else:
            buf += ch
        i += 1
    parts.append(buf.strip())
    return parts


def compile_filter(expr: str) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate on an object (a job, an allocation stub) for ``expr``;
    :class:`FilterError` if unsupported."""
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    for clause in _split_and(expr.strip()):
        found = _IN_META.match(clause)
        if found:
            key = _unquote(found.group(1))
            tests.append(functools.partial(_has_meta, key))
            continue
        found = _META_CMP.match(clause) or _FIELD_CMP.match(clause)
        if found:
            in_meta = clause.startswith("Meta.")
            key, op, value = found.group(1), found.group(2), _unquote(found.group(3))
            tests.append(functools.partial(_compare, key, value, in_meta, op == "=="))
            continue
        raise FilterError(f"failed to read filter expression: unsupported clause {clause!r}")

    def matches(obj: Mapping[str, Any]) -> bool:
        return all(test(obj) for test in tests)

    return matches


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("Meta") or {}


def _has_meta(key: str, obj: Mapping[str, Any]) -> bool:
    return key in _meta(obj)


def _compare(key: str, value: str, in_meta: bool, eq: bool, obj: Mapping[str, Any]) -> bool:
    return ((_meta(obj).get(key) if in_meta else obj.get(key)) == value) == eq
