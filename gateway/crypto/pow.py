"""Proof of work for anonymous writes and look-ups: stateless BLAKE2b hashcash.

The server issues a challenge `{v, id, purpose, difficulty, expires}` authenticated with its own
key; the client finds an 8-byte nonce such that BLAKE2b-256(challenge bytes || nonce) starts
with `difficulty` zero bits. Verification needs only the key and the clock; keeping a challenge
single-use (remembering spent ids until they expire) is the broker's job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from gateway.crypto.encoding import (
    JsonObject,
    JsonValue,
    b64encode,
    canonical_json,
    parse_canonical_json,
    parse_json,
)
from gateway.crypto.errors import BadProofOfWork, CryptoError
from gateway.crypto.hashing import blake2b, equal
from gateway.crypto.randomness import RandomBytes, system_random
from gateway.crypto.shape import read_bytes, read_int, read_object, read_str, read_version

VERSION = 1
ID_BYTES = 16
NONCE_BYTES = 8
MAC_BYTES = 32
KEY_BYTES = 32
MAX_DIFFICULTY = 32
MAX_TOKEN_BYTES = 1024
PURPOSES = frozenset({"submit", "lookup", "reply"})

# Personalisation separates the challenge MAC from any other use of the same server key.
_MAC_PERSON = b"tipline/v1/pow"


@dataclass(frozen=True, slots=True)
class PowChallenge:
    """A challenge as issued: its exact bytes, their MAC, and the fields inside them."""

    challenge_bytes: bytes
    mac: bytes
    id: bytes
    purpose: str
    difficulty: int
    expires: int

    def to_json(self) -> JsonObject:
        """Wire form of GET /api/v1/pow: {challenge, mac}, plus difficulty and expires to read."""
        return {
            "challenge": b64encode(self.challenge_bytes),
            "mac": b64encode(self.mac),
            "difficulty": self.difficulty,
            "expires": self.expires,
        }


@dataclass(frozen=True, slots=True)
class PowSolution:
    challenge: PowChallenge
    nonce: bytes

    def to_json(self) -> JsonObject:
        """Wire form sent with the request: {challenge, mac, nonce}."""
        return {
            "challenge": b64encode(self.challenge.challenge_bytes),
            "mac": b64encode(self.challenge.mac),
            "nonce": b64encode(self.nonce),
        }


def _mac(key: bytes, challenge_bytes: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise ValueError(f"the proof-of-work key is {KEY_BYTES} bytes")
    return blake2b(challenge_bytes, size=MAC_BYTES, key=key, person=_MAC_PERSON)


def issue_challenge(
    key: bytes,
    *,
    purpose: str,
    difficulty: int,
    now: int,
    ttl: int = 300,
    random_bytes: RandomBytes = system_random,
) -> PowChallenge:
    """A fresh challenge valid until now + ttl seconds."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown proof-of-work purpose {purpose!r}")
    if not 0 <= difficulty <= MAX_DIFFICULTY:
        raise ValueError(f"difficulty is 0 to {MAX_DIFFICULTY} bits")
    challenge_id = random_bytes(ID_BYTES)
    expires = now + ttl
    challenge_bytes = canonical_json(
        {
            "v": VERSION,
            "id": b64encode(challenge_id),
            "purpose": purpose,
            "difficulty": difficulty,
            "expires": expires,
        }
    )
    return PowChallenge(
        challenge_bytes=challenge_bytes,
        mac=_mac(key, challenge_bytes),
        id=challenge_id,
        purpose=purpose,
        difficulty=difficulty,
        expires=expires,
    )


def _decode_challenge(challenge_bytes: bytes, mac: bytes) -> PowChallenge:
    what = "challenge"
    obj = parse_canonical_json(challenge_bytes, max_bytes=MAX_TOKEN_BYTES, what=what)
    read_object(obj, what=what, required={"v", "id", "purpose", "difficulty", "expires"})
    read_version(obj, what=what, supported=VERSION)
    return PowChallenge(
        challenge_bytes=challenge_bytes,
        mac=mac,
        id=read_bytes(obj, "id", what=what, length=ID_BYTES),
        purpose=read_str(obj, "purpose", what=what, max_length=16, allowed=PURPOSES),
        difficulty=read_int(obj, "difficulty", what=what, maximum=MAX_DIFFICULTY),
        expires=read_int(obj, "expires", what=what),
    )


def parse_challenge(data: bytes | str | JsonValue) -> PowChallenge:
    """The client's view of an issued challenge (it cannot check the MAC, and need not)."""
    what = "challenge"
    value = (
        parse_json(data, max_bytes=MAX_TOKEN_BYTES, what=what)
        if isinstance(data, bytes | str)
        else data
    )
    obj = read_object(
        value, what=what, required={"challenge", "mac"}, optional={"difficulty", "expires"}
    )
    challenge = _decode_challenge(
        read_bytes(obj, "challenge", what=what, max_length=MAX_TOKEN_BYTES),
        read_bytes(obj, "mac", what=what, length=MAC_BYTES),
    )
    # The readable copies are conveniences; the bytes inside the challenge are what count.
    if (
        obj.get("difficulty", challenge.difficulty) != challenge.difficulty
        or obj.get("expires", challenge.expires) != challenge.expires
    ):
        raise BadProofOfWork("challenge fields contradict each other", reason="malformed")
    return challenge


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def work_hash(challenge_bytes: bytes, nonce: bytes) -> bytes:
    """BLAKE2b-256(challenge bytes || nonce); the nonce is a fixed 8 bytes."""
    return hashlib.blake2b(challenge_bytes + nonce, digest_size=32).digest()


def solve(challenge: PowChallenge, *, start: int = 0) -> PowSolution:
    """Try nonces start, start+1, ... (as u64 big-endian) until one meets the difficulty.

    Expected work is 2**difficulty hashes; CPU-bound, so async callers run it in an executor.
    """
    prefix = hashlib.blake2b(challenge.challenge_bytes, digest_size=32)
    threshold = 1 << (256 - challenge.difficulty)
    counter = start
    while True:
        nonce = counter.to_bytes(NONCE_BYTES, "big")
        attempt = prefix.copy()
        attempt.update(nonce)
        if int.from_bytes(attempt.digest(), "big") < threshold:
            return PowSolution(challenge=challenge, nonce=nonce)
        counter += 1


def verify_solution(
    data: bytes | str | JsonValue,
    *,
    key: bytes,
    purpose: str,
    now: int,
    min_difficulty: int = 0,
) -> PowChallenge:
    """Check MAC, version, purpose, expiry, difficulty and work; return the challenge.

    The caller must then spend `challenge.id` in the broker until `challenge.expires`.
    """
    what = "proof of work"
    try:
        value = (
            parse_json(data, max_bytes=MAX_TOKEN_BYTES, what=what)
            if isinstance(data, bytes | str)
            else data
        )
        obj = read_object(value, what=what, required={"challenge", "mac", "nonce"})
        challenge_bytes = read_bytes(obj, "challenge", what=what, max_length=MAX_TOKEN_BYTES)
        mac = read_bytes(obj, "mac", what=what, length=MAC_BYTES)
        nonce = read_bytes(obj, "nonce", what=what, length=NONCE_BYTES)
    except CryptoError as exc:
        raise BadProofOfWork(exc.message, reason="malformed") from exc
    # The MAC is checked before the JSON inside is even parsed: unauthenticated bytes get no work.
    if not equal(_mac(key, challenge_bytes), mac):
        raise BadProofOfWork("this challenge was not issued by this server", reason="forged")
    try:
        challenge = _decode_challenge(challenge_bytes, mac)
    except CryptoError as exc:
        raise BadProofOfWork(exc.message, reason="malformed") from exc
    if challenge.purpose != purpose:
        raise BadProofOfWork(
            "this challenge was issued for another purpose", reason="wrong_purpose"
        )
    if now >= challenge.expires:
        raise BadProofOfWork("this challenge has expired; fetch a new one", reason="expired")
    if challenge.difficulty < min_difficulty:
        raise BadProofOfWork(
            "the required difficulty has risen; fetch a new one", reason="too_easy"
        )
    if leading_zero_bits(work_hash(challenge_bytes, nonce)) < challenge.difficulty:
        raise BadProofOfWork("the nonce does not solve the challenge", reason="insufficient_work")
    return challenge
