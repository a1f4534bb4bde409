"""The AWS query protocol (Elastic Load Balancing v2): form-encoded requests, XML answers.

A request is ``POST /`` with ``Action=<Operation>&Version=<api version>`` and the input
flattened into form fields (``Names.member.1``, ``Targets.member.1.Id``...);
:func:`from_form` rebuilds the input structure from the operation's input shape (a
field the shape has no place for is an error, as is a malformed number or boolean).
Answers are ``<OperationResponse><OperationResult>...`` XML built from the output shape
(:func:`answer_xml`), errors ``<ErrorResponse><Error>`` (:func:`error_xml`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from botocore.model import ListShape, OperationModel, Shape, StructureShape

from .errors import AwsError

__all__ = ["answer_xml", "error_xml", "from_form"]


def _name(shape: Shape, default: str) -> str:
    return str(shape.serialization.get("name", default))


def _scalar(shape: Shape, raw: str, key: str) -> Any:
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise AwsError("ValidationError", f"{key}: {raw!r} is not an integer") from None
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise AwsError("ValidationError", f"{key}: {raw!r} is not a boolean")
        return raw == "true"
    if kind in ("double", "float"):
        try:
            return float(raw)
        except ValueError:
            raise AwsError("ValidationError", f"{key}: {raw!r} is not a number") from None
    return raw


def from_form(shape: StructureShape | None, form: Mapping[str, str]) -> dict[str, Any]:
    """The input structure of an operation from its form fields (see the module docs)."""
    used = {"Action", "Version"}

    def read(node: Shape, key: str) -> Any:
        kind = node.type_name
        if kind == "structure":
            assert isinstance(node, StructureShape)
            out: dict[str, Any] = {}
            for name, member in node.members.items():
                field = _name(member, name)
                value = read(member, f"{key}.{field}" if key else field)
                if value is not None:
                    out[name] = value
            return out if out or not key else None
        if kind == "list":
            assert isinstance(node, ListShape)
            item = _name(node.member, "member")
            items: list[Any] = []
            while True:
                value = read(node.member, f"{key}.{item}.{len(items) + 1}")
                if value is None:
                    break
                items.append(value)
            if not items and form.get(key) == "":
                used.add(key)
                return []
            return items or None
        if key not in form:
            return None
        used.add(key)
        return _scalar(node, form[key], key)

    body = read(shape, "") if shape is not None else {}
    unknown = sorted(set(form) - used)
    if unknown:
        raise AwsError("ValidationError", f"unknown parameter(s): {', '.join(unknown)}")
    return body or {}


def _xml(shape: Shape, value: Any, tag: str) -> str:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        inner = "".join(
            _xml(member, value[name], _name(member, name))
            for name, member in shape.members.items()
            if value.get(name) is not None
        )
    elif kind == "list":
        assert isinstance(shape, ListShape)
        inner = "".join(_xml(shape.member, item, _name(shape.member, "member")) for item in value)
    elif kind == "boolean":
        inner = "true" if value else "false"
    elif kind == "timestamp":
        assert isinstance(value, datetime)
        inner = value.isoformat().replace("+00:00", "Z")
    elif kind == "blob":
        inner = base64.b64encode(value).decode()
    else:
        inner = escape(str(value))
    return f"<{tag}>{inner}</{tag}>"


def answer_xml(op: OperationModel, body: Mapping[str, Any], namespace: str, request_id: str) -> str:
    """The XML answer of ``op`` carrying ``body`` (Python values of its output shape)."""
    shape = op.output_shape
    inner = ""
    if shape is not None:
        assert isinstance(shape, StructureShape)
        inner = "".join(
            _xml(member, body[name], _name(member, name))
            for name, member in shape.members.items()
            if body.get(name) is not None
        )
        wrapper = shape.serialization.get("resultWrapper")
        if wrapper:
            inner = f"<{wrapper}>{inner}</{wrapper}>"
    return (
        f'<{op.name}Response xmlns="{namespace}">{inner}'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{op.name}Response>"
    )


def error_xml(exc: AwsError, namespace: str, request_id: str) -> str:
    kind = "Receiver" if exc.status >= 500 else "Sender"
    return (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type>'
        f"<Code>{escape(exc.code)}</Code><Message>{escape(exc.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
