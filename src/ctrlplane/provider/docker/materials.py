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
from ctrlplane.registry_logins import parse_registry_secret, registry_host
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
            login = parse_registry_secret(value, svc.image, ref.key)
            auth = {
                "username": login.username,
                "password": login.password,
                "serveraddress": login.server,
            }
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
