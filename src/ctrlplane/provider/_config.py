"""Reading a backend's pydantic config model from the environment.

Each backend config (``DockerConfig``, ``KubernetesConfig``, ``NomadConfig``) exposes
``from_env``; they all delegate here so the precedence and the error messages match:
defaults, then a backend's native variables (``NOMAD_ADDR``, ...), then
``<PREFIX><FIELD>`` variables, then explicit overrides. A bad value is an
:class:`~ctrlplane.errors.InvalidSpec` naming the variable it came from.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ValidationError

from ctrlplane.durations import coerce_duration
from ctrlplane.errors import InvalidSpec, Problem

__all__ = ["Seconds", "config_from_env"]


def _seconds(value: object) -> timedelta:
    return coerce_duration(value, numbers_are_seconds=True)


Seconds = Annotated[timedelta, BeforeValidator(_seconds)]
"""A config duration: ``timedelta``, a Go duration string, or a plain number of seconds."""

M = TypeVar("M", bound=BaseModel)


def config_from_env(
    cls: type[M],
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
    *,
    prefix: str,
    subject: str,
    json_fields: Collection[str] = (),
    native: Mapping[str, str] | None = None,
) -> M:
    """Build ``cls`` from ``environ`` (see the module docs for the precedence).

    ``json_fields`` are decoded from JSON text; ``native`` maps field names to a
    backend's own variable names, used when set and not empty.
    """
    values: dict[str, Any] = {}
    source: dict[str, str] = {}
    for name in cls.model_fields:
        native_key = (native or {}).get(name)
        key = prefix + name.upper()
        if native_key and environ.get(native_key):
            values[name], source[name] = environ[native_key], native_key
        if key in environ:
            values[name], source[name] = environ[key], key
        if name in json_fields and name in values:
            try:
                values[name] = json.loads(values[name])
            except ValueError as exc:
                raise InvalidSpec(
                    [Problem(source[name], f"must be JSON: {exc}")], subject=subject
                ) from None
    for name in overrides:
        source.pop(name, None)
    values.update(overrides)
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            field = str(err["loc"][0]) if err["loc"] else ""
            where = ".".join(str(p) for p in err["loc"])
            if field in source:
                where = f"{source[field]} ({where})"
            problems.append(Problem(where, err["msg"]))
        raise InvalidSpec(problems, subject=subject) from None
