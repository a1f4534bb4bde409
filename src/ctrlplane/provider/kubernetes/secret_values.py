"""The values of an instance's secrets: resolved through the provider's secret resolver
when objects are made (``provision``) or renewed (``deploy``, ``rollback``), and written
only into the instance's Secrets (never into a controller, an annotation or an event)."""

from __future__ import annotations

from ctrlplane.errors import SecretNotFound
from ctrlplane.provider.enums import SecretType
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.render import NEWEST, render_objects, secret_key
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.registry_logins import docker_config_json, parse_registry_secret

__all__ = ["refresh_secrets", "resolve_secrets"]


async def resolve_secrets(ctx: Context, req: ProvisionRequest) -> dict[str, bytes]:
    """Every secret reference of ``req`` resolved, by :func:`~.render.secret_key`; a
    registry secret (any accepted format) becomes a ``.dockerconfigjson`` for the image's
    registry. :class:`SecretNotFound` (and the resolver's errors) before anything is made."""
    values: dict[str, bytes] = {}
    for svc in req.services:
        for i, ref in enumerate(svc.secrets):
            if ctx.secrets is None:
                raise SecretNotFound(
                    ref.key, looked_in="nothing: the provider has no secret resolver"
                )
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
