"""Secret values -> the app's secrets (I/O): who writes them, and how.

The Machines API has no secrets endpoint, and Machine configurations must never carry a
value. So ctrlplane itself writes each value into the app's secrets through Fly's GraphQL
API (``setSecrets``, the mutation ``fly secrets set`` uses), at provision, before any
Machine that needs it is created: each ``SecretRef`` is resolved through the operation's
resolver (which teaches the operation's redactor the value), and stored under
:func:`~ctrlplane.provider.fly.render.names.secret_name` (file secrets as base64, what
``files[].secret_name`` expects). Machines only name those secrets
(:mod:`~ctrlplane.provider.fly.render.machine`); Fly injects the values when a Machine
boots. Deprovision removes them (``unsetSecrets``; deleting a per-instance app removes
them anyway). Values are never logged, returned or quoted.
"""

from __future__ import annotations

import base64

from ctrlplane.errors import SecretNotFound
from ctrlplane.provider.enums import SecretType
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.render.plan import SET_SECRETS, secret_keys
from ctrlplane.provider.operations import Operation
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["UNSET_SECRETS", "remove", "write"]

UNSET_SECRETS = (
    "mutation($input: UnsetSecretsInput!) { unsetSecrets(input: $input) { app { name } } }"
)


async def write(ctx: FlyContext, op: Operation, app: str, req: ProvisionRequest) -> int:
    """Resolve every secret of ``req`` and write them to ``app``'s secrets in one call;
    how many were written. A missing value raises :class:`SecretNotFound` before any is
    written."""
    keys = secret_keys(req)
    if not keys:
        return 0
    refs = {ref.key: ref for svc in req.services for ref in svc.secrets}
    values: list[dict[str, str]] = []
    for key, name, file in keys:
        ref = refs[key]
        if ref.type is SecretType.REGISTRY:  # refused by the preflight; never written
            raise SecretNotFound(key, looked_in="registry secrets are not supported on Fly")
        value = await op.secrets.resolve(ref, tenant_id=req.tenant_id, instance_id=req.instance_id)
        text = base64.b64encode(value).decode() if file else value.decode(errors="replace")
        values.append({"key": name, "value": text})
    await ctx.api.graphql(SET_SECRETS, {"input": {"appId": app, "secrets": values}})
    return len(values)


async def remove(ctx: FlyContext, app: str, req: ProvisionRequest) -> None:
    """Remove the app secrets ``req`` wrote (none: nothing to do)."""
    names = [name for _, name, _ in secret_keys(req)]
    if names:
        await ctx.api.graphql(UNSET_SECRETS, {"input": {"appId": app, "keys": names}})
