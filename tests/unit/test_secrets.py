"""Secret resolvers: where each looks, in which order, and that values never print."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ctrlplane.errors import SecretNotFound
from ctrlplane.provider import SecretRef
from ctrlplane.secrets import (
    DirectoryResolver,
    EnvResolver,
    MappingResolver,
    SecretBytes,
    SecretResolver,
    env_var_name,
    vault_key,
)

TENANT = "ten_acme"
INST = "inst_01h455vb4pex5vsknk084sn02q"
DB = SecretRef(key="db/password")


def test_vault_key_format() -> None:
    assert vault_key(TENANT, INST, "db/password") == f"{TENANT}/{INST}/db/password"


def test_builtin_resolvers_satisfy_the_protocol(tmp_path: Path) -> None:
    for resolver in (MappingResolver({}), EnvResolver(environ={}), DirectoryResolver(tmp_path)):
        assert isinstance(resolver, SecretResolver)


async def test_mapping_resolver_prefers_the_vault_key() -> None:
    resolver = MappingResolver(
        {f"{TENANT}/{INST}/db/password": b"per-instance", "db/password": "shared"}
    )
    assert await resolver.resolve(DB, tenant_id=TENANT, instance_id=INST) == b"per-instance"
    # Another instance falls back to the bare key; str values become UTF-8 bytes.
    other = await resolver.resolve(DB, tenant_id=TENANT, instance_id="inst_other")
    assert other == b"shared"
    assert isinstance(other, SecretBytes)


async def test_mapping_resolver_missing_key_names_it() -> None:
    resolver = MappingResolver({"other": b"x"})
    with pytest.raises(SecretNotFound) as info:
        await resolver.resolve(DB, tenant_id=TENANT, instance_id=INST)
    assert info.value.key == "db/password"
    assert "'db/password'" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_mapping_resolver_repr_hides_values() -> None:
    text = repr(MappingResolver({"db/password": b"hunter2"}))
    assert "hunter2" not in text
    assert "1 secrets" in text


def test_env_var_name() -> None:
    assert env_var_name("CTRLPLANE_SECRET_", "db/password") == "CTRLPLANE_SECRET_DB_PASSWORD"
    assert env_var_name("P_", "api-token.v2") == "P_API_TOKEN_V2"


async def test_env_resolver_prefers_the_instance_variable() -> None:
    specific = env_var_name("CTRLPLANE_SECRET_", vault_key(TENANT, INST, "db/password"))
    environ = {specific: "per-instance", "CTRLPLANE_SECRET_DB_PASSWORD": "shared"}
    resolver = EnvResolver(environ=environ)
    assert await resolver.resolve(DB, tenant_id=TENANT, instance_id=INST) == b"per-instance"
    assert await resolver.resolve(DB, tenant_id=TENANT, instance_id="inst_b") == b"shared"


async def test_env_resolver_custom_prefix_and_missing() -> None:
    resolver = EnvResolver(prefix="APP_", environ={"APP_TOKEN": "t0k"})
    assert await resolver.resolve(SecretRef(key="token"), tenant_id="", instance_id="") == b"t0k"
    with pytest.raises(SecretNotFound) as info:
        await resolver.resolve(DB, tenant_id=TENANT, instance_id=INST)
    assert "'db/password'" in str(info.value)
    assert "$APP_DB_PASSWORD" in str(info.value)  # says where it looked


async def test_env_resolver_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTRLPLANE_SECRET_DB_PASSWORD", "from-os")
    value = await EnvResolver().resolve(DB, tenant_id=TENANT, instance_id=INST)
    assert value == b"from-os"


@pytest.fixture
def secret_dir(tmp_path: Path) -> Path:
    root = tmp_path / "secrets"
    (root / TENANT / INST / "db").mkdir(parents=True)
    (root / TENANT / INST / "db" / "password").write_bytes(b"per-instance\n")
    (root / "db").mkdir()
    (root / "db" / "password").write_bytes(b"shared")
    (root / "token").write_bytes(b"\x00\xffbinary")
    (tmp_path / "outside").write_bytes(b"must not be read")
    return root


async def test_directory_resolver_instance_path_then_root(secret_dir: Path) -> None:
    resolver = DirectoryResolver(secret_dir)
    got = await resolver.resolve(DB, tenant_id=TENANT, instance_id=INST)
    assert got == b"per-instance\n"  # bytes exactly as stored
    assert await resolver.resolve(DB, tenant_id=TENANT, instance_id="inst_b") == b"shared"
    token = SecretRef(key="token", type="file")
    assert await resolver.resolve(token, tenant_id="", instance_id="") == b"\x00\xffbinary"


async def test_directory_resolver_refuses_keys_escaping_the_root(secret_dir: Path) -> None:
    resolver = DirectoryResolver(secret_dir)
    for key in ("../outside", "db/../../outside", str(secret_dir.parent / "outside")):
        with pytest.raises(SecretNotFound, match="escapes the root"):
            await resolver.resolve(SecretRef(key=key), tenant_id="", instance_id="")


async def test_directory_resolver_missing_and_directories(secret_dir: Path) -> None:
    resolver = DirectoryResolver(secret_dir)
    with pytest.raises(SecretNotFound, match="'nope'"):
        await resolver.resolve(SecretRef(key="nope"), tenant_id=TENANT, instance_id=INST)
    with pytest.raises(SecretNotFound):
        await resolver.resolve(SecretRef(key="db"), tenant_id="", instance_id="")  # a directory


async def test_resolved_values_never_print(caplog: pytest.LogCaptureFixture) -> None:
    value = await MappingResolver({"db/password": "hunter2"}).resolve(
        DB, tenant_id=TENANT, instance_id=INST
    )
    assert value == b"hunter2"
    assert bytes(value) == b"hunter2"
    # Exactly what a careless log line or message does with a value:
    plain = f"{value}"  # type: ignore[str-bytes-safe]
    padded = f"{value:>30}"  # type: ignore[str-bytes-safe]
    for shown in (repr(value), str(value), plain, padded, f"{value!r}", format(value)):
        assert "hunter2" not in shown
    assert repr(value) == "<secret: 7 bytes>"
    logging.getLogger("test").warning("resolved %s / %r", value, value)
    assert "hunter2" not in caplog.text
    assert "hunter2" not in repr([value, {"k": value}])
