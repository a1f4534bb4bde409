"""Image pull credentials (registry secrets) as the docker driver's ``auth`` block, without
the values entering the job (pure).

Nomad interpolates ``${VAR}`` in a task's driver config with the task's environment,
and that environment includes the variables a template renders with ``env = true``
(templates render before the driver pulls the image). So the provider writes the
username and password to the task's Nomad Variable (items :data:`USERNAME_ITEM`,
:data:`PASSWORD_ITEM`), the task's env template reads them into
:data:`USERNAME_ENV`/:data:`PASSWORD_ENV`, and the job carries only
``auth = {username = "${CTRLPLANE_REGISTRY_USERNAME}", password = "${...}"}``.
Consequence (documented): the two variables are also in that task's environment.

A registry secret's value is read by :func:`ctrlplane.registry_logins.parse_registry_secret`
(the formats every backend accepts).
"""

from __future__ import annotations

from ctrlplane.registry_logins import registry_host

__all__ = [
    "PASSWORD_ENV",
    "PASSWORD_ITEM",
    "USERNAME_ENV",
    "USERNAME_ITEM",
    "auth_block",
]

USERNAME_ITEM = "registry_username"
PASSWORD_ITEM = "registry_password"
USERNAME_ENV = "CTRLPLANE_REGISTRY_USERNAME"
PASSWORD_ENV = "CTRLPLANE_REGISTRY_PASSWORD"


def auth_block(image: str) -> dict[str, str]:
    """The docker driver ``auth`` object: interpolated names only, never values."""
    return {
        "username": "${" + USERNAME_ENV + "}",
        "password": "${" + PASSWORD_ENV + "}",
        "server_address": registry_host(image),
    }
