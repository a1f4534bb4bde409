"""Pure translation from ctrlplane specs to Machines API bodies (no I/O, no clock).

:mod:`.names` (apps, Machines, volumes, app secrets), :mod:`.meta` (metadata keys),
:mod:`.machine` (a service's Machine), :mod:`.guest` (sizes), :mod:`.checks` (health
checks), :mod:`.volumes`, :mod:`.control` (the control Machine) and :mod:`.plan` (every
request of a provision, for ``render()``).
"""

from ctrlplane.provider.fly.render.control import control_body, control_config
from ctrlplane.provider.fly.render.machine import Placement, create_body, machine_config
from ctrlplane.provider.fly.render.names import app_name, secret_name
from ctrlplane.provider.fly.render.plan import provision_requests, region_of, secret_keys

__all__ = [
    "Placement",
    "app_name",
    "control_body",
    "control_config",
    "create_body",
    "machine_config",
    "provision_requests",
    "region_of",
    "secret_keys",
    "secret_name",
]
