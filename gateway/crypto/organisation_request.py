"""Requests signed with the offline organisation key: how an admin without a session (the very
first one, or the CLI holding the key file) proves it speaks for the organisation.

The signed statement is canonical JSON `{v, method, target, body, at, nonce}` (`body` is the
BLAKE2b-256 of the exact request body, `target` the raw path with its query). The signature is
Ed25519 over `lp("tipline/v1/organisation-request", statement)`: the label and the length prefix
make it impossible to pass off as a signed directory entry, the only other thing this key signs.
It travels as `Authorization: Organisation <base64url(statement)>.<base64url(signature)>`.
Freshness (`at`) and single use (`nonce`) are the verifier's to enforce with its clock and
memory; this module only checks what the key signed.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.crypto.encoding import b64decode, b64encode, canonical_json, parse_canonical_json
from gateway.crypto.errors import BadSignature, Malformed
from gateway.crypto.hashing import blake2b_256, equal, length_prefixed
from gateway.crypto.keys import SIGNATURE_BYTES, Ed25519KeyPair, verify_signature
from gateway.crypto.randomness import RandomBytes, system_random
from gateway.crypto.shape import read_bytes, read_int, read_object, read_str, read_version

VERSION = 1
SCHEME = "Organisation"
NONCE_BYTES = 16
MAX_STATEMENT_BYTES = 2048
MAX_TARGET_CHARS = 1024
_LABEL = b"tipline/v1/organisation-request"
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class OrganisationRequest:
    """What the organisation key vouched for: one request, at one time, once."""

    method: str
    target: str
    body_hash: bytes
    at: int
    nonce: bytes


def body_hash(body: bytes) -> bytes:
    return blake2b_256(body)


def _signed_message(statement: bytes) -> bytes:
    return length_prefixed(_LABEL, statement)


def sign_organisation_request(
    org_key: Ed25519KeyPair,
    *,
    method: str,
    target: str,
    body: bytes,
    now: int,
    random_bytes: RandomBytes = system_random,
) -> str:
    """The credential for `Authorization: Organisation <credential>`."""
    if method not in _METHODS:
        raise Malformed("unknown HTTP method")
    if not target.startswith("/") or len(target) > MAX_TARGET_CHARS:
        raise Malformed("the target is the request's path (and query), starting with /")
    statement = canonical_json(
        {
            "v": VERSION,
            "method": method,
            "target": target,
            "body": b64encode(body_hash(body)),
            "at": now,
            "nonce": b64encode(random_bytes(NONCE_BYTES)),
        }
    )
    signature = org_key.sign(_signed_message(statement))
    return f"{b64encode(statement)}.{b64encode(signature)}"


def verify_organisation_request(
    credential: str,
    *,
    org_public_key: bytes,
    method: str,
    target: str,
    body: bytes,
) -> OrganisationRequest:
    """Check the signature first, then that it covers exactly this method, target and body."""
    what = "organisation request"
    statement_text, dot, signature_text = credential.partition(".")
    if not dot:
        raise Malformed("an organisation credential is <statement>.<signature>")
    statement = b64decode(statement_text, what=what, max_length=MAX_STATEMENT_BYTES)
    signature = b64decode(signature_text, what=f"{what} signature", length=SIGNATURE_BYTES)
    try:
        verify_signature(org_public_key, _signed_message(statement), signature)
    except BadSignature as exc:
        raise BadSignature("the request is not signed by the organisation key") from exc
    obj = parse_canonical_json(statement, max_bytes=MAX_STATEMENT_BYTES, what=what)
    read_object(obj, what=what, required={"v", "method", "target", "body", "at", "nonce"})
    read_version(obj, what=what, supported=VERSION)
    signed = OrganisationRequest(
        method=read_str(obj, "method", what=what, max_length=8, allowed=set(_METHODS)),
        target=read_str(obj, "target", what=what, max_length=MAX_TARGET_CHARS),
        body_hash=read_bytes(obj, "body", what=what, length=32),
        at=read_int(obj, "at", what=what),
        nonce=read_bytes(obj, "nonce", what=what, length=NONCE_BYTES),
    )
    if signed.method != method or signed.target != target:
        raise BadSignature("the signature covers another request")
    if not equal(signed.body_hash, body_hash(body)):
        raise BadSignature("the signature covers another request body")
    return signed
