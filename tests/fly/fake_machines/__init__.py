"""A strict fake of Fly.io's Machines API (and of the GraphQL app-secrets slice) over real
HTTP on 127.0.0.1, validated against ``tests/fly/fly-machines-v1.swagger.json``.

:class:`FakeFlyAPI` serves it (:mod:`.server`); :mod:`.schema` builds the validators,
:mod:`.rules` the semantic checks, :mod:`.machine` simulates Machines (states, process,
checks, events, versions, leases), :mod:`.proxy` the Fly Proxy, :mod:`.dns` the internal
DNS names and :mod:`.graphql` app secrets.
"""

from .machine import FakeMachine, Settings
from .server import FakeFlyAPI, Seen

__all__ = ["FakeFlyAPI", "FakeMachine", "Seen", "Settings"]
