"""Contract: secrets and config files reach the service and nowhere else."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ctrlplane.errors import ProvisionFailed
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import SecretType, ServiceRole
from ctrlplane.provider.spec import ConfigFile, SecretRef
from ctrlplane.secrets import MappingResolver
from ctrlplane.testing.conformance.context import SuiteContext

__all__ = ["SecretsContract"]

TOKEN = "tok-7f3a9c51e2d84b06"
PASSWORD = "pw-c0ffee-91b2-4d7e"
REFS = [
    SecretRef(key="api-token"),
    SecretRef(key="db/password", type=SecretType.FILE),
]


def _resolver() -> MappingResolver:
    return MappingResolver({"api-token": TOKEN, "db/password": PASSWORD})


def _assert_hidden(where: str, text: str) -> None:
    for value in (TOKEN, PASSWORD):
        assert value not in text, f"a secret value appears in {where}"


class SecretsContract:
    """Secrets through a ``SecretResolver``; config files."""

    async def test_secrets_reach_only_the_service(
        self, suite: SuiteContext, caplog: pytest.LogCaptureFixture
    ) -> None:
        suite.require(Capability.PROVISION)
        caplog.set_level(logging.DEBUG, logger="ctrlplane")
        h = suite.harness
        provider = suite.fresh(secrets=_resolver())
        app = h.idle_service("app").model_copy(update={"secrets": REFS})
        req, result = await suite.provision(app, provider=provider)
        iid = req.instance_id
        suite.provider = provider
        if suite.has(Capability.EXEC):
            env = await suite.run(iid, "printenv", "API_TOKEN")
            assert env.stdout == f"{TOKEN}\n".encode(), env
            file = await suite.run(iid, "cat", "/run/secrets/db/password")
            assert file.stdout == PASSWORD.encode(), file
        status = await suite.status(iid)
        _assert_hidden("the provision result", result.model_dump_json())
        _assert_hidden("the status", status.model_dump_json())
        _assert_hidden("the backend's labels and objects", await h.backend_text(iid))
        _assert_hidden("the library's logs", caplog.text)

    async def test_failing_init_error_does_not_show_secret_output(
        self, suite: SuiteContext, caplog: pytest.LogCaptureFixture
    ) -> None:
        suite.require(Capability.PROVISION)
        caplog.set_level(logging.DEBUG, logger="ctrlplane")
        h = suite.harness
        init = h.exit_service("leaky", code=4, lines=[f"token is {TOKEN}"]).model_copy(
            update={"role": ServiceRole.INIT, "secrets": REFS[:1]}
        )
        req = suite.request(h.idle_service("app"), init)
        with pytest.raises(ProvisionFailed) as caught:
            async with asyncio.timeout(h.timeout):
                await suite.fresh(secrets=_resolver()).provision(req)
        _assert_hidden("the ProvisionFailed message", str(caught.value))
        _assert_hidden("the library's logs", caplog.text)
        await suite.assert_gone(req.instance_id)

    async def test_config_files_are_mounted(self, suite: SuiteContext) -> None:
        suite.require(Capability.PROVISION, Capability.EXEC)
        content = '{"feature": true}'
        cfg = ConfigFile(
            name="app-config", path="/etc/app/config.json", format="json", content=content
        )
        app = suite.harness.idle_service("app").model_copy(update={"config_files": [cfg]})
        req, _ = await suite.provision(app)
        res = await suite.run(req.instance_id, "cat", "/etc/app/config.json")
        assert (res.exit_code, res.stdout) == (0, content.encode())
