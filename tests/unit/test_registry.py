"""The provider registry: names, defaults, conflicts, threads and lazy entry-point discovery."""

from __future__ import annotations

import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctrlplane.errors import CtrlplaneError, MissingExtra, ProviderConflict, ProviderNotFound
from ctrlplane.provider import ENTRY_POINT_GROUP, Provider, Registry

MakeProvider = Callable[..., Provider]


def test_register_get_and_sorted_list(make_provider: MakeProvider) -> None:
    reg = Registry()
    nomad, docker, k8s = (make_provider(n) for n in ("nomad", "docker", "kubernetes"))
    reg.register("nomad", nomad)
    reg.register("docker", docker)
    reg.register("kubernetes", k8s)
    assert reg.get("docker") is docker
    assert reg.get("nomad") is nomad
    assert reg.list() == ["docker", "kubernetes", "nomad"]
    assert len(reg) == 3
    assert "docker" in reg
    assert "podman" not in reg


def test_get_unknown_raises_provider_not_found(make_provider: MakeProvider) -> None:
    reg = Registry()
    reg.register("docker", make_provider("docker"))
    with pytest.raises(ProviderNotFound) as info:
        reg.get("podman")
    assert isinstance(info.value, KeyError)
    assert "ctrlplane: provider not registered" in str(info.value)
    assert "'podman'" in str(info.value)
    assert "docker" in str(info.value)  # says what is registered


def test_all_is_a_snapshot(make_provider: MakeProvider) -> None:
    reg = Registry()
    a, b = make_provider("a"), make_provider("b")
    reg.register("a", a)
    snapshot = reg.all()
    assert snapshot == {"a": a}
    snapshot["b"] = b  # changing the snapshot does not change the registry
    reg.register("c", make_provider("c"))
    assert reg.list() == ["a", "c"]
    assert set(snapshot) == {"a", "b"}


def test_default_explicit_and_single_provider_fallback(make_provider: MakeProvider) -> None:
    reg = Registry()
    with pytest.raises(ProviderNotFound):
        reg.default()
    docker = make_provider("docker")
    reg.register("docker", docker)
    assert reg.default() is docker  # the only one
    nomad = make_provider("nomad")
    reg.register("nomad", nomad)
    with pytest.raises(ProviderNotFound):
        reg.default()  # two and none chosen
    reg.set_default("nomad")
    assert reg.default() is nomad
    assert reg.default_name == "nomad"


def test_set_default_of_unknown_name(make_provider: MakeProvider) -> None:
    reg = Registry()
    reg.register("docker", make_provider("docker"))
    with pytest.raises(ProviderNotFound, match="ctrlplane: provider not registered"):
        reg.set_default("nomad")
    assert reg.default_name is None


def test_unregister_clears_the_default(make_provider: MakeProvider) -> None:
    reg = Registry()
    reg.register("a", make_provider("a"))
    reg.register("b", make_provider("b"))
    reg.set_default("a")
    reg.unregister("a")
    reg.unregister("a")  # idempotent
    assert reg.default_name is None
    assert reg.list() == ["b"]


def test_conflict_unless_replace(make_provider: MakeProvider) -> None:
    reg = Registry()
    first, second = make_provider("docker"), make_provider("docker")
    reg.register("docker", first)
    reg.register("docker", first)  # the same object again is fine
    with pytest.raises(ProviderConflict, match="replace=True") as info:
        reg.register("docker", second)
    assert isinstance(info.value, ValueError)
    assert reg.get("docker") is first
    reg.register("docker", second, replace=True)
    assert reg.get("docker") is second


def test_non_providers_and_bad_names_are_refused(make_provider: MakeProvider) -> None:
    reg = Registry()
    with pytest.raises(TypeError, match="Provider protocol"):
        reg.register("thing", object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        reg.register("", make_provider("x"))
    assert reg.list() == []


# --- threads --------------------------------------------------------------------------------


def test_concurrent_register_and_get(make_provider: MakeProvider) -> None:
    reg = Registry()
    threads, per_thread = 16, 50

    def work(t: int) -> list[tuple[str, Provider, Provider]]:
        seen = []
        for k in range(per_thread):
            name = f"p{t:02d}-{k:03d}"
            p = make_provider(name)
            reg.register(name, p)
            seen.append((name, p, reg.get(name)))
            reg.list()
            reg.all()
        return seen

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = [r for rs in pool.map(work, range(threads)) for r in rs]
    assert all(p is got for _, p, got in results)
    expected = sorted(name for name, _, _ in results)
    assert reg.list() == expected
    assert len(reg) == threads * per_thread
    assert {name: p for name, p, _ in results} == reg.all()


def test_concurrent_registration_of_one_name_has_one_winner(make_provider: MakeProvider) -> None:
    reg = Registry()
    contenders = [make_provider(f"c{k}") for k in range(24)]
    barrier = threading.Barrier(len(contenders))

    def attempt(p: Provider) -> bool:
        barrier.wait()
        try:
            reg.register("shared", p)
        except ProviderConflict:
            return False
        return True

    with ThreadPoolExecutor(max_workers=len(contenders)) as pool:
        won = list(pool.map(attempt, contenders))
    assert won.count(True) == 1
    assert reg.get("shared") is contenders[won.index(True)]


# --- entry-point discovery ------------------------------------------------------------------

PLUGIN_SOURCE = """
import threading
import time

BUILDS = []
_lock = threading.Lock()


class AcmeProvider:
    def __init__(self):
        time.sleep(0.01)  # widen the window for concurrent first use
        with _lock:
            BUILDS.append(self)

    def info(self):
        from ctrlplane.provider import ProviderInfo
        return ProviderInfo(name="acme")

    def capabilities(self):
        return []

    async def provision(self, req): raise NotImplementedError
    async def deprovision(self, instance_id): raise NotImplementedError
    async def start(self, instance_id): raise NotImplementedError
    async def stop(self, instance_id): raise NotImplementedError
    async def restart(self, instance_id): raise NotImplementedError
    async def status(self, instance_id): raise NotImplementedError
    async def deploy(self, req): raise NotImplementedError
    async def rollback(self, instance_id, release_id): raise NotImplementedError
    async def scale(self, instance_id, spec): raise NotImplementedError
    async def resources(self, instance_id): raise NotImplementedError
    def logs(self, instance_id, opts=None): raise NotImplementedError
    async def exec(self, instance_id, req): raise NotImplementedError


def not_a_provider():
    return object()


def crash():
    raise RuntimeError("cannot reach the acme API")
"""


@dataclass
class Plugin:
    module: str
    missing: str
    names: tuple[str, ...] = ("acme-ok", "acme-missing", "acme-weird", "acme-crash")


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Plugin]:
    """A third-party distribution on sys.path declaring providers in the entry-point group."""
    tag = uuid.uuid4().hex[:10]
    found = Plugin(module=f"acme_cp_{tag}", missing=f"acme_cp_absent_{tag}")
    (tmp_path / f"{found.module}.py").write_text(PLUGIN_SOURCE, encoding="utf-8")
    dist = tmp_path / f"acme_ctrlplane_{tag}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: acme-ctrlplane-{tag}\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""\
            [{ENTRY_POINT_GROUP}]
            acme-ok = {found.module}:AcmeProvider
            acme-missing = {found.missing}:Factory
            acme-weird = {found.module}:not_a_provider
            acme-crash = {found.module}:crash
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield found
    sys.modules.pop(found.module, None)


def test_entry_point_group_name() -> None:
    assert ENTRY_POINT_GROUP == "ctrlplane.providers"


def test_discovered_names_are_listed_before_loading(plugin: Plugin) -> None:
    reg = Registry(discover=True)
    assert set(plugin.names) <= set(reg.list())
    assert reg.list() == sorted(reg.list())
    assert "acme-ok" in reg
    assert plugin.module not in sys.modules  # nothing imported yet
    provider = reg.get("acme-ok")
    assert plugin.module in sys.modules
    assert isinstance(provider, Provider)
    assert provider.info().name == "acme"
    assert reg.get("acme-ok") is provider  # built once, then kept
    assert len(sys.modules[plugin.module].BUILDS) == 1


def test_discovery_is_off_by_default(plugin: Plugin) -> None:
    reg = Registry()
    assert reg.list() == []
    with pytest.raises(ProviderNotFound):
        reg.get("acme-ok")


def test_missing_module_raises_missing_extra_naming_pip(plugin: Plugin) -> None:
    reg = Registry(discover=True)
    with pytest.raises(MissingExtra) as info:
        reg.get("acme-missing")
    assert "pip install" in str(info.value)
    assert plugin.missing in str(info.value)
    assert isinstance(info.value, ImportError)
    # A third party's provider is fixed by installing its own distribution, not an extra.
    assert "pip install --upgrade acme-ctrlplane-" in str(info.value)
    assert "ctrlplane[" not in str(info.value)


def test_factory_returning_a_non_provider_is_refused(plugin: Plugin) -> None:
    reg = Registry(discover=True)
    with pytest.raises(CtrlplaneError, match="did not return a Provider"):
        reg.get("acme-weird")
    with pytest.raises(CtrlplaneError, match="cannot reach the acme API") as info:
        reg.get("acme-crash")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "acme-ok" in reg  # the failures did not disturb the others


def test_explicit_registration_wins_over_discovery(
    plugin: Plugin, make_provider: MakeProvider
) -> None:
    reg = Registry(discover=True)
    mine = make_provider("mine")
    reg.register("acme-ok", mine)
    assert reg.get("acme-ok") is mine
    assert plugin.module not in sys.modules


def test_set_default_to_a_discovered_name_loads_lazily(plugin: Plugin) -> None:
    reg = Registry(discover=True)
    reg.set_default("acme-ok")
    assert plugin.module not in sys.modules
    assert reg.default().info().name == "acme"


def test_concurrent_first_use_builds_one_provider(plugin: Plugin) -> None:
    reg = Registry(discover=True)
    barrier = threading.Barrier(16)

    def first_use(_: int) -> Provider:
        barrier.wait()
        return reg.get("acme-ok")

    with ThreadPoolExecutor(max_workers=16) as pool:
        got = list(pool.map(first_use, range(16)))
    assert all(p is got[0] for p in got)
    assert len(sys.modules[plugin.module].BUILDS) == 1
