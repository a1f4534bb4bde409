"""What every CLI command shares: the chosen provider, the output format, running async code.

Provider selection, highest first: ``--provider NAME``, ``$CTRLPLANE_PROVIDER``, the
``default`` of ``ctrlplane.toml`` (see :mod:`ctrlplane.cli.config`), then ``docker`` (the
local engine). Providers come from the registry's entry points and the config file's
sections (:class:`~ctrlplane.cli.catalog.ProviderCatalog`), so a backend's client library
is imported only when a command actually needs that provider, and the config file is read
only by commands that use a provider. A built-in backend is built with the CLI's secret
resolver (:mod:`ctrlplane.cli.secret_sources`) and with the settings a command asks for
(``deploy --canary-units``, ``down --keep-volumes``).

This module is imported at start-up: it imports no provider model at module level.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ctrlplane.cli.catalog import ProviderCatalog
    from ctrlplane.cli.config import CliConfig
    from ctrlplane.cli.secret_sources import ChainResolver
    from ctrlplane.provider import Provider, Registry
    from ctrlplane.secrets import SecretResolver

__all__ = ["CliState", "ProviderFactory", "pass_state", "resolve_instance", "run"]

T = TypeVar("T")

ProviderFactory = Callable[["SecretResolver | None"], "Provider"]
"""Builds a provider given the CLI's secret resolver (see :attr:`CliState.factories`)."""


@dataclass
class CliState:
    """The global options (given before or after the sub-command), and the config file,
    registry and secret resolver, read lazily.

    Tests and programs embedding the CLI may pass a prepared ``_registry`` (e.g. holding a
    ``FakeProvider``), ``_config``, or ``factories``: provider names whose provider is
    built by calling the factory with the CLI's secret resolver (they win over the
    registry and the config file).
    """

    provider_name: str | None = None
    output: str | None = None
    tenant: str | None = None
    debug: bool = False
    config_path: str | None = None
    secrets_file: str | None = None
    secrets_dir: str | None = None
    secrets_env_prefix: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """Provider settings a command asks for (``canary_units``, ``keep_volumes``...):
    applied on top of the configured ones when the provider is built."""
    factories: dict[str, ProviderFactory] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    """The command line (a detached deploy runs it again in the background)."""
    _registry: Registry | None = field(default=None, repr=False)
    _config: CliConfig | None = field(default=None, repr=False)
    _catalog: ProviderCatalog | None = field(default=None, repr=False)
    _built: dict[str, Provider] = field(default_factory=dict, repr=False)
    _resolver: ChainResolver | None = field(default=None, repr=False)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from ctrlplane.provider import Registry

            self._registry = Registry(discover=True)
        return self._registry

    @property
    def config(self) -> CliConfig:
        """The config file in use (empty when there is none). Raises ``InvalidSpec``."""
        if self._config is None:
            from ctrlplane.cli.config import load_config

            self._config = load_config(Path.cwd(), os.environ, self.config_path)
        return self._config

    @property
    def catalog(self) -> ProviderCatalog:
        """Every provider name the CLI can use, and their lazily built providers."""
        if self._catalog is None:
            from ctrlplane.cli.catalog import ProviderCatalog

            self._catalog = ProviderCatalog(
                self.registry, self.config, os.environ, factories=self.factories
            )
        return self._catalog

    @property
    def chosen_provider(self) -> str:
        """--provider, else $CTRLPLANE_PROVIDER, else the file's default, else docker."""
        return (
            self.provider_name
            or os.environ.get("CTRLPLANE_PROVIDER")
            or self.catalog.default_name()
        )

    @property
    def chosen_type(self) -> str:
        """The backend type of the chosen provider (``kubernetes`` for a section of it)."""
        return self.catalog.type_of(self.chosen_provider)

    @property
    def tenant_id(self) -> str:
        """--tenant, else $CTRLPLANE_TENANT, else ``""`` (no tenant)."""
        return self.tenant or os.environ.get("CTRLPLANE_TENANT", "")

    def secret_resolver(self) -> ChainResolver:
        """The resolver of the workload's secrets (built once): the flags, else
        ``[secrets]`` of the config file, else environment variables
        ``CTRLPLANE_SECRET_*``. Its ``redactor`` knows every value it handed out."""
        if self._resolver is None:
            from ctrlplane.cli.secret_sources import SecretSources

            self._resolver = SecretSources.choose(self).resolver()
        return self._resolver

    def provider(self) -> Provider:
        """The selected provider (built on first use, with :attr:`settings` applied)."""
        name = self.chosen_provider
        if name not in self._built:
            self._built[name] = self.catalog.get(
                name, secrets=self.secret_resolver(), settings=self.settings
            )
        return self._built[name]

    @property
    def json(self) -> bool:
        return self.output == "json"


pass_state = click.make_pass_decorator(CliState, ensure=True)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion; Ctrl-C cancels it so the library's cleanup runs."""
    import asyncio

    return asyncio.run(coro)


async def resolve_instance(provider: Provider, ref: str, tenant: str = "") -> tuple[str, str]:
    """Turn an instance ID or a workload name into ``(instance_id, name)``.

    Names are looked up with the provider's ``list_instances`` (in ``tenant``, if given);
    no match is :class:`InstanceNotFound`, several are :class:`AmbiguousInstance`.
    """
    from ctrlplane.errors import AmbiguousInstance, InstanceNotFound
    from ctrlplane.ids import INSTANCE_PREFIX, is_id
    from ctrlplane.provider import InstanceLister

    if is_id(ref, INSTANCE_PREFIX):
        return ref, ""
    if not isinstance(provider, InstanceLister):
        raise InstanceNotFound(
            ref, provider=provider.info().name
        )  # cannot look names up; only IDs work
    found = [s for s in await provider.list_instances(tenant or None) if s.name == ref]
    if not found:
        raise InstanceNotFound(ref, provider=provider.info().name)
    if len(found) > 1:
        raise AmbiguousInstance(ref, [f"{s.instance_id} (tenant {s.tenant_id!r})" for s in found])
    return found[0].instance_id, found[0].name
