"""Strict readers that take parsed JSON apart: exact field sets, exact types, bounded sizes.

Every protocol structure is read through these so that an unexpected field, a wrong type or a
string out of bounds is refused with one `Malformed` error that names the field.
"""

from __future__ import annotations

from collections.abc import Set

from gateway.crypto.encoding import MAX_SAFE_INTEGER, JsonObject, JsonValue, b64decode
from gateway.crypto.errors import Malformed, UnsupportedVersion


def read_object(
    value: JsonValue,
    *,
    what: str,
    required: Set[str],
    optional: Set[str] = frozenset(),
) -> JsonObject:
    """The value as an object whose keys are exactly `required` plus any of `optional`."""
    if not isinstance(value, dict):
        raise Malformed(f"{what} must be a JSON object")
    keys = value.keys()
    missing = required - keys
    if missing:
        raise Malformed(f"{what} lacks {', '.join(sorted(missing))}")
    unknown = keys - required - optional
    if unknown:
        raise Malformed(f"{what} has unknown fields {', '.join(sorted(unknown))}")
    return value


def read_version(obj: JsonObject, *, what: str, supported: int = 1) -> int:
    """`obj["v"]`, refused with `UnsupportedVersion` unless it is the version we speak."""
    version = obj.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise Malformed(f"{what}.v must be an integer")
    if version != supported:
        raise UnsupportedVersion(f"{what} has version {version}; this client speaks {supported}")
    return version


def read_int(
    obj: JsonObject, key: str, *, what: str, minimum: int = 0, maximum: int = MAX_SAFE_INTEGER
) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Malformed(f"{what}.{key} must be an integer")
    if not minimum <= value <= maximum:
        raise Malformed(f"{what}.{key} must be between {minimum} and {maximum}")
    return value


def read_str(
    obj: JsonObject,
    key: str,
    *,
    what: str,
    min_length: int = 0,
    max_length: int,
    allowed: Set[str] | None = None,
) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise Malformed(f"{what}.{key} must be a string")
    if not min_length <= len(value) <= max_length:
        raise Malformed(f"{what}.{key} must have {min_length} to {max_length} characters")
    if allowed is not None and value not in allowed:
        raise Malformed(f"{what}.{key} must be one of {', '.join(sorted(allowed))}")
    return value


def read_bytes(
    obj: JsonObject,
    key: str,
    *,
    what: str,
    length: int | None = None,
    max_length: int | None = None,
) -> bytes:
    return b64decode(obj.get(key), what=f"{what}.{key}", length=length, max_length=max_length)


def read_list(obj: JsonObject, key: str, *, what: str, max_items: int) -> list[JsonValue]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise Malformed(f"{what}.{key} must be a list")
    if len(value) > max_items:
        raise Malformed(f"{what}.{key} has more than {max_items} items")
    return value


def has_control_characters(text: str) -> bool:
    """True when text holds C0/C1 control characters, which no name or label needs."""
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in text)
