"""Registry secrets as docker driver ``auth`` without the values entering the job (pure).

Nomad interpolates ``${VAR}`` in a task's driver config with the task's environment,
and that environment includes the variables a template renders with ``env = true``
(templates render before the driver pulls the image). So the provider writes the
username and password to the task's Nomad Variable (items :data:`USERNAME_ITEM`,
:data:`PASSWORD_ITEM`), the task's env template reads them into
:data:`USERNAME_ENV`/:data:`PASSWORD_ENV`, and the job carries only
``auth = {username = "${CTRLPLANE_REGISTRY_USERNAME}", password = "${...}"}``.
Consequence (documented): the two variables are also in that task's environment.

A registry secret's value is one of (as on the other backends):

- JSON ``{"username": ..., "password": ...}``;
- a ``.dockerconfigjson`` ``{"auths": {"<host>": {"username", "password"} | {"auth"}}}``;
  the entry of the image's registry host is used;
- ``user:password``.
"""

from __future__ import annotations

import base64
import binascii
import json

from ctrlplane.errors import CtrlplaneError

__all__ = [
    "PASSWORD_ENV",
    "PASSWORD_ITEM",
    "USERNAME_ENV",
    "USERNAME_ITEM",
    "auth_block",
    "parse_registry_secret",
    "registry_host",
]

USERNAME_ITEM = "registry_username"
PASSWORD_ITEM = "registry_password"
USERNAME_ENV = "CTRLPLANE_REGISTRY_USERNAME"
PASSWORD_ENV = "CTRLPLANE_REGISTRY_PASSWORD"


def registry_host(image: str) -> str:
    """The registry host of an image reference (``docker.io`` when it names none)."""
    head, slash, _ = image.partition("/")
    if slash and (head == "localhost" or "." in head or ":" in head):
        return head
    return "docker.io"


def auth_block(image: str) -> dict[str, str]:
    """The docker driver ``auth`` object: interpolated names only, never values."""
    return {
        "username": "${" + USERNAME_ENV + "}",
        "password": "${" + PASSWORD_ENV + "}",
        "server_address": registry_host(image),
    }


def _host_of_key(key: str) -> str:
    host = key.split("://", 1)[-1].split("/", 1)[0].lower()
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def _bad(key: str, why: str) -> CtrlplaneError:
    return CtrlplaneError(f"registry secret {key!r}: {why} (the value is not shown)")


def _from_auths(auths: object, host: str, key: str) -> tuple[str, str]:
    if not isinstance(auths, dict):
        raise _bad(key, "'auths' must be an object")
    for name, entry in auths.items():
        if _host_of_key(str(name)) != host or not isinstance(entry, dict):
            continue
        if entry.get("username"):
            return str(entry["username"]), str(entry.get("password") or "")
        try:
            decoded = base64.b64decode(str(entry.get("auth") or ""), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _bad(key, f"the 'auth' of {name!r} is not base64 of 'user:password'") from None
        user, sep, password = decoded.partition(":")
        if not sep or not user:
            raise _bad(key, f"the entry {name!r} has no username")
        return user, password
    raise _bad(key, f"it has no credentials for registry {host}")


def parse_registry_secret(value: bytes, image: str, key: str) -> tuple[str, str]:
    """``(username, password)`` for ``image``'s registry from a secret value; a
    :class:`CtrlplaneError` naming the key (never the value) when it cannot be read."""
    text = value.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "auths" in data:
        return _from_auths(data["auths"], registry_host(image).lower(), key)
    if isinstance(data, dict) and data.get("username"):
        return str(data["username"]), str(data.get("password") or "")
    user, sep, password = text.partition(":")
    if isinstance(data, dict) or not sep or not user:
        raise _bad(
            key,
            "must be JSON with username and password, a .dockerconfigjson with 'auths', "
            "or 'user:password'",
        )
    return user, password
