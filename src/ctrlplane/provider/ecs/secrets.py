"""Secret values on their way to the tasks (I/O): resolved, stored, referenced, removed.

How a value gets to a container, and who writes it where:

1. the provider resolves each ``SecretRef`` of the request through the operation's
   :class:`~ctrlplane.secrets.SecretResolver` (``op.secrets``, which teaches the
   operation's redactor the value);
2. the provider writes the value (with its own credentials) to the instance's entry in
   the configured store: the Secrets Manager secret ``<secret_prefix>/<instance>/
   <service>/<key>`` (``CreateSecret``, or ``PutSecretValue`` when it exists) or the SSM
   ``SecureString`` parameter ``/<secret_prefix>/<instance>/<service>/<key>``
   (``PutParameter``). A registry login is written as ``{"username", "password"}`` JSON to
   Secrets Manager, the only store ECS reads private registry credentials from;
3. the task definition references the entry's ARN (``secrets[].valueFrom``,
   ``repositoryCredentials.credentialsParameter``): never the value;
4. when a task starts, the ECS agent reads the value with the task **execution role**
   and hands it to the container as an environment variable (for file secrets, to the
   ``ctrlplane_files`` init container, which writes the file into the service's volume).

The value is written nowhere else: not in the task definition, tags, labels, logs,
events or errors. Every ``provision``, ``deploy`` and ``rollback`` resolves and writes
the values again (the store keeps the newest); ``deprovision`` deletes every entry of
the instance (Secrets Manager: without a recovery window).
"""

from __future__ import annotations

import json

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.ecs.config import SecretStore
from ctrlplane.provider.ecs.context import EcsContext, cluster_facts
from ctrlplane.provider.ecs.render.names import registry_secret_name, secret_name, secret_path
from ctrlplane.provider.ecs.render.tags import instance_tags
from ctrlplane.provider.enums import SecretType
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.registry_logins import parse_registry_secret

__all__ = ["References", "remove", "resolve", "store"]

References = dict[tuple[str, str], str]
Values = dict[tuple[str, str], bytes]


async def resolve(op: Operation, req: ProvisionRequest) -> Values:
    """Every secret value of ``req`` by ``(service, key)``, through ``op.secrets``."""
    values: Values = {}
    for svc in req.services:
        for ref in svc.secrets:
            values[(svc.name, ref.key)] = await op.secrets.resolve(
                ref, tenant_id=req.tenant_id, instance_id=req.instance_id
            )
    return values


async def store(ctx: EcsContext, req: ProvisionRequest, values: Values) -> References:
    """Write ``values`` to the store (see the module docs); the references by
    ``(service, key)``."""
    cfg = ctx.config
    iid = req.instance_id
    tags = {k: v for k, v in instance_tags(req, "").items() if v}
    refs: References = {}
    for svc in req.services:
        for ref in svc.secrets:
            value = values[(svc.name, ref.key)]
            if ref.type is SecretType.REGISTRY:
                login = parse_registry_secret(value, svc.image, ref.key)
                document = json.dumps({"username": login.username, "password": login.password})
                refs[(svc.name, ref.key)] = await ctx.api.put_secret(
                    registry_secret_name(cfg, iid, svc.name, ref.key),
                    document.encode(),
                    kms_key=cfg.secrets_kms_key_id,
                    tags=tags,
                )
            elif cfg.secret_store is SecretStore.SSM:
                name = secret_name(cfg, iid, svc.name, ref.key)
                try:
                    text = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise CtrlplaneError(
                        f"secret {ref.key!r} of {svc.name!r} is not text; SSM parameters hold "
                        "text only (use secret_store = secretsmanager)"
                    ) from None
                await ctx.api.put_parameter(name, text, kms_key=cfg.secrets_kms_key_id)
                account = (await cluster_facts(ctx)).cluster_arn.split(":")[4]
                refs[(svc.name, ref.key)] = f"arn:aws:ssm:{ctx.region}:{account}:parameter{name}"
            else:
                refs[(svc.name, ref.key)] = await ctx.api.put_secret(
                    secret_name(cfg, iid, svc.name, ref.key),
                    value,
                    kms_key=cfg.secrets_kms_key_id,
                    tags=tags,
                )
    return refs


async def remove(ctx: EcsContext, instance_id: str) -> None:
    """Delete every stored entry of the instance (Secrets Manager, and SSM when it is
    the configured store)."""
    cfg = ctx.config
    for name in await ctx.api.secret_names(f"{cfg.secret_prefix}/{instance_id}/"):
        await ctx.api.delete_secret(name)
    if cfg.secret_store is not SecretStore.SSM:
        return
    names = await ctx.api.parameter_names(secret_path(cfg, instance_id))
    if names:
        await ctx.api.delete_parameters(names)
