"""BLAKE2b as the protocol uses it, and the injective length-prefixed encoding fed to it.

hashlib's BLAKE2b is the same function as libsodium's `crypto_generichash` (and libsodium.js's)
for the same output length and key, so browsers reproduce every digest with one call.
"""

from __future__ import annotations

import hashlib
import hmac


def blake2b(data: bytes, *, size: int, key: bytes = b"", person: bytes = b"") -> bytes:
    """BLAKE2b with a `size`-byte output (16..64), an optional key (16..64 bytes) and an optional
    personalisation (up to 16 bytes; only for server-side keyed hashes that browsers never make).
    """
    if not 16 <= size <= 64:
        raise ValueError("BLAKE2b output must be 16 to 64 bytes in this protocol")
    if key and not 16 <= len(key) <= 64:
        raise ValueError("a BLAKE2b key must be 16 to 64 bytes")
    return hashlib.blake2b(data, digest_size=size, key=key, person=person).digest()


def blake2b_128(data: bytes) -> bytes:
    return blake2b(data, size=16)


def blake2b_256(data: bytes, *, key: bytes = b"") -> bytes:
    return blake2b(data, size=32, key=key)


def length_prefixed(*parts: bytes) -> bytes:
    """Concatenate parts, each preceded by its length as 8 bytes big-endian.

    Unlike plain concatenation this is injective: no two different part lists give the same bytes,
    so a hash over it commits to every boundary.
    """
    return b"".join(len(part).to_bytes(8, "big") + part for part in parts)


def equal(a: bytes, b: bytes) -> bool:
    """Compare secrets or MACs in time independent of where they differ."""
    return hmac.compare_digest(a, b)
