"""What a reporter's request carries in its headers: `Authorization: Locator …` and a proof.

Every request that pays with a proof of work carries it in `X-Tipline-Proof`, as the
unpadded base64url of the solved challenge's JSON object `{challenge, mac, nonce}`: the
proof is spent with the rate limits before any body is read (domain/admission.py).
"""

from __future__ import annotations

from typing import Final

from aiohttp import hdrs, web

from gateway.crypto.encoding import JsonValue, b64decode, parse_json
from gateway.crypto.errors import BadProofOfWork, CryptoError
from gateway.crypto.pickup import LOCATOR_BYTES, Locator
from gateway.domain.errors import Unauthenticated

LOCATOR_SCHEME: Final = "locator"
PROOF_HEADER: Final = "X-Tipline-Proof"
MAX_PROOF_HEADER_CHARS: Final = 2048
PROOF_HEADER_PARAMETER: Final = {
    "name": PROOF_HEADER,
    "in": "header",
    "required": True,
    "description": "base64url (unpadded) of the solved challenge {challenge, mac, nonce}",
    "schema": {
        "type": "string",
        "pattern": "^[A-Za-z0-9_-]+$",
        "maxLength": MAX_PROOF_HEADER_CHARS,
    },
}


def has_locator(request: web.Request) -> bool:
    scheme, _, _ = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    return scheme.lower() == LOCATOR_SCHEME


def locator_of(request: web.Request) -> Locator:
    """The locator from `Authorization: Locator <base64url>`; 401 when absent or malformed.

    A malformed locator is refused before any look-up; it says nothing about any case.
    """
    scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() != LOCATOR_SCHEME:
        raise Unauthenticated("Send the case's locator as `Authorization: Locator <base64url>`.")
    try:
        return Locator(b64decode(value.strip(), what="locator", length=LOCATOR_BYTES))
    except CryptoError:
        raise Unauthenticated("The locator must be 32 bytes in unpadded base64url.") from None


def proof_from_header(request: web.Request) -> JsonValue:
    """The proof-of-work object from `X-Tipline-Proof`, or None when the header is absent."""
    value = request.headers.get(PROOF_HEADER)
    if value is None:
        return None
    try:
        if len(value) > MAX_PROOF_HEADER_CHARS:
            raise BadProofOfWork("the proof header is too long", reason="malformed")
        raw = b64decode(value.strip(), what=PROOF_HEADER)
        return parse_json(raw, max_bytes=MAX_PROOF_HEADER_CHARS, what="proof of work")
    except CryptoError as error:
        raise BadProofOfWork(
            f"{PROOF_HEADER} must be the base64url of the solved challenge's JSON.",
            reason="malformed",
        ) from error
