"""A strict fake of Fly.io's Machines API (and of the GraphQL app-secrets slice) over real
HTTP on 127.0.0.1, validated against ``tests/fly/fly-machines-v1.swagger.json``.

:class:`FakeFlyAPI` serves it (:mod:`.server`: routes, validation of every request and
answer, lookups, faults); its endpoints are grouped in :mod:`.apps`, :mod:`.machines_api`
and :mod:`.volumes`; :mod:`.schema` builds the validators, :mod:`.rules` the semantic
checks, :mod:`.answers` the error shapes, :mod:`.records` the stored objects,
:mod:`.machine` simulates Machines (states, process, checks, events, versions, leases),
:mod:`.proxy` the Fly Proxy, :mod:`.dns` the internal DNS names and :mod:`.graphql` app
secrets.
"""

from .machine import FakeMachine, Settings
from .server import FakeFlyAPI, Seen

__all__ = ["FakeFlyAPI", "FakeMachine", "Seen", "Settings"]
