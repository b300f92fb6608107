"""Server-side sealing at rest: small secrets the server must use again (TOTP secrets) are
stored only encrypted under a server key and bound to the row they belong to.

XChaCha20-Poly1305 with a random 24-byte nonce; the associated data names the purpose and the
owner, so a sealed value copied into another row (or used for another purpose) does not open.
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions

from gateway.crypto.errors import DecryptionFailed, Malformed
from gateway.crypto.hashing import length_prefixed
from gateway.crypto.randomness import RandomBytes, system_random

SEALING_KEY_BYTES = 32
NONCE_BYTES = 24
TAG_BYTES = 16
VERSION = 1
_LABEL = b"tipline/v1/sealed-at-rest"


def _associated_data(purpose: bytes, owner: bytes) -> bytes:
    return length_prefixed(_LABEL, purpose, owner)


def seal_at_rest(
    key: bytes,
    secret: bytes,
    *,
    purpose: bytes,
    owner: bytes,
    random_bytes: RandomBytes = system_random,
) -> bytes:
    """`version (1 byte) ‖ nonce ‖ ciphertext`, openable only with the same key, purpose, owner."""
    if len(key) != SEALING_KEY_BYTES:
        raise ValueError(f"a sealing key is {SEALING_KEY_BYTES} bytes")
    nonce = random_bytes(NONCE_BYTES)
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        secret, _associated_data(purpose, owner), nonce, key
    )
    return bytes([VERSION]) + nonce + ciphertext


def open_at_rest(key: bytes, sealed: bytes, *, purpose: bytes, owner: bytes) -> bytes:
    """The secret sealed by `seal_at_rest`; `DecryptionFailed` for a wrong key, purpose or owner."""
    if len(key) != SEALING_KEY_BYTES:
        raise ValueError(f"a sealing key is {SEALING_KEY_BYTES} bytes")
    if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES:
        raise Malformed("the sealed value is too short")
    if sealed[0] != VERSION:
        raise Malformed("unknown sealing version")
    nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            ciphertext, _associated_data(purpose, owner), nonce, key
        )
    except nacl.exceptions.CryptoError as exc:
        raise DecryptionFailed("the sealed value does not open with this key and owner") from exc
