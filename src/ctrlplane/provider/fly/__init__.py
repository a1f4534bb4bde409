"""The Fly.io backend: :class:`FlyProvider` on Fly's Machines API, via ``httpx``.

Install with ``pip install 'ctrlplane[fly]'``; importing this package without ``httpx``
raises :class:`~ctrlplane.errors.MissingExtra` naming that command.

Quick use::

    from ctrlplane.provider.fly import FlyConfig, FlyProvider

    provider = FlyProvider(FlyConfig(token="...", org_slug="acme", regions=["ams"]))
    result = await provider.provision(request)

Configuration is :class:`FlyConfig` (``CTRLPLANE_FLY_<FIELD>``, and flyctl's
``FLY_API_TOKEN``).

The floor plan (``docs/architecture.md``): :mod:`.provider` is the facade; the pure
translation from specs to API bodies is :mod:`.render`, the pure reading of what the API
answered :mod:`.observe`, what the backend cannot do :mod:`.limits`; the HTTP client (the
only user of httpx) :mod:`.client`; the operation lease :mod:`.leases`; the operations are
plain async functions of a :mod:`.context` in :mod:`.provisioning`, :mod:`.lifecycle`,
:mod:`.inspection`, :mod:`.deploys` (with :mod:`.strategies`), :mod:`.execution` and
:mod:`.repair`, over the steps of :mod:`.machines`, :mod:`.units`, :mod:`.gate`,
:mod:`.control` and :mod:`.secrets`. See ``docs/fly.md``.
"""

from __future__ import annotations

# The client is the only module that imports httpx: importing it first raises
# MissingExtra (naming the pip install) when it is missing.
from ctrlplane.provider.fly import client as _client  # noqa: F401
from ctrlplane.provider.fly.config import FlyConfig
from ctrlplane.provider.fly.provider import FlyProvider

__all__ = ["FlyConfig", "FlyProvider"]
