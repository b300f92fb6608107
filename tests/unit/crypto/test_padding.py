"""Size buckets for envelopes and Padmé for attachments: sizes leak little, padding is checked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.crypto.errors import Malformed, TooLarge
from gateway.crypto.padding import (
    ENVELOPE_BUCKETS,
    KIB,
    MAX_ENVELOPE_PLAINTEXT,
    MIB,
    envelope_bucket,
    pad,
    padme,
    unpad,
)


def test_the_bucket_table_doubles_from_1_kib_to_1_mib_then_steps_by_1_mib_to_4_mib() -> None:
    assert ENVELOPE_BUCKETS == (
        1 * KIB, 2 * KIB, 4 * KIB, 8 * KIB, 16 * KIB, 32 * KIB, 64 * KIB, 128 * KIB,
        256 * KIB, 512 * KIB, 1 * MIB, 2 * MIB, 3 * MIB, 4 * MIB,
    )  # fmt: skip


@given(st.binary(max_size=70_000))
def test_padding_round_trips_and_lands_on_the_smallest_bucket_that_fits(data: bytes) -> None:
    padded = pad(data)
    assert len(padded) == min(b for b in ENVELOPE_BUCKETS if b >= len(data) + 4)
    assert unpad(padded) == data


@pytest.mark.parametrize(("length", "bucket"), [(0, 1024), (1020, 1024), (1021, 2048)])
def test_the_four_byte_length_prefix_counts_towards_the_bucket(length: int, bucket: int) -> None:
    assert envelope_bucket(length) == bucket


def test_a_one_line_tip_and_a_half_page_tip_pad_to_the_same_size() -> None:
    assert len(pad(b"x" * 20)) == len(pad(b"x" * 1000))


def test_padding_refuses_a_message_larger_than_the_largest_bucket() -> None:
    assert len(pad(bytes(MAX_ENVELOPE_PLAINTEXT))) == ENVELOPE_BUCKETS[-1]
    with pytest.raises(TooLarge):
        pad(bytes(MAX_ENVELOPE_PLAINTEXT + 1))


@pytest.mark.parametrize(
    ("padded", "complaint"),
    [
        (bytes(1000), "bucket sizes"),
        ((2000).to_bytes(4, "big") + bytes(1020), "more bytes than it holds"),
        ((5).to_bytes(4, "big") + b"hello" + b"\x01" + bytes(1014), "not all zero"),
        ((5).to_bytes(4, "big") + b"hello" + bytes(2048 - 9), "larger bucket"),
    ],
    ids=["not a bucket", "prefix too long", "non-zero padding", "needlessly large bucket"],
)
def test_unpadding_refuses_anything_pad_would_not_produce(padded: bytes, complaint: str) -> None:
    with pytest.raises(Malformed, match=complaint):
        unpad(padded)


@pytest.mark.parametrize(
    ("length", "padded"),
    [(0, 0), (1, 1), (9, 10), (100, 104), (1000, 1024), (65544, 67584), (1_000_000, 1_015_808)],
)
def test_padme_known_values(length: int, padded: int) -> None:
    assert padme(length) == padded


@given(st.integers(min_value=0, max_value=2**40))
def test_padme_never_shrinks_is_idempotent_and_costs_at_most_12_percent(length: int) -> None:
    padded = padme(length)
    assert length <= padded <= length * 1.12 + 1
    assert padme(padded) == padded


@given(st.integers(min_value=2, max_value=2**40), st.integers(min_value=2, max_value=2**40))
def test_padme_is_monotonic(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert padme(low) <= padme(high)
