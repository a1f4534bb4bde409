"""The values of an instance's secrets: resolved through the operation's secret resolver
when objects are made (``provision``) or renewed (``deploy``, ``rollback``), and written
only into the instance's Secrets (never into a controller, an annotation or an event).
Resolving teaches the operation's redactor every value, so whatever it reports is scrubbed
of them. :func:`learn_instance_secrets` teaches it the values the instance's Secrets hold
(an operation that only reads the pods' output, such as ``restart``, or ``status``)."""

from __future__ import annotations

import base64

from ctrlplane.errors import PermissionDenied
from ctrlplane.provider.enums import SecretType
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.render import NEWEST, render_objects, secret_key
from ctrlplane.provider.kubernetes.render.naming import registry_secret_name, secret_name
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.registry_logins import docker_config_json, parse_registry_secret

__all__ = ["instance_secret_values", "learn_instance_secrets", "refresh_secrets", "resolve_secrets"]


async def resolve_secrets(ctx: Context, req: ProvisionRequest) -> dict[str, bytes]:
    """Every secret reference of ``req`` resolved, by :func:`~.render.secret_key`; a
    registry secret (any accepted format) becomes a ``.dockerconfigjson`` for the image's
    registry. :class:`SecretNotFound` (and the resolver's errors) before anything is made."""
    values: dict[str, bytes] = {}
    for svc in req.services:
        for i, ref in enumerate(svc.secrets):
            value = await ctx.secrets.resolve(
                ref, tenant_id=req.tenant_id, instance_id=req.instance_id
            )
            if ref.type is SecretType.REGISTRY:
                value = docker_config_json(parse_registry_secret(value, svc.image, ref.key))
            values[secret_key(svc.name, i)] = value
    return values


async def refresh_secrets(ctx: Context, target: ProvisionRequest, release_id: str) -> None:
    """Resolve ``target``'s secrets again and apply the instance's Secrets, so a rotated
    value reaches the pods a deploy or rollback starts. Nothing happens when no service
    references a secret. Resolution errors (``SecretNotFound``) come before any change."""
    if not any(s.secrets for s in target.services):
        return
    values = await resolve_secrets(ctx, target)
    secrets = [
        m
        for m in render_objects(
            target,
            ctx.config,
            release_id=release_id,
            features=NEWEST,
            releases=[],
            secret_values=values,
        )
        if m["kind"] == "Secret"
    ]
    await ctx.cluster.apply(secrets, f"deploy {target.instance_id}: secrets")


async def instance_secret_values(ctx: Context, req: ProvisionRequest) -> list[bytes]:
    """The values the instance's Secrets hold now (none when it references no secret;
    a Secret the caller may not read counts as empty)."""
    if not any(s.secrets for s in req.services):
        return []
    values: list[bytes] = []
    names = [secret_name(req.instance_id)]
    names += [registry_secret_name(req.instance_id, i) for i in range(_registry_count(req))]
    for name in names:
        try:
            found = await ctx.cluster.find("Secret", name)
        except PermissionDenied:
            continue
        for data in ((found or {}).get("data") or {}).values():
            values.append(base64.b64decode(data))
    return values


async def learn_instance_secrets(ctx: Context, req: ProvisionRequest) -> None:
    """Teach the operation's redactor the values the instance's Secrets hold."""
    ctx.op.redactor.add(await instance_secret_values(ctx, req))


def _registry_count(req: ProvisionRequest) -> int:
    return sum(1 for s in req.services for r in s.secrets if r.type is SecretType.REGISTRY)
