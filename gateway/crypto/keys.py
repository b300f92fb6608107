"""Key pairs, key ids and human-checkable fingerprints.

A key id names a public key in headers and look-ups (BLAKE2b-128 of the key); a fingerprint is
what people compare by eye or pin in configuration (BLAKE2b-160 with a domain label, in hex groups).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import nacl.bindings
import nacl.exceptions

from gateway.crypto.errors import BadSignature, Malformed
from gateway.crypto.hashing import blake2b, blake2b_128, equal, length_prefixed
from gateway.crypto.randomness import RandomBytes, system_random

PUBLIC_KEY_BYTES = 32
SECRET_KEY_BYTES = 32
SIGNATURE_BYTES = 64
KEY_ID_BYTES = 16
FINGERPRINT_BYTES = 20

_FINGERPRINT_LABEL = b"tipline/v1/fingerprint"
_FINGERPRINT_SEPARATORS = re.compile(r"[\s:-]")
_HEX40 = re.compile(r"[0-9a-f]{40}")


def key_id(public_key: bytes) -> bytes:
    """The 16-byte id of a public key: BLAKE2b-128(public key)."""
    _require_length(public_key, PUBLIC_KEY_BYTES, "public key")
    return blake2b_128(public_key)


def fingerprint(public_key: bytes) -> str:
    """Ten groups of four hex digits, e.g. for pinning the organisation key in a CLI config.

    160 bits: finding a second key with the same fingerprint costs about 2**160 work.
    """
    _require_length(public_key, PUBLIC_KEY_BYTES, "public key")
    digest = blake2b(length_prefixed(_FINGERPRINT_LABEL, public_key), size=FINGERPRINT_BYTES)
    text = digest.hex()
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse_fingerprint(text: str) -> str:
    """Normalise a typed or pasted fingerprint (case, spaces, dashes, colons) to canonical form."""
    compact = _FINGERPRINT_SEPARATORS.sub("", text).lower()
    if _HEX40.fullmatch(compact) is None:
        raise Malformed("a fingerprint is 40 hexadecimal digits")
    return "-".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def fingerprint_matches(public_key: bytes, text: str) -> bool:
    """True when `text` (in any accepted spelling) is the fingerprint of `public_key`."""
    return equal(fingerprint(public_key).encode(), parse_fingerprint(text).encode())


@dataclass(frozen=True, slots=True)
class X25519KeyPair:
    """An encryption key pair; the secret is used as is (X25519 clamps it itself)."""

    secret: bytes = field(repr=False)
    public: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> X25519KeyPair:
        _require_length(secret, SECRET_KEY_BYTES, "X25519 secret key")
        return cls(secret=secret, public=nacl.bindings.crypto_scalarmult_base(secret))

    @classmethod
    def generate(cls, random_bytes: RandomBytes = system_random) -> X25519KeyPair:
        return cls.from_secret(random_bytes(SECRET_KEY_BYTES))

    @property
    def kid(self) -> bytes:
        return key_id(self.public)


@dataclass(frozen=True, slots=True)
class Ed25519KeyPair:
    """A signing key pair, kept as its 32-byte seed (the form libsodium.js also derives from)."""

    seed: bytes = field(repr=False)
    public: bytes
    _secret: bytes = field(repr=False, compare=False)

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519KeyPair:
        _require_length(seed, SECRET_KEY_BYTES, "Ed25519 seed")
        public, secret = nacl.bindings.crypto_sign_seed_keypair(seed)
        return cls(seed=seed, public=public, _secret=secret)

    @classmethod
    def generate(cls, random_bytes: RandomBytes = system_random) -> Ed25519KeyPair:
        return cls.from_seed(random_bytes(SECRET_KEY_BYTES))

    @property
    def kid(self) -> bytes:
        return key_id(self.public)

    def sign(self, message: bytes) -> bytes:
        """A detached 64-byte Ed25519 signature (deterministic, RFC 8032)."""
        return nacl.bindings.crypto_sign(message, self._secret)[:SIGNATURE_BYTES]


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise `BadSignature` unless `signature` is a valid Ed25519 signature of `message`."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        raise BadSignature("signature or public key has the wrong length")
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except nacl.exceptions.CryptoError as exc:
        raise BadSignature("signature does not verify") from exc


@dataclass(frozen=True, slots=True)
class InvestigatorKeys:
    """An investigator's two key pairs: X25519 to receive messages, Ed25519 to sign them."""

    enc: X25519KeyPair
    sig: Ed25519KeyPair

    @classmethod
    def generate(cls, random_bytes: RandomBytes = system_random) -> InvestigatorKeys:
        return cls(
            enc=X25519KeyPair.generate(random_bytes), sig=Ed25519KeyPair.generate(random_bytes)
        )


def _require_length(value: bytes, length: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != length:
        raise Malformed(f"{what} must be {length} bytes")
