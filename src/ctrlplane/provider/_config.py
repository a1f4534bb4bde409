"""What every backend's pydantic config model shares, and reading one from the environment.

Each backend config (``DockerConfig``, ``KubernetesConfig``, ``NomadConfig``, ``EcsConfig``,
``FlyConfig``) is a :class:`BackendConfig`: frozen, refusing unknown settings, and read by
``from_env`` through :func:`config_from_env`, so the precedence and the error messages
match: defaults, then a backend's native variables (``NOMAD_ADDR``, ...), then
``<PREFIX><FIELD>`` variables, then explicit overrides. A bad value is an
:class:`~ctrlplane.errors.InvalidSpec` naming the variable it came from. The field types
of settings given as text in the environment are here too: :data:`Seconds` (durations)
and :data:`CommaList` (lists of names).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from ctrlplane.durations import coerce_duration
from ctrlplane.errors import InvalidSpec, Problem

__all__ = ["BackendConfig", "CommaList", "Seconds", "config_from_env"]


def _seconds(value: object) -> timedelta:
    return coerce_duration(value, numbers_are_seconds=True)


Seconds = Annotated[timedelta, BeforeValidator(_seconds)]
"""A config duration: ``timedelta``, a Go duration string, or a plain number of seconds."""


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


CommaList = Annotated[list[str], BeforeValidator(_comma_list)]
"""A config list of names: a list, or text (the environment's) split at commas, blanks dropped."""

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


class BackendConfig(BaseModel):
    """A backend's settings: frozen, no unknown fields, and read from the environment.

    A subclass says how its variables are named: ``env_prefix`` (``CTRLPLANE_<BACKEND>_``),
    ``env_subject`` (what its errors call the config, e.g. ``"Docker config"``), and where
    it has them ``env_json_fields`` and ``env_native`` (see :func:`config_from_env`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    env_prefix: ClassVar[str]
    env_subject: ClassVar[str]
    env_json_fields: ClassVar[Collection[str]] = ()
    env_native: ClassVar[Mapping[str, str] | None] = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Defaults, overridden by the backend's native variables, by ``<env_prefix><FIELD>``
        variables, by ``overrides``; ``environ`` is ``os.environ`` when not given.

        Raises :class:`~ctrlplane.errors.InvalidSpec` naming the variable for a bad value.
        """
        return config_from_env(
            cls,
            os.environ if environ is None else environ,
            overrides,
            prefix=cls.env_prefix,
            subject=cls.env_subject,
            json_fields=cls.env_json_fields,
            native=cls.env_native,
        )
