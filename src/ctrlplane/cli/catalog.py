"""The providers the CLI can use: installed backends (entry points) and config sections.

A name is either a ``[providers.NAME]`` section of ``ctrlplane.toml`` or an installed
provider (``docker``, ``kubernetes``, ``nomad`` and third-party entry points). A section
named like an installed provider configures that provider. Providers are built on first
use only, so listing names imports no backend.

A built-in backend (``docker``, ``kubernetes``, ``nomad``, or a section of one of those
types) is built from its config model with the CLI's secret resolver and the settings a
command asks for. Another installed provider is built by its own entry point (without
the CLI's secret resolver: it resolves secrets as its package documents), and refuses
settings asked for by flags (:class:`~ctrlplane.errors.NotSupported`). Names in
``factories`` (programs embedding the CLI, tests) are built by calling the factory with
the secret resolver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ctrlplane.cli.backends import BUILTIN_TYPES, build_configured, redact_settings
from ctrlplane.cli.config import CliConfig, ProviderEntry
from ctrlplane.errors import NotSupported

if TYPE_CHECKING:
    from ctrlplane.provider import Provider, Registry
    from ctrlplane.secrets import SecretResolver

__all__ = ["DEFAULT_PROVIDER", "ProviderCatalog"]

DEFAULT_PROVIDER = "docker"
"""Used when neither ``--provider``, ``$CTRLPLANE_PROVIDER`` nor the file's ``default``
names one: the local Docker engine."""


class ProviderCatalog:
    """Names, types, sources and (lazily built) providers, from a registry and a config."""

    def __init__(
        self,
        registry: Registry,
        config: CliConfig,
        environ: Mapping[str, str],
        *,
        factories: Mapping[str, Callable[[SecretResolver | None], Provider]] | None = None,
    ) -> None:
        self.registry = registry
        self.config = config
        self._environ = environ
        self._factories = dict(factories or {})
        self._built: dict[str, Provider] = {}

    def names(self) -> list[str]:
        """Every usable name, sorted."""
        return sorted({*self.registry.list(), *self.config.providers, *self._factories})

    def __contains__(self, name: object) -> bool:
        return name in self.config.providers or name in self.registry or name in self._factories

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

    def get(
        self,
        name: str,
        *,
        secrets: SecretResolver | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Provider:
        """The provider called ``name``, built on first use with ``secrets`` as its
        secret resolver and ``settings`` (backend config fields asked for by flags) over
        its configured ones.

        Unknown name: :class:`ProviderNotFound` listing the known ones. A bad section:
        :class:`~ctrlplane.errors.InvalidSpec` naming the file and the field. Settings for
        a provider that is not a built-in backend: :class:`NotSupported`.
        """
        if name in self._built and not settings:
            return self._built[name]
        entry = self.config.providers.get(name)
        if name in self._factories and entry is None:
            self._refuse_settings(name, settings)
            provider = self._factories[name](secrets)
            self._built[name] = provider
            return provider
        if entry is None:
            if name in BUILTIN_TYPES:
                entry = ProviderEntry(name=name, type=name)
            else:
                if name == self.config.default and name not in self.registry:
                    raise self.config.problem(
                        "default",
                        f"names no provider ({name!r}); known: {', '.join(self.names())}",
                    )
                self._refuse_settings(name, settings)
                return self.registry.get(name)
        where = f"providers.{name}"
        if name in BUILTIN_TYPES and entry.type != name:
            raise self.config.problem(
                f"{where}.type",
                f"a section named after the {name} backend configures it; rename the "
                f"section to define a provider of type {entry.type!r}",
            )
        if entry.type in BUILTIN_TYPES:
            provider = build_configured(
                self.config, entry, self._environ, secrets=secrets, settings=settings
            )
        elif entry.type in self.registry and entry.type not in self.config.providers:
            self._refuse_settings(name, settings)
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

    @staticmethod
    def _refuse_settings(name: str, settings: Mapping[str, Any] | None) -> None:
        if settings:
            raise NotSupported(
                name,
                ", ".join(sorted(settings)),
                detail="only the built-in docker, kubernetes and nomad backends take "
                "settings from command-line flags",
            )
