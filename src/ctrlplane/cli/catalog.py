"""The providers the CLI can use: installed backends (entry points) and config sections.

A name is either a ``[providers.NAME]`` section of ``ctrlplane.toml`` or an installed
provider (``docker``, ``kubernetes``, ``nomad`` and third-party entry points). A section
named like an installed provider configures that provider. Providers are built on first
use only, so listing names imports no backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ctrlplane.cli.backends import BUILTIN_TYPES, build_configured, redact_settings
from ctrlplane.cli.config import CliConfig
from ctrlplane.provider import Provider, Registry

__all__ = ["DEFAULT_PROVIDER", "ProviderCatalog"]

DEFAULT_PROVIDER = "docker"
"""Used when neither ``--provider``, ``$CTRLPLANE_PROVIDER`` nor the file's ``default``
names one: the local Docker engine."""


class ProviderCatalog:
    """Names, types, sources and (lazily built) providers, from a registry and a config."""

    def __init__(self, registry: Registry, config: CliConfig, environ: Mapping[str, str]) -> None:
        self.registry = registry
        self.config = config
        self._environ = environ
        self._built: dict[str, Provider] = {}

    def names(self) -> list[str]:
        """Every usable name, sorted."""
        return sorted({*self.registry.list(), *self.config.providers})

    def __contains__(self, name: object) -> bool:
        return name in self.config.providers or name in self.registry

    def type_of(self, name: str) -> str:
        """The backend type of ``name`` (its section's ``type``, else the name itself)."""
        entry = self.config.providers.get(name)
        return entry.type if entry is not None else name

    def source(self, name: str) -> str:
        """Where ``name`` comes from: ``<file> [providers.NAME]`` or ``installed``."""
        if name in self.config.providers:
            return f"{self.config.path} [providers.{name}]"
        return "installed"

    def settings(self, name: str) -> dict[str, Any]:
        """The file's settings of ``name``, secrets replaced by ``[redacted]``."""
        entry = self.config.providers.get(name)
        return redact_settings(entry.settings) if entry is not None else {}

    def default_name(self) -> str:
        """The file's ``default``, else :data:`DEFAULT_PROVIDER`."""
        return self.config.default or DEFAULT_PROVIDER

    def get(self, name: str) -> Provider:
        """The provider called ``name``, built on first use.

        Unknown name: :class:`ProviderNotFound` listing the known ones. A bad section:
        :class:`~ctrlplane.errors.InvalidSpec` naming the file and the field.
        """
        if name in self._built:
            return self._built[name]
        entry = self.config.providers.get(name)
        if entry is None:
            if name == self.config.default and name not in self.registry:
                raise self.config.problem(
                    "default", f"names no provider ({name!r}); known: {', '.join(self.names())}"
                )
            return self.registry.get(name)
        where = f"providers.{name}"
        if name in BUILTIN_TYPES and entry.type != name:
            raise self.config.problem(
                f"{where}.type",
                f"a section named after the {name} backend configures it; rename the "
                f"section to define a provider of type {entry.type!r}",
            )
        if entry.type in BUILTIN_TYPES:
            provider = build_configured(self.config, entry, self._environ)
        elif entry.type in self.registry and entry.type not in self.config.providers:
            if entry.settings:
                raise self.config.problem(
                    where,
                    f"provider type {entry.type!r} takes no settings from the config file "
                    f"(found: {', '.join(entry.settings)}); configure it as its package says",
                )
            provider = self.registry.get(entry.type)
        else:
            known = sorted({*BUILTIN_TYPES, *self.registry.list()})
            raise self.config.problem(
                f"{where}.type", f"unknown provider type {entry.type!r}; known: {', '.join(known)}"
            )
        self._built[name] = provider
        return provider
