"""What every CLI command shares: the chosen provider, the output format, running async code.

Provider selection, highest first: ``--provider NAME``, ``$CTRLPLANE_PROVIDER``, the
``default`` of ``ctrlplane.toml`` (see :mod:`ctrlplane.cli.config`), then ``docker`` (the
local engine). Providers come from the registry's entry points and the config file's
sections (:class:`~ctrlplane.cli.catalog.ProviderCatalog`), so a backend's client library
is imported only when a command actually needs that provider, and the config file is read
only by commands that use a provider.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from ctrlplane.cli.catalog import DEFAULT_PROVIDER, ProviderCatalog
from ctrlplane.cli.config import CliConfig, load_config
from ctrlplane.errors import AmbiguousInstance, InstanceNotFound
from ctrlplane.ids import INSTANCE_PREFIX, is_id
from ctrlplane.provider import InstanceLister, Provider, Registry

__all__ = ["DEFAULT_PROVIDER", "CliState", "pass_state", "run"]

T = TypeVar("T")


@dataclass
class CliState:
    """Options given before the sub-command; the config file and registry, read lazily.

    Tests may pass a prepared ``_registry`` (e.g. holding a ``FakeProvider``) or
    ``_config`` as the click context object.
    """

    provider_name: str = ""
    output: str = "table"
    tenant: str = ""
    debug: bool = False
    config_path: str | None = None
    _registry: Registry | None = field(default=None, repr=False)
    _config: CliConfig | None = field(default=None, repr=False)
    _catalog: ProviderCatalog | None = field(default=None, repr=False)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = Registry(discover=True)
        return self._registry

    @property
    def config(self) -> CliConfig:
        """The config file in use (empty when there is none). Raises ``InvalidSpec``."""
        if self._config is None:
            self._config = load_config(Path.cwd(), os.environ, self.config_path)
        return self._config

    @property
    def catalog(self) -> ProviderCatalog:
        """Every provider name the CLI can use, and their lazily built providers."""
        if self._catalog is None:
            self._catalog = ProviderCatalog(self.registry, self.config, os.environ)
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

    def provider(self) -> Provider:
        """The selected provider (built on first use)."""
        return self.catalog.get(self.chosen_provider)

    @property
    def json(self) -> bool:
        return self.output == "json"


pass_state = click.make_pass_decorator(CliState, ensure=True)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion; Ctrl-C cancels it so the library's cleanup runs."""
    return asyncio.run(coro)


async def resolve_instance(provider: Provider, ref: str, tenant: str = "") -> tuple[str, str]:
    """Turn an instance ID or a workload name into ``(instance_id, name)``.

    Names are looked up with the provider's ``list_instances`` (in ``tenant``, if given);
    no match is :class:`InstanceNotFound`, several are :class:`AmbiguousInstance`.
    """
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
