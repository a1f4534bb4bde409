"""What ``provision`` sends, as a list of requests (pure): the source of ``render()``.

In order: the app (unless ``FlyConfig.app`` names an existing one), the control Machine,
the app secrets (GraphQL ``setSecrets``, every value shown as ``[redacted]``), then per
replica its volumes, its init Machines (in ``depends_on`` order) and its long-lived
Machines (in start-up order). Volume IDs are only known once created: a mount shows
``<volume NAME>``. Each item is ``{"method", "url", "body"}``.
"""

from __future__ import annotations

from ctrlplane.provider.enums import SecretType
from ctrlplane.provider.fly.config import FlyConfig
from ctrlplane.provider.fly.render.control import control_body
from ctrlplane.provider.fly.render.machine import Placement, create_body, persistent_volume
from ctrlplane.provider.fly.render.names import app_name, secret_name
from ctrlplane.provider.fly.render.volumes import volume_body
from ctrlplane.provider.native import JSON
from ctrlplane.provider.redaction import MASK
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.provider.validation import startup_order

__all__ = ["SET_SECRETS", "provision_requests", "region_of", "secret_keys"]


SET_SECRETS = "mutation($input: SetSecretsInput!) { setSecrets(input: $input) { app { name } } }"
"""The GraphQL document that writes app secrets."""


def region_of(config: FlyConfig, replica: int) -> str:
    """The region of ``replica``: the configured regions in turn."""
    return config.regions[replica % len(config.regions)]


def secret_keys(req: ProvisionRequest) -> list[tuple[str, str, bool]]:
    """Every app secret the request needs: (key, secret name, holds base64 file content),
    once each."""
    out: dict[str, tuple[str, str, bool]] = {}
    for svc in req.services:
        for ref in svc.secrets:
            file = ref.type in (SecretType.FILE, SecretType.TLS)
            name = secret_name(req.instance_id, ref.key, file=file)
            out.setdefault(name, (ref.key, name, file))
    return list(out.values())


def provision_requests(req: ProvisionRequest, config: FlyConfig, release_id: str) -> list[JSON]:
    """The requests of ``provision`` for ``req`` (see the module docs)."""
    app = app_name(config, req.instance_id)
    api = config.api_url + "/v1"
    out: list[JSON] = []
    if not config.app:
        out.append(
            {
                "method": "POST",
                "url": f"{api}/apps",
                "body": {"app_name": app, "org_slug": config.org_slug},
            }
        )
    out.append(
        {
            "method": "POST",
            "url": f"{api}/apps/{app}/machines",
            "body": control_body(req, config, region_of(config, 0)),
        }
    )
    keys = secret_keys(req)
    if keys:
        secrets = [{"key": name, "value": MASK} for _, name, _ in keys]
        out.append(
            {
                "method": "POST",
                "url": config.graphql_url,
                "body": {
                    "query": SET_SECRETS,
                    "variables": {"input": {"appId": app, "secrets": secrets}},
                },
            }
        )
    replicas = max(req.main.resources.replicas, 1)
    for replica in range(replicas):
        region = region_of(config, replica)
        volumes: dict[str, str] = {}
        made: dict[str, str] = {}
        for svc in req.services:
            name = persistent_volume(svc)
            if name and name not in made:
                vol = next(v for v in svc.volumes if v.name == name)
                body = volume_body(vol, replica, region, config)
                made[name] = f"<volume {body['name']}>"
                out.append({"method": "POST", "url": f"{api}/apps/{app}/volumes", "body": body})
            if name:
                volumes[svc.name] = made[name]
        for wave in startup_order(req.services):
            for svc in wave:
                place = Placement(
                    instance_id=req.instance_id,
                    tenant_id=req.tenant_id,
                    app=app,
                    replica=replica,
                    region=region,
                    release_id=release_id,
                    volume_id=volumes.get(svc.name, ""),
                )
                out.append(
                    {
                        "method": "POST",
                        "url": f"{api}/apps/{app}/machines",
                        "body": create_body(svc, place, config),
                    }
                )
    return out
