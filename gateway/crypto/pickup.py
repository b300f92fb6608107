"""Pickup codes: generation, normalisation and validation, and what a code derives.

A code is 27 uniformly random decimal digits (89.7 bits) plus one Damm check digit, shown as
seven groups of four. From it the reporter's client derives, with Argon2id, the `Locator` the
server knows the case by and the reporter's X25519 key pair, which never leaves the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.crypto.encoding import b64decode, b64encode
from gateway.crypto.errors import BadPickupCode, Malformed
from gateway.crypto.hashing import blake2b, blake2b_128
from gateway.crypto.kdf import V1_PARAMS, KdfParams, argon2id
from gateway.crypto.keys import PUBLIC_KEY_BYTES, X25519KeyPair
from gateway.crypto.randomness import RandomBytes, system_random

SECRET_DIGITS = 27
CODE_DIGITS = SECRET_DIGITS + 1
GROUP_SIZE = 4
LOCATOR_BYTES = 32
PEPPER_BYTES = 32
SALT_LABEL = b"tipline/pickup/v1"

# Pickup codes use the v1 Argon2id parameters; they are part of the protocol, not configuration.
PICKUP_KDF = V1_PARAMS

# Damm's table: a weakly totally anti-symmetric quasigroup of order 10. One check digit computed
# with it detects every single-digit error and every swap of two neighbouring digits.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

# The zero of every decimal digit block a phone keyboard may produce (each block is 0-9 in order):
# ASCII, Arabic-Indic, Extended Arabic-Indic (Persian, Urdu), Devanagari, Bengali, Gurmukhi,
# Gujarati, Oriya, Tamil, Telugu, Kannada, Malayalam, Thai, Lao, Tibetan, Myanmar, Khmer,
# Mongolian, full-width.
DIGIT_ZEROS = (
    0x0030, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66,
    0x0CE6, 0x0D66, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x17E0, 0x1810, 0xFF10,
)  # fmt: skip

# Characters people put between groups, all ignored: spaces (incl. no-break and ideographic),
# tab and newlines, hyphens and dashes of every width, the minus sign, dots and middle dots.
SEPARATORS = frozenset(
    " \t\r\n\u00a0\u2007\u202f\u3000"
    "-\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d"
    ".\u00b7\u30fb\uff0e"
)

_DIGIT_VALUES = {zero + value: value for zero in DIGIT_ZEROS for value in range(10)}

# Longer input is refused before looking at it character by character.
_MAX_INPUT_CHARS = 200


def damm_check_digit(digits: str) -> int:
    """The Damm check digit of a string of ASCII digits."""
    interim = 0
    for char in digits:
        interim = _DAMM[interim][ord(char) - 0x30]
    return interim


@dataclass(frozen=True, slots=True)
class PickupCode:
    """A valid pickup code: 28 ASCII digits, the last one the Damm check digit of the others.

    The digits are hidden from repr and str so that a code never lands in a log by accident;
    `display()` and `normalised` are the deliberate ways to get at it.
    """

    normalised: str = field(repr=False)

    def __post_init__(self) -> None:
        # Only the canonical 28 ASCII digits with a valid check digit make a PickupCode.
        if not isinstance(self.normalised, str) or normalise(self.normalised) != self.normalised:
            raise BadPickupCode("a pickup code is 28 digits without separators", reason="typo")

    def __str__(self) -> str:
        return "PickupCode(<hidden>)"

    @classmethod
    def generate(cls, random_bytes: RandomBytes = system_random) -> PickupCode:
        """A fresh code; digits are drawn by rejection sampling so that each is exactly uniform."""
        digits: list[str] = []
        while len(digits) < SECRET_DIGITS:
            for byte in random_bytes(32):
                # 250 is the largest multiple of 10 in a byte: accepting only 0..249 avoids bias.
                if byte < 250 and len(digits) < SECRET_DIGITS:
                    digits.append(chr(0x30 + byte % 10))
        secret = "".join(digits)
        return cls(secret + str(damm_check_digit(secret)))

    @classmethod
    def parse(cls, text: str) -> PickupCode:
        """Normalise what a person typed and validate it, saying precisely what is wrong."""
        return cls(normalise(text))

    def display(self) -> str:
        """The code as shown to the reporter: seven groups of four digits joined by dashes."""
        return "-".join(
            self.normalised[i : i + GROUP_SIZE] for i in range(0, CODE_DIGITS, GROUP_SIZE)
        )


def normalise(text: str) -> str:
    """The code's 28 ASCII digits, or `BadPickupCode` saying why the input cannot be a code.

    Separators are dropped; digits of any script listed in DIGIT_ZEROS become ASCII digits.
    """
    if not isinstance(text, str) or not text.strip():
        raise BadPickupCode("please enter your pickup code", reason="empty")
    if len(text) > _MAX_INPUT_CHARS:
        raise BadPickupCode(
            f"that is too long for a pickup code, which has {CODE_DIGITS} digits",
            reason="too_long",
        )
    digits: list[str] = []
    for position, char in enumerate(text, start=1):
        if char in SEPARATORS:
            continue
        value = _DIGIT_VALUES.get(ord(char))
        if value is None:
            # The character itself is not echoed: it is part of a secret.
            raise BadPickupCode(
                f"character {position} is not a digit; a pickup code has only digits",
                reason="not_a_digit",
            )
        digits.append(chr(0x30 + value))
    if not digits:
        raise BadPickupCode("please enter your pickup code", reason="empty")
    if len(digits) < CODE_DIGITS:
        raise BadPickupCode(
            f"the code has {len(digits)} digits, a pickup code has {CODE_DIGITS}: "
            "a digit is missing",
            reason="too_short",
        )
    if len(digits) > CODE_DIGITS:
        raise BadPickupCode(
            f"the code has {len(digits)} digits, a pickup code has {CODE_DIGITS}: "
            "there is a digit too many",
            reason="too_long",
        )
    normalised = "".join(digits)
    if damm_check_digit(normalised) != 0:
        raise BadPickupCode(
            "this code has a typing error: a digit is wrong or two neighbouring digits are "
            "swapped; please compare it group by group",
            reason="typo",
        )
    return normalised


@dataclass(frozen=True, slots=True)
class Locator:
    """The 32 bytes the server finds a case by; sent as `Authorization: Locator <base64url>`."""

    value: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.value, bytes) or len(self.value) != LOCATOR_BYTES:
            raise Malformed(f"a locator is {LOCATOR_BYTES} bytes")

    def __str__(self) -> str:
        return "Locator(<hidden>)"

    def encoded(self) -> str:
        return b64encode(self.value)

    @classmethod
    def decode(cls, text: str) -> Locator:
        return cls(b64decode(text, what="locator", length=LOCATOR_BYTES))


@dataclass(frozen=True, slots=True)
class ReporterKeys:
    """What a pickup code derives: the case's locator and the reporter's X25519 key pair."""

    locator: Locator
    enc: X25519KeyPair


def pickup_salt(org_public_key: bytes) -> bytes:
    """BLAKE2b-128("tipline/pickup/v1" || org_pk): codes are bound to one organisation."""
    if len(org_public_key) != PUBLIC_KEY_BYTES:
        raise Malformed(f"the organisation key must be {PUBLIC_KEY_BYTES} bytes")
    return blake2b_128(SALT_LABEL + org_public_key)


def derive_seed(code: PickupCode, org_public_key: bytes, *, kdf: KdfParams = PICKUP_KDF) -> bytes:
    """The 64-byte Argon2id seed of a code. `kdf` exists for tests about other things only."""
    return argon2id(code.normalised.encode("ascii"), pickup_salt(org_public_key), kdf, size=64)


def derive_reporter_keys(
    code: PickupCode, org_public_key: bytes, *, kdf: KdfParams = PICKUP_KDF
) -> ReporterKeys:
    """Locator = seed[0:32]; reporter X25519 secret = seed[32:64]. Slow on purpose (Argon2id)."""
    seed = derive_seed(code, org_public_key, kdf=kdf)
    return ReporterKeys(
        locator=Locator(seed[:LOCATOR_BYTES]),
        enc=X25519KeyPair.from_secret(seed[LOCATOR_BYTES:]),
    )


def locator_lookup_key(locator: Locator, pepper: bytes) -> bytes:
    """What the server stores and indexes instead of the locator: BLAKE2b-256(locator, key=pepper).

    A database dump without the pepper does not let anyone confirm a guessed code.
    """
    if len(pepper) != PEPPER_BYTES:
        raise ValueError(f"the locator pepper must be {PEPPER_BYTES} bytes")
    return blake2b(locator.value, size=32, key=pepper)
