"""``ctrlplane.toml``: which providers the CLI knows, and their settings.

Where the file is looked for (the first one found is used; files are not merged):

1. ``--config PATH`` or ``$CTRLPLANE_CONFIG`` (it must exist);
2. the project: ``ctrlplane.toml`` in the current directory, then in each parent, up to
   and including the repository root (the first directory holding ``.git``) or the
   filesystem root;
3. the user config directory: ``$XDG_CONFIG_HOME/ctrlplane/ctrlplane.toml``
   (``~/.config/ctrlplane/ctrlplane.toml`` when ``XDG_CONFIG_HOME`` is unset).

The format::

    default = "staging"              # optional: the provider used without --provider

    [providers.docker]               # type defaults to the section name
    stop_timeout = "5s"              # any DockerConfig field

    [providers.staging]
    type = "kubernetes"              # docker, kubernetes, nomad, or an installed one
    kubeconfig = "~/.kube/staging"   # any KubernetesConfig field
    namespace = "apps"

    [secrets]                        # where workload secrets are found (all optional)
    dotenv = ".env.secrets"          # KEY=VALUE lines; relative to this file
    dir = "secrets"                  # files secrets/<key>
    env_prefix = "MYAPP_SECRET_"     # $MYAPP_SECRET_DB_PASSWORD (default CTRLPLANE_SECRET_)

This module checks the file's structure only (top-level keys, provider names, ``type``);
it imports no backend. The settings of a provider are checked against its backend's
config model when that provider is built (:mod:`ctrlplane.cli.backends`). Every problem
is an :class:`~ctrlplane.errors.InvalidSpec` (exit code 2) naming the file and the field.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctrlplane.errors import InvalidSpec, Problem

__all__ = [
    "CONFIG_ENV",
    "FILE_NAME",
    "CliConfig",
    "ProviderEntry",
    "find_config_file",
    "load_config",
    "parse_config",
    "user_config_path",
    "user_state_dir",
]

FILE_NAME = "ctrlplane.toml"
CONFIG_ENV = "CTRLPLANE_CONFIG"
"""An explicit config file path (like ``--config``)."""

_TOP_LEVEL = ("default", "providers", "secrets")
_SECRET_KEYS = ("dotenv", "dir", "env_prefix")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ProviderEntry:
    """One ``[providers.NAME]`` section: the backend ``type`` and its ``settings``
    (everything but ``type``, as written, not yet checked against the backend's model)."""

    name: str
    type: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CliConfig:
    """A parsed config file. ``path`` is ``None`` when no file was found."""

    path: Path | None = None
    default: str = ""
    providers: Mapping[str, ProviderEntry] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    """The ``[secrets]`` table (``dotenv``, ``dir``, ``env_prefix``), see
    :mod:`ctrlplane.cli.secret_sources`."""

    def problem(self, where: str, message: str) -> InvalidSpec:
        """An error about field ``where`` of this file."""
        return InvalidSpec([Problem(where, message)], subject=f"config file {self.path}")


def user_config_path(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/ctrlplane/ctrlplane.toml`` (default base ``~/.config``)."""
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ctrlplane" / FILE_NAME


def user_state_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/ctrlplane`` (default base ``~/.local/state``): what the CLI
    remembers on this machine (detached rollouts, kept volumes)."""
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ctrlplane"


def find_config_file(
    cwd: Path, environ: Mapping[str, str], explicit: str | None = None
) -> Path | None:
    """The config file to use (see the module docs for the order), or ``None``.

    An explicit path (``explicit`` or ``$CTRLPLANE_CONFIG``) that does not exist raises
    :class:`InvalidSpec`.
    """
    given = explicit or environ.get(CONFIG_ENV)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            source = "--config" if explicit else f"${CONFIG_ENV}"
            raise InvalidSpec(
                [Problem(source, f"{path} does not exist (or is not a file)")],
                subject="config file",
            )
        return path
    for folder in (cwd, *cwd.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            break  # the repository root ends the project search
    user = user_config_path(environ)
    return user if user.is_file() else None


def load_config(
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    explicit: str | None = None,
) -> CliConfig:
    """Find and parse the config file; an empty :class:`CliConfig` when there is none."""
    env = os.environ if environ is None else environ
    path = find_config_file(cwd or Path.cwd(), env, explicit)
    if path is None:
        return CliConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidSpec(
            [Problem("", f"cannot read it: {exc.strerror}")], subject=f"config file {path}"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidSpec(
            [Problem("", f"not valid TOML: {exc}")], subject=f"config file {path}"
        ) from None
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], path: Path) -> CliConfig:
    """Check the structure of parsed TOML ``data`` and build a :class:`CliConfig`.

    Reports every structural problem at once (unknown top-level keys, a ``default`` or a
    ``type`` that is not a string, a provider section that is not a table, a bad name,
    an unknown or non-string key of ``[secrets]``).
    """
    problems: list[Problem] = []
    for key in data:
        if key not in _TOP_LEVEL:
            problems.append(
                Problem(key, f"unknown key; the top level takes {', '.join(_TOP_LEVEL)}")
            )
    default = data.get("default", "")
    if not isinstance(default, str):
        problems.append(Problem("default", "must be a string (a provider name)"))
        default = ""
    sections = data.get("providers", {})
    if not isinstance(sections, dict):
        problems.append(Problem("providers", "must be a table of [providers.NAME] sections"))
        sections = {}
    entries: dict[str, ProviderEntry] = {}
    for name, section in sections.items():
        where = f"providers.{name}"
        if not _NAME.match(name):
            problems.append(
                Problem(where, "a provider name takes letters, digits, '-', '_' and '.'")
            )
            continue
        if not isinstance(section, dict):
            problems.append(Problem(where, "must be a table ([providers.NAME])"))
            continue
        kind = section.get("type", name)
        if not isinstance(kind, str) or not kind:
            problems.append(Problem(f"{where}.type", "must be a backend name such as 'docker'"))
            continue
        settings = {k: v for k, v in section.items() if k != "type"}
        entries[name] = ProviderEntry(name=name, type=kind, settings=settings)
    secrets = data.get("secrets", {})
    if not isinstance(secrets, dict):
        problems.append(Problem("secrets", "must be a table ([secrets])"))
        secrets = {}
    for key, value in secrets.items():
        if key not in _SECRET_KEYS:
            problems.append(
                Problem(f"secrets.{key}", f"unknown key; [secrets] takes {', '.join(_SECRET_KEYS)}")
            )
        elif not isinstance(value, str) or not value:
            problems.append(Problem(f"secrets.{key}", "must be a non-empty string"))
    if problems:
        raise InvalidSpec(problems, subject=f"config file {path}")
    return CliConfig(path=path, default=default, providers=entries, secrets=dict(secrets))
