"""Resolving what each service gets at creation besides its spec (I/O): secrets through
the provider's :class:`~ctrlplane.secrets.SecretResolver`, and config file contents
copied out of the running containers when a container is re-created from its labels
(which keep no contents).

Values are resolved right before containers are created, handed to that one service
(environment for ``env`` secrets, files for ``file``/``tls`` secrets and config files)
and never stored anywhere else; ``registry`` secrets become pull credentials. Their
engine form is :mod:`ctrlplane.provider.docker.render.materials`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ctrlplane.errors import BackendError, CtrlplaneError
from ctrlplane.provider.docker.config import BACKEND, DockerConfig
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.observe.workload import replica_of
from ctrlplane.provider.docker.render.materials import (
    CONFIG_MODE,
    SECRET_MODE,
    FileEntry,
    ServiceMaterials,
    read_tar_file,
    registry_auth,
)
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.enums import SecretType
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ServiceSpec
from ctrlplane.provider.validation import secret_target
from ctrlplane.registry_logins import parse_registry_secret
from ctrlplane.secrets import SecretResolver

__all__ = ["config_contents", "held_secret_values", "resolve_materials", "workload_materials"]


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


async def workload_materials(
    ctx: DockerContext,
    wl: Workload,
    contents: Mapping[str, Mapping[str, bytes]] | None = None,
) -> dict[str, ServiceMaterials]:
    """Resolved secrets and files of every service of ``wl`` (``contents``: config file
    contents per service, from :func:`config_contents`)."""
    out: dict[str, ServiceMaterials] = {}
    for svc in wl.services:
        out[svc.name] = await resolve_materials(
            svc,
            ctx.secrets,
            tenant_id=wl.tenant_id,
            instance_id=wl.instance_id,
            config=ctx.config,
            config_contents=(contents or {}).get(svc.name),
        )
    return out


def _holder(ctx: DockerContext, svc: ServiceSpec, inspects: Sequence[JSON]) -> str:
    """A container of ``svc`` among ``inspects`` (the lowest unit's first), or ``""``."""
    mine = [i for i in inspects if i["Config"]["Labels"].get(ctx.labels.service) == svc.name]
    mine.sort(key=lambda i: (replica_of(ctx.labels, i), str(i.get("Name", ""))))
    return str(mine[0]["Id"]) if mine else ""


async def _file(ctx: DockerContext, ref: str, path: str) -> bytes | None:
    tar = await ctx.client.get_archive(ref, path)
    if tar is None:
        return None
    with tar:
        found = read_tar_file(tar)
    return found[0] if found else b""


async def config_contents(
    ctx: DockerContext, wl: Workload, inspects: Sequence[JSON]
) -> dict[str, dict[str, bytes]]:
    """Config file contents copied out of the existing containers (labels keep none)."""
    out: dict[str, dict[str, bytes]] = {}
    for svc in wl.services:
        if not svc.config_files:
            continue
        ref = _holder(ctx, svc, inspects)
        files: dict[str, bytes] = {}
        for cf in svc.config_files:
            data = await _file(ctx, ref, cf.path) if ref else None
            if data is None:
                raise BackendError(
                    f"config file {cf.path} of service {svc.name!r} is missing from "
                    f"container {ref or '(none left)'}",
                    backend=BACKEND,
                )
            files[cf.path] = data
        out[svc.name] = files
    return out


async def held_secret_values(
    ctx: DockerContext, wl: Workload, inspects: Sequence[JSON]
) -> list[bytes]:
    """The secret values the instance's containers hold (``env`` secrets in their
    environment, ``file``/``tls`` secrets as files), read back without the resolver: what
    a text quoting their output (a status message, a restart's error) is scrubbed of.
    ``registry`` secrets are not in any container."""
    values: list[bytes] = []
    for svc in wl.services:
        mine = [i for i in inspects if i["Config"]["Labels"].get(ctx.labels.service) == svc.name]
        for ref in svc.secrets:
            target = secret_target(ref)
            if ref.type is SecretType.ENV:
                prefix = f"{target}="
                values += [
                    str(e)[len(prefix) :].encode()
                    for i in mine
                    for e in i["Config"].get("Env") or []
                    if str(e).startswith(prefix)
                ]
            elif ref.type is not SecretType.REGISTRY and mine:
                data = await _file(ctx, _holder(ctx, svc, inspects), target)
                if data:
                    values.append(data)
    return values
