"""Server-side keys derived from the configured root secrets, one per purpose.

Deriving separate keys means that a key exposed by one mechanism (say, the proof-of-work
MAC key through a timing bug) reveals nothing about another (the locator pepper).
"""

from __future__ import annotations

from gateway.crypto.hashing import blake2b

SUBKEY_BYTES = 32


def derive_subkey(root: bytes, purpose: str) -> bytes:
    """A 32-byte key for one named purpose, from a root secret of at least 32 bytes."""
    if len(root) < SUBKEY_BYTES:
        raise ValueError("root secrets are at least 32 bytes")
    return blake2b(
        b"tipline/v1/subkey/" + purpose.encode("ascii"), size=SUBKEY_BYTES, key=root[:64]
    )
