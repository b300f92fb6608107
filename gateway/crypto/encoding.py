"""The byte encodings every protocol v1 structure uses: unpadded base64url and canonical JSON.

Canonical JSON is the exact byte string that `JSON.stringify` produces in a browser for the same
value with keys inserted in sorted order, so signatures and associated data agree byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TypeAlias

from gateway.crypto.errors import Malformed, TooLarge

JsonValue: TypeAlias = "bool | int | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = "dict[str, JsonValue]"

# Integers outside this range do not survive a round trip through a JavaScript number.
MAX_SAFE_INTEGER = 2**53 - 1

_BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD_ALPHABET = bytes.maketrans(b"-_", b"+/")
_SIXTET = {character: value for value, character in enumerate(_BASE64URL_ALPHABET)}
# The bits of the last character that encode nothing, by the length modulo 4.
_UNUSED_TAIL_BITS = {2: 0x0F, 3: 0x03}
# A JSON escape that decodes to a UTF-16 surrogate; only these can make a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def b64encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 section 5, no '=')."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(
    text: object,
    *,
    what: str,
    length: int | None = None,
    max_length: int | None = None,
) -> bytes:
    """Decode strict unpadded base64url; refuse padding, other alphabets and non-canonical tails.

    `length` demands an exact decoded length, `max_length` an upper bound checked before decoding.
    """
    if not isinstance(text, str):
        raise Malformed(f"{what} must be a base64url string")
    if max_length is not None and len(text) > _encoded_length(max_length):
        raise TooLarge(f"{what} is longer than {max_length} bytes")
    if length is not None and len(text) != _encoded_length(length):
        raise Malformed(f"{what} must encode exactly {length} bytes")
    # The standard alphabet's "+" and "/" and any padding are refused here; the strict C
    # decoder refuses every other character (this runs ~20 times per tip, so no regex).
    tail = len(text) % 4
    if tail == 1 or "+" in text or "/" in text or "=" in text:
        raise Malformed(f"{what} is not unpadded base64url")
    try:
        standard = text.encode("ascii").translate(_TO_STANDARD_ALPHABET)
        data = binascii.a2b_base64(standard + b"=" * (-tail % 4), strict_mode=True)
    except (binascii.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise Malformed(f"{what} is not unpadded base64url") from exc
    # Unused trailing bits must be zero, so that every byte string has exactly one encoding.
    if tail and _SIXTET[text[-1]] & _UNUSED_TAIL_BITS[tail]:
        raise Malformed(f"{what} is not canonical base64url")
    return data


def _encoded_length(byte_length: int) -> int:
    return (byte_length * 4 + 2) // 3


def canonical_json(value: JsonValue) -> bytes:
    """Encode as canonical JSON: sorted ASCII keys, no whitespace, UTF-8, integers and strings only.

    Refuses floats, integers beyond 2**53-1, non-ASCII object keys (so that code-point and
    UTF-16 key order agree) and strings that are not valid Unicode (lone surrogates).
    """
    _check_encodable(value, depth=0)
    return _dumps_canonical(value)


def _dumps_canonical(value: JsonValue) -> bytes:
    """The canonical bytes of a value already known to be encodable."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Malformed("text contains a lone surrogate, which is not valid Unicode") from exc


_MAX_DEPTH = 32


def _check_encodable(value: object, *, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise Malformed("JSON nesting is too deep")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise Malformed("integer outside the range JSON numbers keep exactly")
        return
    if isinstance(value, list):
        for item in value:
            _check_encodable(item, depth=depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise Malformed("JSON object keys must be ASCII strings")
            _check_encodable(item, depth=depth + 1)
        return
    raise Malformed(f"{type(value).__name__} has no canonical JSON form")


def parse_json(data: bytes | str, *, max_bytes: int, what: str) -> JsonValue:
    """Parse strict JSON: UTF-8, no duplicate keys, no floats, NaN or Infinity, bounded size."""
    if isinstance(data, str):
        if len(data) > max_bytes:
            raise TooLarge(f"{what} is larger than {max_bytes} bytes")
        text = data
    else:
        if len(data) > max_bytes:
            raise TooLarge(f"{what} is larger than {max_bytes} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Malformed(f"{what} is not UTF-8") from exc
    try:
        value: JsonValue = json.loads(
            text,
            object_pairs_hook=_refuse_duplicate_keys,
            parse_float=_refuse_float,
            parse_constant=_refuse_constant,
            parse_int=_parse_safe_int,
        )
    except Malformed:
        raise
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"{what} is not valid JSON") from exc
    _check_encodable(value, depth=0)
    # Text decoded from UTF-8 holds no surrogates, so only an escape can make one; text
    # handed in as `str` may hold them as they are.
    if isinstance(data, str) or _SURROGATE_ESCAPE.search(text) is not None:
        _check_unicode(value)
    return value


def parse_canonical_json(data: bytes, *, max_bytes: int, what: str) -> JsonObject:
    """Parse a JSON object and insist the bytes are its canonical encoding (one form per value)."""
    value = parse_json(data, max_bytes=max_bytes, what=what)
    if not isinstance(value, dict):
        raise Malformed(f"{what} must be a JSON object")
    if _dumps_canonical(value) != data:  # parse_json checked it is encodable
        raise Malformed(f"{what} is not canonical JSON")
    return value


def _refuse_duplicate_keys(pairs: list[tuple[str, JsonValue]]) -> JsonObject:
    result: JsonObject = {}
    for key, value in pairs:
        if key in result:
            raise Malformed("JSON object has a duplicate key")
        result[key] = value
    return result


def _refuse_float(_text: str) -> JsonValue:
    raise Malformed("JSON numbers must be integers")


def _refuse_constant(_text: str) -> JsonValue:
    raise Malformed("NaN and Infinity are not JSON")


def _parse_safe_int(text: str) -> int:
    # Bound the digits first: converting a huge digit string is itself a denial of service.
    if len(text.lstrip("-")) > 16:
        raise Malformed("integer outside the range JSON numbers keep exactly")
    return int(text)


def _check_unicode(value: JsonValue) -> None:
    # json.loads turns "\ud800" escapes into lone surrogates; they cannot be re-encoded.
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Malformed("JSON text contains a lone surrogate") from exc
    elif isinstance(value, list):
        for item in value:
            _check_unicode(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_unicode(key)
            _check_unicode(item)
