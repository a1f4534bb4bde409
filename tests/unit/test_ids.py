"""TypeIDs: ``prefix_`` + 26 lowercase Crockford base32 characters of a UUIDv7."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from ctrlplane.errors import InvalidSpec
from ctrlplane.ids import INSTANCE_PREFIX, RELEASE_PREFIX, is_id, new_id, parse_id, uuid_of

GO_ID = "inst_01h455vb4pex5vsknk084sn02q"
SUFFIX = re.compile(r"^[0-7][0-9abcdefghjkmnpqrstvwxyz]{25}$")


def test_new_id_format() -> None:
    for prefix in (INSTANCE_PREFIX, RELEASE_PREFIX, "tenant_group"):
        value = new_id(prefix)
        head, _, suffix = value.rpartition("_")
        assert head == prefix
        assert SUFFIX.match(suffix), value
        assert parse_id(value, prefix) == value


def test_new_ids_are_unique() -> None:
    ids = [new_id("inst") for _ in range(5000)]
    assert len(set(ids)) == len(ids)


def test_new_ids_sort_in_mint_order() -> None:
    ids = [new_id("rel") for _ in range(2000)]  # many share a millisecond
    assert sorted(ids) == ids


def test_uuid_of_is_a_version_7_uuid_with_the_mint_time() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid_of(new_id("inst"))
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after


def test_go_generated_id_parses() -> None:
    assert parse_id(GO_ID) == GO_ID
    assert parse_id(GO_ID, prefix="inst") == GO_ID
    assert uuid_of(GO_ID) == uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")
    assert uuid_of(GO_ID).version == 7


@pytest.mark.parametrize(
    ("text", "prefix", "why"),
    [
        (GO_ID, "rel", "expected prefix 'rel'"),
        ("01h455vb4pex5vsknk084sn02q", None, "expected '<prefix>_"),
        ("Inst_01h455vb4pex5vsknk084sn02q", None, "prefix"),
        ("inst9_01h455vb4pex5vsknk084sn02q", None, "prefix"),
        ("_01h455vb4pex5vsknk084sn02q", None, "prefix"),
        ("inst_01h455vb4pex5vsknk084sn02", None, "26 characters, got 25"),
        ("inst_01h455vb4pex5vsknk084sn02qq", None, "26 characters, got 27"),
        ("inst_01h455vb4pex5vsknk084sn02u", None, "Crockford"),  # u is not in the alphabet
        ("inst_01h455vb4pex5vsknk084sn0il", None, "Crockford"),
        ("inst_01H455VB4PEX5VSKNK084SN02Q", None, "Crockford"),  # uppercase
        ("inst_81h455vb4pex5vsknk084sn02q", None, "overflows 128 bits"),
        ("inst_zzzzzzzzzzzzzzzzzzzzzzzzzz", None, "overflows"),
    ],
)
def test_parse_id_rejects(text: str, prefix: str | None, why: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(why)) as info:
        parse_id(text, prefix)
    assert info.value.subject == "ID"
    assert not is_id(text, prefix)


def test_largest_suffix_parses() -> None:
    top = "inst_7zzzzzzzzzzzzzzzzzzzzzzzzz"
    assert parse_id(top) == top
    assert uuid_of(top) == uuid.UUID(int=(1 << 128) - 1)


def test_new_id_refuses_bad_prefix() -> None:
    for prefix in ("", "Inst", "in-st", "_inst", "inst_", "a" * 64):
        with pytest.raises(InvalidSpec):
            new_id(prefix)
    assert new_id("a" * 63).startswith("a" * 63 + "_")


def test_is_id() -> None:
    assert is_id(GO_ID)
    assert is_id(GO_ID, "inst")
    assert not is_id(GO_ID, "rel")
    assert not is_id("inst_x")


def test_ids_minted_from_many_threads_are_unique() -> None:
    def mint(_: int) -> list[str]:
        return [new_id("inst") for _ in range(500)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(mint, range(8)))
    every = [i for batch in batches for i in batch]
    assert len(set(every)) == len(every)
    for batch in batches:  # each thread still sees its own IDs in mint order
        assert sorted(batch) == batch
