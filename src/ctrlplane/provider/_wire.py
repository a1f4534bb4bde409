"""The base models and field types that keep our JSON identical to the Go package's.

- Field names equal the Go JSON tags.
- Fields listed in a model's ``__omitempty__`` are left out of dumps when empty, as Go's
  ``omitempty`` (and ``omitzero``) do; everything else is always written.
- ``null`` for a list or map field (what Go writes for a nil slice) reads as empty.
- :data:`Duration` is integer nanoseconds on the wire; :data:`Timestamp` is RFC 3339.
- :data:`WireBytes` are standard base64 in JSON, as Go's ``[]byte``.
- Any validation failure, from the constructor or ``model_validate*``, is an
  :class:`~ctrlplane.errors.InvalidSpec` whose problems carry field paths.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    model_serializer,
    model_validator,
)

from ctrlplane.durations import coerce_duration, to_nanoseconds
from ctrlplane.errors import InvalidSpec, Problem

__all__ = [
    "HUMAN_CONTEXT",
    "Duration",
    "SpecModel",
    "Timestamp",
    "WireBytes",
    "WireModel",
    "field_path",
    "spec_error",
]

HUMAN_CONTEXT: dict[str, Any] = {"numbers_are_seconds": True}
"""Validation context for files people write: a bare number in a duration means seconds."""


def _duration(value: object, info: ValidationInfo) -> timedelta:
    seconds = bool(info.context and info.context.get("numbers_are_seconds"))
    try:
        return coerce_duration(value, numbers_are_seconds=seconds)
    except TypeError as exc:  # pydantic reports only ValueError as a validation problem
        raise ValueError(str(exc)) from None


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(to_nanoseconds, return_type=int, when_used="json"),
]
"""A time span: ``timedelta`` in Python, integer nanoseconds in JSON (as Go's time.Duration)."""


def _aware(value: object) -> object:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _rfc3339(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


Timestamp = Annotated[
    datetime,
    BeforeValidator(_aware),
    PlainSerializer(_rfc3339, return_type=str, when_used="json"),
]
"""A point in time, always timezone-aware (naive input is taken as UTC); RFC 3339 in JSON."""


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


WireBytes = Annotated[bytes, PlainSerializer(_base64, return_type=str, when_used="json")]
"""Bytes, standard base64 (with ``+/``) in JSON as Go writes ``[]byte``.

pydantic's own ``ser_json_bytes="base64"`` writes the URL-safe alphabet, which Go refuses.
"""


def field_path(loc: Sequence[int | str]) -> str:
    """Render a pydantic location as ``services[2].depends_on[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "function_")) or part in {"[key]"}:
            continue
        else:
            out += f".{part}" if out else part
    return out


def spec_error(exc: ValidationError, subject: str) -> InvalidSpec:
    """Translate a pydantic error into our :class:`InvalidSpec` (without input values)."""
    problems: list[Problem] = []
    for err in exc.errors(include_url=False, include_input=False):
        nested = (err.get("ctx") or {}).get("error")
        if isinstance(nested, InvalidSpec):
            # A nested model's own __init__ already translated its errors: re-root them.
            prefix = field_path(err["loc"])
            for p in nested.problems:
                joined = (
                    f"{prefix}.{p.path}"
                    if p.path and not p.path.startswith("[")
                    else (prefix + p.path)
                )
                problems.append(Problem(joined, p.message))
            continue
        msg = err["msg"]
        if err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling against the spec)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        problems.append(Problem(field_path(err["loc"]), msg))
    return InvalidSpec(problems, subject=subject)


def _is_empty(value: object) -> bool:
    return value is None or value == "" or value == 0 or value is False or value in ([], {})


class WireModel(BaseModel):
    """Base of every API type: Go-compatible JSON, InvalidSpec on bad input."""

    model_config = ConfigDict(
        extra="ignore",
        ser_json_bytes="base64",
        val_json_bytes="base64",
        validate_default=False,
        defer_build=True,
    )

    __omitempty__: ClassVar[frozenset[str]] = frozenset()
    __omitdefault__: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise spec_error(exc, type(self).__name__) from None

    # Tell pydantic this __init__ only wraps the base one, so nested models are validated
    # directly (keeping the validation context, e.g. human durations) instead of through it.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Any = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        try:
            return super().model_validate(
                obj,
                strict=strict,
                extra=extra,
                from_attributes=from_attributes,
                context=context,
                by_alias=by_alias,
                by_name=by_name,
            )
        except ValidationError as exc:
            raise spec_error(exc, cls.__name__) from None

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        extra: Any = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        try:
            return super().model_validate_json(
                json_data,
                strict=strict,
                extra=extra,
                context=context,
                by_alias=by_alias,
                by_name=by_name,
            )
        except ValidationError as exc:
            raise spec_error(exc, cls.__name__) from None

    @model_validator(mode="before")
    @classmethod
    def _null_collections(cls, data: Any) -> Any:
        """Go writes ``null`` for nil slices, maps and ``[]byte``; read those as empty."""
        if not isinstance(data, dict):
            return data
        nulls = [
            name
            for name, field in cls.model_fields.items()
            if name in data
            and data[name] is None
            and (field.default_factory in (list, dict) or field.default == b"")
        ]
        if not nulls:
            return data
        return {k: v for k, v in data.items() if k not in nulls}

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            fields = type(self).model_fields
            for name in self.__omitempty__:
                if name not in data:
                    continue
                # An optional field (Go: a pointer) is omitted only when unset (nil), so
                # that 0 or an all-zero struct keeps its meaning across the wire.
                optional = fields[name].default is None
                if data[name] is None if optional else _is_empty(data[name]):
                    del data[name]
            for name in self.__omitdefault__:
                if name in data and getattr(self, name) == type(self).model_fields[name].default:
                    del data[name]
        return data

    def to_json(self) -> str:
        """Go-compatible JSON (omitempty honoured, durations in ns, bytes base64)."""
        return self.model_dump_json()

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict of :meth:`to_json`."""
        return self.model_dump(mode="json")


class SpecModel(WireModel):
    """Base of request-side types: unknown fields are an error (they are usually typos)."""

    model_config = ConfigDict(extra="forbid")
