"""The slice of Fly's GraphQL API (``https://api.fly.io/graphql``) that manages app secrets.

The Machines API has no secrets endpoint; Fly's GraphQL schema has the mutations
``setSecrets(input: SetSecretsInput!)`` and ``unsetSecrets(input: UnsetSecretsInput!)``
and the query ``app(name:) { secrets { name } }`` (values are never readable back). The
fake recognises those three operations in the request's ``query`` document and validates
its ``variables`` against the input types below (closed: no other fields), answering as a
GraphQL server does: ``{"data": ...}``, or ``{"data": null, "errors": [...]}`` with a
``NOT_FOUND`` or ``BAD_USER_INPUT`` code (HTTP 200).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jsonschema import Draft4Validator

from .records import FakeApp

__all__ = ["SECRET_NAME", "answer"]

JSON = dict[str, Any]

SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""What Fly accepts as a secret name (an environment variable name)."""


def _closed(required: list[str], properties: JSON) -> JSON:
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": properties,
    }


def _input(required: list[str], properties: JSON) -> Draft4Validator:
    """A validator of ``{"input": <object>}`` variables (the mutations' one argument)."""
    return Draft4Validator(_closed(["input"], {"input": _closed(required, properties)}))


_STRING = {"type": "string"}
_SET = _input(
    ["appId", "secrets"],
    {
        "appId": _STRING,
        "replaceAll": {"type": "boolean"},
        "clientMutationId": _STRING,
        "secrets": {
            "type": "array",
            "items": _closed(["key", "value"], {"key": _STRING, "value": _STRING}),
        },
    },
)
_UNSET = _input(
    ["appId", "keys"],
    {"appId": _STRING, "clientMutationId": _STRING, "keys": {"type": "array", "items": _STRING}},
)
_LIST = Draft4Validator(_closed(["appName"], {"appName": _STRING}))

_OPERATIONS = {
    "setSecrets": (
        re.compile(r"^\s*mutation\b.*\bsetSecrets\s*\(\s*input\s*:\s*\$input\s*\)", re.S),
        _SET,
    ),
    "unsetSecrets": (
        re.compile(r"^\s*mutation\b.*\bunsetSecrets\s*\(\s*input\s*:\s*\$input\s*\)", re.S),
        _UNSET,
    ),
    "app": (
        re.compile(
            r"^\s*query\b.*\bapp\s*\(\s*name\s*:\s*\$appName\s*\)\s*\{\s*secrets\s*\{", re.S
        ),
        _LIST,
    ),
}


def _error(field: str, message: str, code: str) -> JSON:
    return {
        "data": None,
        "errors": [{"message": message, "path": [field], "extensions": {"code": code}}],
    }


def answer(body: object, app: Callable[[str], FakeApp | None]) -> tuple[int, JSON]:
    """The HTTP status and GraphQL answer to a request ``body``; ``app`` finds apps."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return 400, {"errors": [{"message": "a JSON body with a query string is required"}]}
    if set(body) - {"query", "variables", "operationName"}:
        return 400, {"errors": [{"message": f"unknown request fields {sorted(body)}"}]}
    variables = body.get("variables") or {}
    for field, (pattern, schema) in _OPERATIONS.items():
        if not pattern.search(body["query"]):
            continue
        problems = [e.message for e in schema.iter_errors(variables)]
        if problems:
            return 200, _error(field, "; ".join(problems), "BAD_USER_INPUT")
        if field == "app":
            found = app(variables["appName"])
            if found is None:
                return 200, _error(field, "Could not find App", "NOT_FOUND")
            names = [{"name": n} for n in sorted(found.secrets)]
            return 200, {"data": {"app": {"name": found.name, "secrets": names}}}
        data = variables["input"]
        found = app(data["appId"])
        if found is None:
            return 200, _error(field, "Could not find App", "NOT_FOUND")
        if field == "setSecrets":
            bad = [s["key"] for s in data["secrets"] if not SECRET_NAME.match(s["key"])]
            if bad:
                return 200, _error(field, f"invalid secret names {bad}", "BAD_USER_INPUT")
            if data.get("replaceAll"):
                found.secrets.clear()
            found.secrets.update({s["key"]: s["value"] for s in data["secrets"]})
        else:
            for key in data["keys"]:
                found.secrets.pop(key, None)
        return 200, {"data": {field: {"app": {"name": found.name}}}}
    return 200, {
        "data": None,
        "errors": [
            {
                "message": "unsupported operation (the fake serves setSecrets, "
                "unsetSecrets and app.secrets)",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ],
    }
