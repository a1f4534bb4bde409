"""Image registry logins read from ``registry`` secrets (pure; shared by the backends).

A service's ``registry`` secret holds the login for its image's registry, in one of:

- JSON ``{"username": ..., "password": ...[, "serveraddress": ...]}``;
- a ``.dockerconfigjson`` ``{"auths": {"<host>": {"username", "password"} | {"auth"}}}``
  (what Kubernetes image pull Secrets hold); the entry of the image's registry host is
  used (``https://index.docker.io/v1/`` and friends count as ``docker.io``);
- ``user:password``.

Errors name the secret's key and what is wrong with its shape, never the value.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import NamedTuple

from ctrlplane.errors import CtrlplaneError

__all__ = ["RegistryLogin", "docker_config_json", "parse_registry_secret", "registry_host"]

_DOCKER_HUB_ALIASES = frozenset({"index.docker.io", "registry-1.docker.io", "docker.io"})


class RegistryLogin(NamedTuple):
    """A username and password for ``server`` (a registry host, ``docker.io`` for Hub)."""

    username: str
    password: str
    server: str


def registry_host(image: str) -> str:
    """The registry host of an image reference (``docker.io`` when it names none)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _auths_key_host(name: str) -> str:
    """The registry host of an ``auths`` key (``https://host/v1/`` or ``host``)."""
    host = name.split("://", 1)[-1].split("/", 1)[0].lower()
    return "docker.io" if host in _DOCKER_HUB_ALIASES else host


def _bad(key: str, why: str) -> CtrlplaneError:
    return CtrlplaneError(f"registry secret {key!r}: {why} (the value is not shown)")


def _from_auths(auths: object, host: str, key: str) -> RegistryLogin:
    if not isinstance(auths, dict):
        raise _bad(key, "'auths' must be an object")
    for name, entry in auths.items():
        if _auths_key_host(str(name)) != host or not isinstance(entry, dict):
            continue
        user = str(entry.get("username") or "")
        password = str(entry.get("password") or "")
        if not user and entry.get("auth"):
            try:
                decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise _bad(
                    key, f"the 'auth' of {name!r} is not base64 of 'user:password'"
                ) from None
            user, sep, password = decoded.partition(":")
            if not sep:
                raise _bad(key, f"the 'auth' of {name!r} is not base64 of 'user:password'")
        if not user:
            raise _bad(key, f"the entry {name!r} has no username")
        return RegistryLogin(user, password, host)
    hosts = ", ".join(sorted(str(n) for n in auths)) or "none"
    raise _bad(key, f"it has no credentials for registry {host} (it has: {hosts})")


def parse_registry_secret(value: bytes, image: str, key: str) -> RegistryLogin:
    """The login for ``image``'s registry from a ``registry`` secret's ``value`` (see the
    module docstring for the formats); :class:`CtrlplaneError` naming ``key`` when the
    value has none of them or lacks that registry."""
    host = registry_host(image).lower()
    text = value.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "auths" in data:
        return _from_auths(data["auths"], "docker.io" if host in _DOCKER_HUB_ALIASES else host, key)
    if isinstance(data, dict) and data.get("username"):
        server = str(data.get("serveraddress") or host)
        return RegistryLogin(str(data["username"]), str(data.get("password") or ""), server)
    user, sep, password = text.partition(":")
    if isinstance(data, dict) or not sep or not user:
        raise _bad(
            key,
            "must be JSON with username and password, a .dockerconfigjson with 'auths', "
            "or 'user:password'",
        )
    return RegistryLogin(user, password, host)


def docker_config_json(login: RegistryLogin) -> bytes:
    """``login`` as a ``.dockerconfigjson`` document (what an image pull Secret holds)."""
    auth = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
    entry = {"username": login.username, "password": login.password, "auth": auth}
    return json.dumps({"auths": {login.server: entry}}, separators=(",", ":")).encode()
