"""Building a provider from a ``ctrlplane.toml`` section, and showing its settings safely.

The built-in backend types (``docker``, ``kubernetes``, ``nomad``) take settings: their
section is checked against the backend's own config model (``DockerConfig``, ...), so
the file accepts exactly the fields documented there. A backend is imported only when a
provider of its type is built, never at start-up.

Precedence of each setting, highest first:

1. ``CTRLPLANE_<BACKEND>_<FIELD>`` environment variables (``CTRLPLANE_DOCKER_*``,
   ``CTRLPLANE_K8S_*``, ``CTRLPLANE_NOMAD_*``);
2. the provider's section of the config file;
3. the backend's native variables (``NOMAD_ADDR``, ``NOMAD_TOKEN``, ...), which are
   shell-wide and so yield to a file that names a value;
4. the model's defaults.

Other installed types (entry points) are built by their own factory and take no settings.
Nothing here imports pydantic or a backend until a provider is built.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ctrlplane.cli.config import CliConfig, ProviderEntry
from ctrlplane.errors import CtrlplaneError, InvalidSpec, Problem

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ctrlplane.provider import Provider
    from ctrlplane.secrets import SecretResolver

__all__ = ["BUILTIN_TYPES", "REDACTED", "BackendType", "build_configured", "redact_settings"]

REDACTED = "[redacted]"
_SECRET_WORDS = ("token", "password", "secret", "auth", "credential")


@dataclass(frozen=True)
class BackendType:
    """Where a built-in backend's provider and config classes live."""

    package: str
    provider_class: str
    config_class: str


BUILTIN_TYPES: dict[str, BackendType] = {
    "docker": BackendType("ctrlplane.provider.docker", "DockerProvider", "DockerConfig"),
    "kubernetes": BackendType(
        "ctrlplane.provider.kubernetes", "KubernetesProvider", "KubernetesConfig"
    ),
    "nomad": BackendType("ctrlplane.provider.nomad", "NomadProvider", "NomadConfig"),
    "ecs": BackendType("ctrlplane.provider.ecs", "EcsProvider", "EcsConfig"),
    "fly": BackendType("ctrlplane.provider.fly", "FlyProvider", "FlyConfig"),
}
"""The backend types whose config-file sections take settings."""


def redact_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` fit to print: any key naming a token, password, secret, auth or
    credential has its whole value replaced by ``[redacted]`` (nested tables too)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if any(word in key.lower() for word in _SECRET_WORDS):
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = redact_settings(value)
        else:
            out[key] = value
    return out


def build_configured(
    config: CliConfig,
    entry: ProviderEntry,
    environ: Mapping[str, str],
    *,
    secrets: SecretResolver | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Provider:
    """The provider of a built-in type configured by ``entry``'s settings and ``environ``,
    with ``secrets`` as its secret resolver and ``settings`` (asked for by a command's
    flags, already named as the backend's fields) over everything else.

    Raises :class:`InvalidSpec` naming the file and ``providers.NAME.FIELD`` for an unknown
    or ill-typed setting (or naming the variable, for a bad environment value), and
    :class:`~ctrlplane.errors.MissingExtra` when the backend's extra is not installed.
    """
    from ctrlplane.provider import Provider

    backend = BUILTIN_TYPES[entry.type]
    package = importlib.import_module(backend.package)
    config_cls: type[BaseModel] = getattr(package, backend.config_class)
    prefix: str = importlib.import_module(f"{backend.package}.config").ENV_PREFIX
    from_file = _validate_section(config, entry, config_cls)
    from_env = config_cls.from_env(environ)  # type: ignore[attr-defined]
    own = {name for name in config_cls.model_fields if prefix + name.upper() in environ}
    native = set(from_env.model_fields_set) - own - set(from_file.model_fields_set)
    values = {name: getattr(from_env, name) for name in native}
    values |= {name: getattr(from_file, name) for name in from_file.model_fields_set}
    values |= {name: getattr(from_env, name) for name in own}
    values |= dict(settings or {})
    merged = config_cls.model_validate(values)
    provider = getattr(package, backend.provider_class)(merged, secrets=secrets)
    if not isinstance(provider, Provider):  # pragma: no cover - our own backends
        raise CtrlplaneError(f"{backend.provider_class} does not implement Provider")
    return provider


def _validate_section(config: CliConfig, entry: ProviderEntry, model: type[BaseModel]) -> BaseModel:
    from pydantic import ValidationError

    try:
        return model.model_validate(dict(entry.settings))
    except ValidationError as exc:
        problems = []
        known = list(model.model_fields)
        for err in exc.errors(include_input=False, include_url=False):
            where = ".".join(["providers", entry.name, *(str(p) for p in err["loc"])])
            message = err["msg"]
            if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
                message = _unknown_setting(str(err["loc"][0]), entry.type, known)
            problems.append(Problem(where, message))
        raise InvalidSpec(problems, subject=f"config file {config.path}") from None


def _unknown_setting(key: str, kind: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"unknown {kind} setting; did you mean {close[0]!r}?"
    return f"unknown {kind} setting; the {kind} settings are: {', '.join(known)}"
