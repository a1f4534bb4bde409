"""What a service gets at creation besides its spec: resolved secrets and files.

Values are resolved through the provider's :class:`~ctrlplane.secrets.SecretResolver`
right before containers are created, handed to that one service (environment for
``env`` secrets, files for ``file``/``tls`` secrets and config files) and never stored
anywhere else. ``registry`` secrets become pull credentials.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.docker.archive import CONFIG_MODE, SECRET_MODE, FileEntry
from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.provider.enums import SecretType
from ctrlplane.provider.spec import ServiceSpec
from ctrlplane.provider.validation import secret_target
from ctrlplane.secrets import SecretResolver

__all__ = ["ServiceMaterials", "registry_auth", "registry_host", "resolve_materials"]


@dataclass(frozen=True, slots=True)
class ServiceMaterials:
    """Secret env vars, files to write, and pull credentials of one service.

    ``repr`` shows names and paths only, never values.
    """

    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    files: tuple[FileEntry, ...] = ()
    pull_auth: Mapping[str, str] | None = field(default=None, repr=False)

    def secret_values(self) -> list[str]:
        """Resolved secret values (env, secret files, pull password), for redacting output."""
        values = list(self.env.values())
        values += [f.data.decode("utf-8", "replace") for f in self.files if f.mode == SECRET_MODE]
        if self.pull_auth:
            values.append(self.pull_auth.get("password", ""))
        return [v for v in values if v]

    def __repr__(self) -> str:
        return (
            f"ServiceMaterials(env={sorted(self.env)}, files={[f.path for f in self.files]}, "
            f"pull_auth={'set' if self.pull_auth else 'none'})"
        )


def registry_host(image: str) -> str:
    """The registry an image reference points at (``docker.io`` without a host part)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _auths_key_host(key: str) -> str:
    """The registry host of a ``.dockerconfigjson`` ``auths`` key (``https://host/v1/``)."""
    host = key.split("://", 1)[-1].split("/", 1)[0].lower()
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def _from_docker_config(auths: object, host: str, key: str) -> dict[str, str]:
    """The entry for ``host`` of a ``.dockerconfigjson`` ``auths`` object."""
    if not isinstance(auths, dict):
        raise CtrlplaneError(f"registry secret {key!r}: 'auths' must be an object")
    for name, entry in auths.items():
        if _auths_key_host(str(name)) != host.lower() or not isinstance(entry, dict):
            continue
        user = str(entry.get("username") or "")
        password = str(entry.get("password") or "")
        if not user and entry.get("auth"):
            try:
                decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
            except ValueError:
                raise CtrlplaneError(
                    f"registry secret {key!r}: the 'auth' of {name!r} is not base64 of "
                    "'user:password'"
                ) from None
            user, _, password = decoded.partition(":")
        if not user:
            raise CtrlplaneError(f"registry secret {key!r}: the entry {name!r} has no username")
        return {"username": user, "password": password, "serveraddress": host}
    hosts = ", ".join(sorted(str(n) for n in auths)) or "none"
    raise CtrlplaneError(
        f"registry secret {key!r} has no credentials for registry {host} (it has: {hosts})"
    )


def _parse_registry_secret(value: bytes, host: str, key: str = "") -> dict[str, str]:
    """A ``registry`` secret, in one of three formats (never quoted in errors):

    - JSON ``{"username": ..., "password": ...[, "serveraddress": ...]}``;
    - ``.dockerconfigjson`` (what the Kubernetes backend expects): JSON
      ``{"auths": {"<host>": {"username": ..., "password": ...} or {"auth": base64}}}``,
      the entry of the image's registry host is used;
    - ``user:password``.
    """
    text = value.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "auths" in data:
        return _from_docker_config(data["auths"], host, key)
    if isinstance(data, dict) and "username" in data:
        return {
            "username": str(data["username"]),
            "password": str(data.get("password", "")),
            "serveraddress": str(data.get("serveraddress") or host),
        }
    user, sep, password = text.partition(":")
    if not sep or isinstance(data, dict):
        raise CtrlplaneError(
            f"registry secret {key!r} must be JSON with username and password, a "
            ".dockerconfigjson with 'auths', or 'user:password'"
        )
    return {"username": user, "password": password, "serveraddress": host}


def registry_auth(config: DockerConfig, image: str) -> dict[str, str] | None:
    """Configured pull credentials for ``image``'s registry, if any."""
    host = registry_host(image)
    cred = config.registry_auth.get(host)
    if cred is None:
        return None
    return {
        "username": cred.username,
        "password": cred.password.get_secret_value(),
        "serveraddress": cred.serveraddress or host,
    }


async def resolve_materials(
    svc: ServiceSpec,
    resolver: SecretResolver | None,
    *,
    tenant_id: str,
    instance_id: str,
    config: DockerConfig,
    config_contents: Mapping[str, bytes] | None = None,
) -> ServiceMaterials:
    """Resolve the secrets of ``svc`` and collect its files.

    ``config_contents`` (path -> bytes) replaces the spec's config file contents; used
    when re-creating a container whose spec was read back from labels (which keep no
    contents). Raises :class:`~ctrlplane.errors.SecretNotFound` (naming the key) or a
    :class:`CtrlplaneError` when a secret is needed but no resolver is configured.
    """
    env: dict[str, str] = {}
    files: list[FileEntry] = []
    auth = registry_auth(config, svc.image)
    for ref in svc.secrets:
        if resolver is None:
            raise CtrlplaneError(
                f"service {svc.name!r} references secret {ref.key!r} but the provider has "
                "no secret resolver; pass secrets=... to DockerProvider"
            )
        value = await resolver.resolve(ref, tenant_id=tenant_id, instance_id=instance_id)
        if ref.type is SecretType.ENV:
            env[secret_target(ref)] = value.decode("utf-8", "replace")
        elif ref.type is SecretType.REGISTRY:
            auth = _parse_registry_secret(value, registry_host(svc.image), ref.key)
        else:
            files.append(FileEntry(secret_target(ref), bytes(value), SECRET_MODE))
    for cf in svc.config_files:
        if config_contents is not None and cf.path in config_contents:
            data = config_contents[cf.path]
        else:
            data = cf.content.encode()
        files.append(FileEntry(cf.path, data, CONFIG_MODE))
    return ServiceMaterials(env=env, files=tuple(files), pull_auth=auth)


def auth_header_value(auth: Mapping[str, str]) -> str:
    """The ``X-Registry-Auth`` header value for ``auth``."""
    return base64.urlsafe_b64encode(json.dumps(dict(auth)).encode()).decode()


def redact(text: str, secrets: Mapping[str, ServiceMaterials]) -> str:
    """``text`` with every resolved secret value of ``secrets`` replaced by a marker
    (container output quoted in errors may print a secret)."""
    values = sorted({v for m in secrets.values() for v in m.secret_values()}, key=len)
    for value in reversed(values):
        text = text.replace(value, "<redacted>")
        stripped = value.strip()
        if stripped and stripped != value:
            text = text.replace(stripped, "<redacted>")
    return text
