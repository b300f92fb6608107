"""Sealing at rest: the server's secrets open only with the same key, purpose and owner."""

from __future__ import annotations

import pytest

from gateway.crypto.errors import DecryptionFailed, Malformed
from gateway.crypto.sealing import open_at_rest, seal_at_rest

KEY = bytes(range(32))


def test_a_sealed_secret_opens_with_the_same_key_purpose_and_owner() -> None:
    sealed = seal_at_rest(KEY, b"totp secret", purpose=b"totp", owner=b"alice")
    assert b"totp secret" not in sealed
    assert open_at_rest(KEY, sealed, purpose=b"totp", owner=b"alice") == b"totp secret"


def test_sealing_twice_gives_different_bytes() -> None:
    first = seal_at_rest(KEY, b"x", purpose=b"totp", owner=b"alice")
    assert first != seal_at_rest(KEY, b"x", purpose=b"totp", owner=b"alice")


@pytest.mark.parametrize(
    ("key", "purpose", "owner"),
    [(bytes(32), b"totp", b"alice"), (KEY, b"other", b"alice"), (KEY, b"totp", b"bob")],
    ids=["another key", "another purpose", "another owner (a row copied elsewhere)"],
)
def test_it_does_not_open_in_another_context(key: bytes, purpose: bytes, owner: bytes) -> None:
    sealed = seal_at_rest(KEY, b"secret", purpose=b"totp", owner=b"alice")
    with pytest.raises(DecryptionFailed):
        open_at_rest(key, sealed, purpose=purpose, owner=owner)


def test_a_flipped_bit_is_detected() -> None:
    sealed = bytearray(seal_at_rest(KEY, b"secret", purpose=b"totp", owner=b"alice"))
    sealed[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        open_at_rest(KEY, bytes(sealed), purpose=b"totp", owner=b"alice")


@pytest.mark.parametrize("sealed", [b"", b"\x01" + bytes(30), b"\x02" + bytes(60)])
def test_truncated_or_unknown_versions_are_malformed(sealed: bytes) -> None:
    with pytest.raises(Malformed):
        open_at_rest(KEY, sealed, purpose=b"totp", owner=b"alice")
