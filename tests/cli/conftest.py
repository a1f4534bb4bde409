"""Make the repository root importable, so the CLI tests can use the fake Kubernetes API
server and the fake Nomad agent as ``tests.kubernetes`` and ``tests.nomad``.

(``pythonpath = ["."]`` in the pytest configuration would do the same for every test.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ctrlplane.testing import FakeBackend, FakeProvider

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture
def fake() -> FakeProvider:
    """A fast in-memory provider for in-process CLI tests."""
    return FakeProvider(FakeBackend(), time_scale=0.01)


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ctrlplane.toml or provider variable of the developer's may leak in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CTRLPLANE_PROVIDER", raising=False)
    monkeypatch.delenv("CTRLPLANE_CONFIG", raising=False)
