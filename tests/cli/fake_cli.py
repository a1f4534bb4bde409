"""Driving the real CLI entry point in-process with a provider registered as ``fake``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from ctrlplane.cli.context import CliState
from ctrlplane.cli.main import main
from ctrlplane.provider import InstanceSummary, Provider, Registry
from ctrlplane.secrets import SecretResolver
from ctrlplane.testing import FakeBackend, FakeProvider

IID = "inst_01jd0000000000000000000001"

SHIPPED_BACKENDS = set(
    tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text("utf-8"))[
        "project"
    ]["entry-points"]["ctrlplane.providers"]
)
"""Every backend the project ships (its entry points), e.g. what completion offers."""


def run_cli(
    capsys: pytest.CaptureFixture[str], provider: object, *args: str
) -> tuple[int, str, str]:
    """Run ``ctrlplane --provider fake ARGS`` against ``provider``; (exit code, out, err)."""
    registry = Registry()
    registry.register("fake", provider)  # type: ignore[arg-type]
    try:
        main(["--provider", "fake", *args], state=CliState(_registry=registry))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


class Listing:
    """A fake that also lists its instances (as the real backends do), so workload names
    resolve; every other attribute is the fake's."""

    def __init__(self, inner: FakeProvider) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        return [
            InstanceSummary(
                instance_id=r.instance_id,
                tenant_id=r.tenant_id,
                name=r.name,
                state=r.state,
                release_id=next((x.release_id for x in r.releases if x.live), ""),
                created_at=r.releases[0].created_at if r.releases else None,
            )
            for r in self._inner.backend.instances.values()
            if tenant_id is None or r.tenant_id == tenant_id
        ]


def run_with_secrets(
    capsys: pytest.CaptureFixture[str], backend: FakeBackend, *args: str
) -> tuple[int, str, str]:
    """Run ``ctrlplane --provider fake ARGS`` where the fake (listing its instances) is
    built with the CLI's own secret resolver, as the built-in backends are."""

    def factory(secrets: SecretResolver | None) -> Provider:
        return Listing(FakeProvider(backend, secrets=secrets, time_scale=0.01))

    try:
        main(["--provider", "fake", *args], state=CliState(factories={"fake": factory}))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
