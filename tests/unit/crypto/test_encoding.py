"""Unpadded base64url and canonical JSON: one encoding per value, and strict refusal of the rest."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.crypto.encoding import (
    MAX_SAFE_INTEGER,
    JsonValue,
    b64decode,
    b64encode,
    canonical_json,
    parse_canonical_json,
    parse_json,
)
from gateway.crypto.errors import Malformed, TooLarge

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.text()
)
ascii_keys = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ascii_keys, inner, max_size=4),
    max_leaves=20,
)


@given(st.binary(max_size=200))
def test_base64url_round_trips_every_byte_string(data: bytes) -> None:
    text = b64encode(data)
    assert "=" not in text
    assert b64decode(text, what="data") == data


@pytest.mark.parametrize(
    "text",
    ["AA==", "AA=", "+/8", "ab+c", "a b", "A", "AB", "AAB", "é", "AA\n"],
    ids=["padding", "short padding", "standard alphabet", "plus", "space", "one char",
         "non-zero trailing bits", "non-zero trailing bits (3)", "non-ascii", "newline"],
)  # fmt: skip
def test_base64url_refuses_anything_but_the_one_canonical_spelling(text: str) -> None:
    with pytest.raises(Malformed):
        b64decode(text, what="data")


def test_base64url_enforces_an_exact_decoded_length() -> None:
    with pytest.raises(Malformed, match="exactly 32 bytes"):
        b64decode(b64encode(bytes(31)), what="key", length=32)
    assert b64decode(b64encode(bytes(32)), what="key", length=32) == bytes(32)


def test_base64url_refuses_oversized_input_before_decoding() -> None:
    with pytest.raises(TooLarge):
        b64decode("A" * 2000, what="blob", max_length=100)


def test_base64url_refuses_values_that_are_not_strings() -> None:
    with pytest.raises(Malformed):
        b64decode(12, what="key")


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [True, None], "c": {"y": "", "x": -1}}) == (
        b'{"a":[true,null],"b":1,"c":{"x":-1,"y":""}}'
    )


def test_canonical_json_writes_utf8_and_escapes_exactly_what_json_stringify_escapes() -> None:
    # JSON.stringify: \b \t \n \f \r, other controls as lower-case \u00xx; everything else raw.
    value = {"t": 'é☕𝄞\u2028\x7f"\\/\b\t\n\f\r\x01\x1f'}
    assert canonical_json(value) == (
        '{"t":"é☕𝄞\u2028\x7f\\"\\\\/\\b\\t\\n\\f\\r\\u0001\\u001f"}'.encode()
    )


@pytest.mark.parametrize(
    "value",
    [1.5, {"a": float("nan")}, MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, {"é": 1}, {1: 2},
     "\ud800", b"bytes", {"a": (1, 2)}],
    ids=["float", "nan", "too big", "too small", "non-ascii key", "int key", "lone surrogate",
         "bytes", "tuple"],
)  # fmt: skip
def test_canonical_json_refuses_values_without_a_portable_encoding(value: object) -> None:
    with pytest.raises(Malformed):
        canonical_json(value)  # type: ignore[arg-type]


@given(json_values)
def test_canonical_json_parses_back_to_the_same_value(value: JsonValue) -> None:
    encoded = canonical_json(value)
    assert parse_json(encoded, max_bytes=10_000_000, what="value") == value
    if isinstance(value, dict):
        assert parse_canonical_json(encoded, max_bytes=10_000_000, what="value") == value


@pytest.mark.parametrize(
    "text",
    ['{"a":1,"a":2}', '{"a":1.0}', '{"a":1e2}', '{"a":NaN}', '{"a":-Infinity}',
     '{"a":12345678901234567890}', '{"a":"\\udc00"}', "\ufeff{}", "{'a':1}", '{"a":1',
     "[" * 5000 + "]" * 5000, '{"a":"\x01"}'],
    ids=["duplicate key", "float", "exponent", "NaN", "Infinity", "huge integer",
         "lone surrogate escape", "byte order mark", "single quotes", "truncated",
         "deep nesting", "raw control character"],
)  # fmt: skip
def test_strict_parsing_refuses_json_that_could_be_read_two_ways(text: str) -> None:
    with pytest.raises(Malformed):
        parse_json(text.encode("utf-8"), max_bytes=100_000, what="input")


def test_strict_parsing_refuses_invalid_utf8_and_oversized_input() -> None:
    with pytest.raises(Malformed, match="UTF-8"):
        parse_json(b'{"a":"\xff"}', max_bytes=100, what="input")
    with pytest.raises(TooLarge):
        parse_json(b"[" + b"1," * 100 + b"1]", max_bytes=100, what="input")


@pytest.mark.parametrize(
    "text",
    ['{"b":1,"a":2}', '{"a": 1}', '{"a":1}\n', ' {"a":1}', '{"a":"\\u00e9"}'],
)
def test_canonical_parsing_refuses_every_other_spelling_of_the_same_object(text: str) -> None:
    assert isinstance(json.loads(text), dict)
    with pytest.raises(Malformed, match="not canonical"):
        parse_canonical_json(text.encode(), max_bytes=100, what="header")


def test_canonical_parsing_refuses_non_objects() -> None:
    with pytest.raises(Malformed, match="object"):
        parse_canonical_json(b"[1]", max_bytes=100, what="header")
