"""Secrets and config files: delivered into the container, never in labels or command."""

from __future__ import annotations

import json
from collections.abc import Callable

import aiodocker
import pytest

from ctrlplane.errors import ProvisionFailed
from ctrlplane.provider.docker import DockerProvider

from .conftest import SECRETS, fast_config
from .helpers import IMAGE, loop_cmd, request, sh


def svc_with_secrets() -> dict[str, object]:
    return {
        "name": "app",
        "image": IMAGE,
        "command": loop_cmd(),
        "secrets": [
            {"key": "db-password", "type": "env"},
            {"key": "tls-cert", "type": "tls"},
            {"key": "api-token", "type": "file", "target": "/etc/app/token"},
        ],
        "config_files": [
            {
                "name": "settings",
                "path": "/etc/app/settings.json",
                "format": "json",
                "content": '{"mode": "test"}',
            }
        ],
    }


async def test_secret_files_inside_and_absent_from_inspect(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    side = {"name": "side", "image": IMAGE, "role": "sidecar", "command": loop_cmd()}
    await provider.provision(request(iid, svc_with_secrets(), side))
    try:
        code, out, _ = await sh(provider, iid, "cat /run/secrets/tls-cert")
        assert (code, out) == (0, SECRETS["tls-cert"])
        code, out, _ = await sh(provider, iid, "cat /etc/app/token; stat -c %a /etc/app/token")
        assert out == SECRETS["api-token"] + "400\n"
        code, out, _ = await sh(provider, iid, "echo -n $DB_PASSWORD")
        assert out == SECRETS["db-password"]
        code, out, _ = await sh(provider, iid, "cat /etc/app/settings.json")
        assert json.loads(out) == {"mode": "test"}
        # the sidecar gets none of them
        code, out, _ = await sh(
            provider, iid, "ls /run/secrets; echo -n $DB_PASSWORD", service="side"
        )
        assert SECRETS["db-password"] not in out
        assert "tls-cert" not in out

        async with aiodocker.Docker() as client:
            for name in (f"cp-{iid}-0-app", f"cp-{iid}-0-side"):
                info = await client.containers.get(name)
                visible = json.dumps(
                    {
                        "labels": info["Config"]["Labels"],
                        "cmd": info["Config"]["Cmd"],
                        "entrypoint": info["Config"]["Entrypoint"],
                        "args": info["Args"],
                        "path": info["Path"],
                        "mounts": info["Mounts"],
                    }
                )
                for value in SECRETS.values():
                    assert value not in visible
                assert '{\\"mode\\": \\"test\\"}' not in visible
        status = await provider.status(iid)
        for value in SECRETS.values():
            assert value not in status.model_dump_json()
    finally:
        await provider.deprovision(iid)


async def test_missing_secret_fails_before_side_effects(make_id: Callable[[], str]) -> None:
    provider = DockerProvider(fast_config())  # no resolver
    iid = make_id()
    with pytest.raises(ProvisionFailed) as exc:
        await provider.provision(request(iid, svc_with_secrets()))
    assert exc.value.step == "resolve secrets"
    assert "db-password" in str(exc.value)
