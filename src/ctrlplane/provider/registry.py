"""A thread-safe registry of named providers, with lazy entry-point discovery.

Third-party packages can ship providers by declaring an entry point in the
``ctrlplane.providers`` group whose object is a zero-argument factory (a provider class
or function) returning a :class:`Provider`::

    [project.entry-points."ctrlplane.providers"]
    acme = "acme_ctrlplane:AcmeProvider"

A ``Registry(discover=True)`` lists those names at once but imports and builds a
provider only when it is first asked for (``get``, ``default``, ``all``). Names
registered explicitly win over discovered ones.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

from ctrlplane.errors import CtrlplaneError, MissingExtra, ProviderConflict, ProviderNotFound
from ctrlplane.provider.protocol import Provider

__all__ = ["ENTRY_POINT_GROUP", "Registry"]

ENTRY_POINT_GROUP = "ctrlplane.providers"
"""The entry-point group third-party providers register under."""


class Registry:
    """Named providers (Go ``provider.Registry``). Every method is thread-safe.

    - :meth:`register` refuses a *different* provider under a taken name unless
      ``replace=True`` (registering the same object again is a no-op).
    - :meth:`get` of an unknown name raises :class:`ProviderNotFound` (also a ``KeyError``).
    - :meth:`set_default` refuses a name that is not registered (or discoverable).
    - :meth:`default` is the named default, or the only provider when there is one.
    """

    def __init__(self, *, discover: bool = False, group: str = ENTRY_POINT_GROUP) -> None:
        self._lock = threading.RLock()
        self._providers: dict[str, Provider] = {}
        self._pending: dict[str, Callable[[], Provider]] = {}
        self._default: str | None = None
        if discover:
            for ep in entry_points(group=group):
                self._pending.setdefault(ep.name, _lazy(ep))

    def register(self, name: str, provider: Provider, *, replace: bool = False) -> None:
        """Add ``provider`` under ``name``."""
        if not name or not isinstance(name, str):
            raise ValueError("a provider name must be a non-empty string")
        if not isinstance(provider, Provider):
            raise TypeError(f"{provider!r} does not implement the Provider protocol")
        with self._lock:
            current = self._providers.get(name)
            if current is not None and current is not provider and not replace:
                raise ProviderConflict(name)
            self._providers[name] = provider
            self._pending.pop(name, None)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (and clear the default if it pointed there). Idempotent."""
        with self._lock:
            self._providers.pop(name, None)
            self._pending.pop(name, None)
            if self._default == name:
                self._default = None

    def get(self, name: str) -> Provider:
        """The provider registered (or discoverable) under ``name``."""
        with self._lock:
            found = self._providers.get(name)
            if found is not None:
                return found
            factory = self._pending.get(name)
            if factory is None:
                raise ProviderNotFound(name, known=self._names())
            provider = factory()
            self._providers[name] = provider
            del self._pending[name]
            return provider

    def set_default(self, name: str) -> None:
        """Make ``name`` the fallback provider; it must be registered or discoverable."""
        with self._lock:
            if name not in self._providers and name not in self._pending:
                raise ProviderNotFound(name, known=self._names())
            self._default = name

    def default(self) -> Provider:
        """The default provider; with none set, the only registered one."""
        with self._lock:
            if self._default is not None:
                return self.get(self._default)
            names = self._names()
            if len(names) == 1:
                return self.get(names[0])
            raise ProviderNotFound("(default)", known=names)

    @property
    def default_name(self) -> str | None:
        """The name set with :meth:`set_default`, if any."""
        with self._lock:
            return self._default

    def list(self) -> builtins.list[str]:
        """Registered (and discoverable) names, sorted."""
        with self._lock:
            return self._names()

    def all(self) -> dict[str, Provider]:
        """A snapshot of every provider by name (building any discovered ones)."""
        with self._lock:
            return {name: self.get(name) for name in self._names()}

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._providers or name in self._pending

    def __len__(self) -> int:
        with self._lock:
            return len(self._providers) + len(self._pending)

    def _names(self) -> builtins.list[str]:
        return sorted({*self._providers, *self._pending})


def _lazy(ep: EntryPoint) -> Callable[[], Provider]:
    def build() -> Provider:
        try:
            factory = ep.load()
        except ModuleNotFoundError as exc:
            dist = ep.dist.name if ep.dist is not None else ""
            # Our own backends come with an extra; a third party's with its distribution.
            install = "" if dist in ("", "ctrlplane") else f"pip install --upgrade {dist}"
            raise MissingExtra(ep.name, exc.name or str(exc), install=install) from exc
        try:
            provider = factory()
        except CtrlplaneError:
            raise
        except Exception as exc:
            raise CtrlplaneError(
                f"entry point {ep.name!r} ({ep.value}) failed to build a provider: {exc}"
            ) from exc
        if not isinstance(provider, Provider):
            raise CtrlplaneError(f"entry point {ep.name!r} ({ep.value}) did not return a Provider")
        return provider

    return build
