"""Driving the real CLI entry point in-process with a provider registered as ``fake``."""

from __future__ import annotations

import pytest

from ctrlplane.cli.context import CliState
from ctrlplane.cli.main import main
from ctrlplane.provider import Registry

IID = "inst_01jd0000000000000000000001"


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
