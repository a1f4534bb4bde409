"""The Machines API's Swagger file as validators: every request and answer is checked.

``tests/fly/fly-machines-v1.swagger.json`` is a copy of the shared
``fly-machines-v1.swagger.json`` (Swagger 2.0, Apps, Machines and Volumes). From it,
built once per process (:func:`api`):

- one :class:`Operation` per path and method: its path parameters, its query parameters
  (name, type, enum, required) and its body schema (required or not);
- one JSON-schema validator per request body and per documented answer, over the file's
  ``definitions``, **closed**: an object definition that lists ``properties`` and declares
  no ``additionalProperties`` accepts no other field (the API's Go structs have no other
  fields either, so an unknown field is a typo the real API would silently drop).

Two corrections, the only places the fake departs from the letter of the file (both are
generator artifacts of the file; docs/fly.md says the same):

- ``fly.Duration`` is written as an object ``{"time.Duration": <enum of Go's unit
  constants>}``; the live API takes and returns Go duration strings (``"10s"``,
  ``"500ms"``), as flyctl sends them. The fake validates a duration string.
- ``POST .../exec`` documents its ``200`` answer as ``string`` ("raw command output
  bytes"); the live API answers ``application/json`` ``{"stdout", "stderr",
  "exit_code"}`` (``exit_code`` left out when 0, as Go's ``omitempty`` does). The fake
  validates that object (:data:`EXEC_RESPONSE`).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from jsonschema import Draft4Validator

__all__ = [
    "DURATION",
    "EXEC_RESPONSE",
    "SWAGGER_FILE",
    "Api",
    "Operation",
    "Param",
    "api",
]

SWAGGER_FILE = Path(__file__).resolve().parents[1] / "fly-machines-v1.swagger.json"

DURATION = {
    "type": "string",
    "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$",
    "description": "A Go duration string (correction of the file's object form).",
}
"""The corrected ``fly.Duration``: a Go duration string."""

EXEC_RESPONSE = {
    "type": "object",
    "properties": {
        "stdout": {"type": "string"},
        "stderr": {"type": "string"},
        "exit_code": {"type": "integer"},
        "exit_signal": {"type": "integer"},
    },
    "additionalProperties": False,
    "description": "What the live API answers to exec (correction of the file's string).",
}
"""The corrected ``200`` answer of ``Machines_exec``."""

JSON = dict[str, Any]


@dataclass(frozen=True)
class Param:
    """A path or query parameter of an operation."""

    name: str
    where: str
    type: str
    required: bool
    enum: tuple[str, ...] = ()


@dataclass
class Operation:
    """One documented operation: its parameters and its body and answer validators."""

    id: str
    method: str
    path: str
    params: dict[str, Param] = field(default_factory=dict)
    body: Draft4Validator | None = None
    body_required: bool = False
    answers: dict[int, Draft4Validator | None] = field(default_factory=dict)

    def query_problems(self, query: Mapping[str, str]) -> list[str]:
        """What is wrong with a request's query string (unknown, ill-typed, missing)."""
        problems: list[str] = []
        declared = {p.name: p for p in self.params.values() if p.where == "query"}
        for name, value in query.items():
            param = declared.get(name)
            if param is None:
                problems.append(f"unknown query parameter {name!r}")
                continue
            if param.type == "boolean" and value not in ("true", "false"):
                problems.append(f"query parameter {name!r} must be true or false, not {value!r}")
            if param.type == "integer" and not re.fullmatch(r"-?[0-9]+", value):
                problems.append(f"query parameter {name!r} must be an integer, not {value!r}")
            if param.enum and value not in param.enum:
                problems.append(f"query parameter {name!r} must be one of {list(param.enum)}")
        for name, param in declared.items():
            if param.required and not query.get(name):
                problems.append(f"query parameter {name!r} is required")
        return problems

    def body_problems(self, body: object) -> list[str]:
        """What is wrong with a request body (``None``: no body was sent)."""
        if body is None:
            return ["a request body is required"] if self.body_required else []
        if self.body is None:
            return ["this operation takes no request body"]
        return [_problem(e) for e in self.body.iter_errors(body)]

    def answer_problems(self, status: int, body: object) -> list[str]:
        """What is wrong with an answer the fake is about to send."""
        if status in self.answers:
            validator = self.answers[status]
        elif status >= 400:
            validator = _api().error
        else:
            return [f"status {status} is not documented for {self.id}"]
        if validator is None:
            return [] if body is None else [f"{self.id} answers {status} without a body"]
        if body is None:
            return [f"{self.id} answers {status} with a body"]
        return [_problem(e) for e in validator.iter_errors(body)]


def _problem(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return f"{where}: {error.message}"


@overload
def _closed(schema: JSON) -> JSON: ...
@overload
def _closed(schema: object) -> object: ...
def _closed(schema: object) -> object:
    """``schema`` with every object that lists properties closed to other fields."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, object] = {k: _closed(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@dataclass
class Api:
    """Every operation of the file, by operation ID, and the error answer validator."""

    operations: dict[str, Operation]
    definitions: JSON
    error: Draft4Validator

    def validator(self, schema: JSON) -> Draft4Validator:
        """A validator of ``schema`` over the file's (corrected, closed) definitions."""
        return Draft4Validator({**schema, "definitions": self.definitions})

    def find(self, method: str, template: str) -> Operation:
        """The operation of ``method`` on the path template (``KeyError`` if none)."""
        for op in self.operations.values():
            if op.method == method.lower() and op.path == template:
                return op
        raise KeyError(f"{method} {template}")


def _build(spec: JSON) -> Api:
    definitions = copy.deepcopy(spec["definitions"])
    definitions["fly.Duration"] = DURATION
    definitions = _closed(definitions)
    assert isinstance(definitions, dict)
    error = Draft4Validator({"$ref": "#/definitions/ErrorResponse", "definitions": definitions})
    ops: dict[str, Operation] = {}
    for path, methods in spec["paths"].items():
        for method, doc in methods.items():
            op = Operation(id=doc["operationId"], method=method, path=path)
            for p in doc.get("parameters", []):
                if p["in"] == "body":
                    op.body = Draft4Validator({**_closed(p["schema"]), "definitions": definitions})
                    op.body_required = bool(p.get("required"))
                    continue
                op.params[p["name"]] = Param(
                    name=p["name"],
                    where=p["in"],
                    type=p.get("type", "string"),
                    required=bool(p.get("required")),
                    enum=tuple(str(v) for v in p.get("enum", ())),
                )
            for status, answer in doc.get("responses", {}).items():
                schema = answer.get("schema")
                if op.id == "Machines_exec" and status == "200":
                    schema = EXEC_RESPONSE
                op.answers[int(status)] = (
                    None
                    if schema is None
                    else Draft4Validator({**_closed(schema), "definitions": definitions})
                )
            ops[op.id] = op
    return Api(ops, definitions, error)


@functools.cache
def _api() -> Api:
    return _build(json.loads(SWAGGER_FILE.read_text(encoding="utf-8")))


def api() -> Api:
    """The operations of the Swagger file, built once per process."""
    return _api()
