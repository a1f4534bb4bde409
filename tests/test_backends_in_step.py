"""Every backend we ship keeps its code, extra, entry point, docs and tests in step.

A backend is a name in pyproject's ``ctrlplane.providers`` entry-point group. For each:
the subpackage exists and exports the named provider class, the install extra of the
same name exists, ``docs/<name>.md`` documents it and links from the README, and
``tests/<name>/`` runs the conformance suite against it.
"""

from __future__ import annotations

import ast
import importlib
import tomllib
from pathlib import Path

import pytest

from ctrlplane.provider import Provider

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ENTRY_POINTS: dict[str, str] = (
    PYPROJECT["project"].get("entry-points", {}).get("ctrlplane.providers", {})
)


def test_docker_is_shipped() -> None:
    assert "docker" in ENTRY_POINTS


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_entry_point_names_a_provider_class_of_its_own_subpackage(name: str) -> None:
    module_name, _, attr = ENTRY_POINTS[name].partition(":")
    assert module_name == f"ctrlplane.provider.{name}"
    provider_class = getattr(importlib.import_module(module_name), attr)
    assert isinstance(provider_class, type)
    for method in ("provision", "deprovision", "status", "logs", "exec", "capabilities"):
        assert callable(getattr(provider_class, method, None)), method
    assert issubclass(provider_class, Provider)


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_backend_has_an_install_extra(name: str) -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert extras.get(name), f"pyproject lacks the extra [{name}]"
    assert name in extras["all"][0], "the [all] extra must include every backend"


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_backend_is_documented_and_linked(name: str) -> None:
    doc = ROOT / "docs" / f"{name}.md"
    assert doc.is_file(), f"docs/{name}.md is missing"
    assert f"docs/{name}.md" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_backend_runs_the_conformance_suite(name: str) -> None:
    test_dir = ROOT / "tests" / name
    assert test_dir.is_dir(), f"tests/{name}/ is missing"
    subclasses = []
    for file in test_dir.glob("test_*conformance*.py"):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        subclasses += [
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any(getattr(b, "id", "") == "ProviderConformance" for b in node.bases)
        ]
    assert subclasses, f"tests/{name}/ has no ProviderConformance subclass"
