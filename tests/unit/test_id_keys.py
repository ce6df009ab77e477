"""Ids inside keys: ASCII-only keys (Stripe's Idempotency-Key) and size-bounded table sort keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.id_keys import (
    ASCII_PART_MAX,
    DIGEST_HEX_CHARS,
    TABLE_PART_MAX_BYTES,
    ascii_key_part,
    bounded_key_part,
    digest,
)
from shared.domain.stripe_plan import idempotency_key

# Every character an id may hold: printable Unicode, up to 256 of them.
ids = st.text(st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs")), min_size=1, max_size=256)
HOSTILE_IDS = [
    "inv_Ω_ünïcødé",
    "請求書-2025-03",
    "\u0641\u0627\u062a\u0648\u0631\u0629_\u0667",  # right-to-left, an Arabic-Indic digit
    "inv_😀🧾",
    "e\u0301\u0301\u0301",  # combining marks
    "inv 7f3a",  # a space
    "inv:v1:create_draft:a1",  # looks like the key's own structure
    "inv~" + "0" * 32,  # looks like a digested part
    "😀" * 256,  # 1024 bytes
    "x" * 256,
]


def is_header_safe(text: str) -> bool:
    return all(" " <= character <= "~" for character in text)


@pytest.mark.parametrize("invoice_id", HOSTILE_IDS)
def test_every_idempotency_key_is_printable_ascii_and_fits_stripes_255(invoice_id: str) -> None:
    for step in ("create_draft", "add_lines_1", f"item_{invoice_id}", f"item_credit:{invoice_id}"):
        key = idempotency_key(invoice_id, 2**53 - 1, step, 10**6)
        assert is_header_safe(key), key
        assert len(key) <= 255


def test_a_plain_id_stays_readable_and_others_keep_a_readable_prefix() -> None:
    assert idempotency_key("inv_7f3a", 7, "create_draft", 1) == "downbeat:inv_7f3a:v7:create_draft:a1"
    key = idempotency_key("inv_Ω_ünïcødé", 7, "finalize", 2)
    assert key == f"downbeat:inv__unicde~{digest('inv_Ω_ünïcødé')}:v7:finalize:a2"
    assert ascii_key_part("請求書") == f"~{digest('請求書')}"  # nothing readable in ASCII: the digest alone


def test_ids_that_mimic_the_key_structure_cannot_collide() -> None:
    # With raw ids, ("a:v1:item_b", v2, "item_c") and ("a", v1, "item_b:v2:item_c") gave one key.
    first = idempotency_key("a:v1:item_b", 2, "item_c", 1)
    second = idempotency_key("a", 1, "item_b:v2:item_c", 1)
    assert first != second
    digested = ascii_key_part("inv Ω")
    assert ascii_key_part(digested) != digested  # a part that looks digested is digested again


@given(st.lists(ids, min_size=2, max_size=2, unique=True))
def test_distinct_ids_give_distinct_ascii_parts_and_keys(pair: list[str]) -> None:
    first, second = pair
    assert ascii_key_part(first) != ascii_key_part(second)
    assert idempotency_key(first, 1, "create_draft", 1) != idempotency_key(second, 1, "create_draft", 1)


@given(ids)
def test_an_ascii_part_is_short_plain_ascii(text: str) -> None:
    part = ascii_key_part(text)
    assert is_header_safe(part)
    assert ":" not in part
    assert len(part) <= max(ASCII_PART_MAX, 40 + 1 + DIGEST_HEX_CHARS)
    assert (part == text) == ("~" not in part)


@given(ids)
def test_a_bounded_part_fits_two_to_a_sort_key(text: str) -> None:
    part = bounded_key_part(text)
    size = len(part.encode())
    assert 2 * size + 30 <= 1024  # `<customer>#<invoice>` or `<timestamp>#<id>` sort keys
    if len(text.encode()) <= TABLE_PART_MAX_BYTES:
        assert part == text
    else:
        assert size > TABLE_PART_MAX_BYTES  # never equal to a kept id
        assert part.endswith("~" + digest(text))
        assert text.startswith(part.rsplit("~", 1)[0])


@given(st.lists(ids, min_size=2, max_size=2, unique=True))
def test_distinct_ids_give_distinct_bounded_parts(pair: list[str]) -> None:
    assert bounded_key_part(pair[0]) != bounded_key_part(pair[1])


def test_a_digest_is_stable() -> None:
    assert digest("inv_Ω") == digest("inv_Ω")
    assert len(digest("inv_Ω")) == DIGEST_HEX_CHARS
    assert digest("\ud800") != digest("\ud801")  # even a lone surrogate hashes, without raising
