"""Argon2id, the one password-hashing function of protocol v1, with its parameters as a value.

Used for pickup codes (fixed parameters per protocol version) and for investigator passphrases
(parameters travel with the key bundle and the prelogin answer, above a floor).
"""

from __future__ import annotations

from dataclasses import dataclass

import nacl.bindings

from gateway.crypto.encoding import JsonObject, JsonValue
from gateway.crypto.errors import Malformed, WeakKdfParameters
from gateway.crypto.shape import read_int, read_object, read_str

SALT_BYTES = 16
ALGORITHM = "argon2id13"
MIB = 1024 * 1024

# Bounds a peer may ask for: below the floor is a downgrade, above this is a memory bomb.
_MAX_OPSLIMIT = 20
_MAX_MEMLIMIT = 1024 * MIB


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost parameters, in libsodium's units (passes, bytes of memory)."""

    opslimit: int
    memlimit: int

    def __post_init__(self) -> None:
        if not 1 <= self.opslimit <= _MAX_OPSLIMIT:
            raise Malformed(f"Argon2id opslimit must be 1 to {_MAX_OPSLIMIT}")
        if not 8192 <= self.memlimit <= _MAX_MEMLIMIT or self.memlimit % 1024:
            raise Malformed("Argon2id memlimit must be whole KiB from 8 KiB to 1 GiB")

    def at_least(self, floor: KdfParams) -> KdfParams:
        """Self, unless it is cheaper than `floor` in either dimension."""
        if self.opslimit < floor.opslimit or self.memlimit < floor.memlimit:
            raise WeakKdfParameters(
                f"Argon2id parameters ({self.opslimit} passes, {self.memlimit // 1024} KiB) are "
                f"below the floor ({floor.opslimit} passes, {floor.memlimit // 1024} KiB)"
            )
        return self

    def to_json(self) -> JsonObject:
        return {"alg": ALGORITHM, "opslimit": self.opslimit, "memlimit": self.memlimit}

    @classmethod
    def from_json(cls, value: JsonValue, *, what: str = "kdf") -> KdfParams:
        obj = read_object(value, what=what, required={"alg", "opslimit", "memlimit"})
        read_str(obj, "alg", what=what, max_length=16, allowed={ALGORITHM})
        return cls(
            opslimit=read_int(obj, "opslimit", what=what, minimum=1, maximum=_MAX_OPSLIMIT),
            memlimit=read_int(obj, "memlimit", what=what, minimum=8192, maximum=_MAX_MEMLIMIT),
        )


# v1 parameters, about 90-120 ms in PyNaCl and 475 ms in headless Chromium on 2 cores.
V1_PARAMS = KdfParams(opslimit=3, memlimit=64 * MIB)


def argon2id(password: bytes, salt: bytes, params: KdfParams, *, size: int) -> bytes:
    """Argon2id v1.3 (libsodium `crypto_pwhash` with ALG_ARGON2ID13)."""
    if len(salt) != SALT_BYTES:
        raise Malformed(f"an Argon2id salt must be {SALT_BYTES} bytes")
    return nacl.bindings.crypto_pwhash_alg(
        size,
        password,
        salt,
        params.opslimit,
        params.memlimit,
        nacl.bindings.crypto_pwhash_ALG_ARGON2ID13,
    )
