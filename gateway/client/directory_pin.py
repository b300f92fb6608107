"""Pinning the organisation key: a client verifies the served directory before it encrypts
anything for the people the directory names.

A pin is the organisation's public key or its fingerprint (what `tipline admin init-org`
prints and a hotline publishes). Without a pin the directory still has to verify under the
key it came with, but nothing ties that key to the hotline: the caller must show its
fingerprint and say plainly that it is unverified.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.crypto.directory import Directory, parse_directory
from gateway.crypto.encoding import JsonValue, b64decode
from gateway.crypto.errors import CryptoError, Malformed
from gateway.crypto.keys import (
    PUBLIC_KEY_BYTES,
    fingerprint,
    fingerprint_matches,
    parse_fingerprint,
)


class PinError(Exception):
    """The organisation key pin is unusable, or the gateway's directory contradicts it."""


class OrganisationKeyMismatch(PinError):
    def __init__(self, pinned: str, served: str) -> None:
        super().__init__(
            f"The gateway's directory is signed by organisation key {served}, but the pinned "
            f"key is {pinned}. Nothing was sent. This may be the wrong address or an "
            "impostor: check the hotline's published fingerprint before going on."
        )
        self.pinned = pinned
        self.served = served


@dataclass(frozen=True, slots=True)
class OrganisationPin:
    """The organisation key as the user pinned it: the key itself, or its fingerprint."""

    fingerprint: str
    public_key: bytes | None = None

    @classmethod
    def parse(cls, text: str) -> OrganisationPin:
        """A fingerprint (40 hex digits, any grouping) or the base64url public key."""
        text = text.strip()
        try:
            return cls(fingerprint=parse_fingerprint(text))
        except Malformed:
            pass
        try:
            key = b64decode(text, what="organisation key", length=PUBLIC_KEY_BYTES)
        except CryptoError:
            raise PinError(
                "The organisation key must be its fingerprint (40 hexadecimal digits, e.g. "
                "3f9a-11c0-…) or its public key in base64url."
            ) from None
        return cls.of_key(key)

    @classmethod
    def of_key(cls, public_key: bytes) -> OrganisationPin:
        return cls(fingerprint=fingerprint(public_key), public_key=public_key)

    def matches(self, public_key: bytes) -> bool:
        return fingerprint_matches(public_key, self.fingerprint)


@dataclass(frozen=True, slots=True)
class VerifiedDirectory:
    """A directory whose chain verified; `unverified` when no pin tied its key to the hotline."""

    directory: Directory
    fingerprint: str
    unverified: bool

    @property
    def org_public_key(self) -> bytes:
        return self.directory.org_public_key


def verify_served_directory(data: JsonValue, pin: OrganisationPin | None) -> VerifiedDirectory:
    """Verify the chain and, with a pin, that it is under the pinned organisation key."""
    directory = parse_directory(data, org_public_key=None)
    served = fingerprint(directory.org_public_key)
    if pin is not None and not pin.matches(directory.org_public_key):
        raise OrganisationKeyMismatch(pinned=pin.fingerprint, served=served)
    return VerifiedDirectory(directory=directory, fingerprint=served, unverified=pin is None)
