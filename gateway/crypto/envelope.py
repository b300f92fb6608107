"""Envelopes: one padded, encrypted message for many recipients, optionally signed by its author.

The plaintext is encrypted once with a random message key under XChaCha20-Poly1305; the key is
wrapped with `crypto_box_seal` for every recipient inside the header, and the header's exact
bytes are the AEAD's associated data and part of what an investigator signs. The server can
parse and route an envelope (kind, case, recipient key ids, signer) without decrypting it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import nacl.bindings
import nacl.exceptions

from gateway.crypto.encoding import (
    JsonObject,
    JsonValue,
    b64decode,
    b64encode,
    canonical_json,
    parse_canonical_json,
    parse_json,
)
from gateway.crypto.errors import BadSignature, DecryptionFailed, Malformed, NotARecipient
from gateway.crypto.hashing import blake2b_256, equal, length_prefixed
from gateway.crypto.keys import (
    KEY_ID_BYTES,
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    Ed25519KeyPair,
    X25519KeyPair,
    key_id,
    verify_signature,
)
from gateway.crypto.message import INVESTIGATOR_KINDS, KINDS, REPORTER_KINDS, MessageContent
from gateway.crypto.padding import ENVELOPE_BUCKETS, pad, unpad
from gateway.crypto.randomness import RandomBytes, system_random
from gateway.crypto.shape import (
    read_bytes,
    read_int,
    read_list,
    read_object,
    read_str,
    read_version,
)

VERSION = 1
MESSAGE_KEY_BYTES = 32
NONCE_BYTES = 24
TAG_BYTES = 16
WRAPPED_KEY_BYTES = 32 + 48  # ephemeral X25519 public key + box of the 32-byte key (MAC 16)
COMMITMENT_BYTES = 32
MAX_RECIPIENTS = 128
MAX_HEADER_BYTES = 64 * 1024
MAX_CIPHERTEXT_BYTES = ENVELOPE_BUCKETS[-1] + TAG_BYTES
# Wire JSON: base64url grows by 4/3; the rest is field names and the signature.
MAX_ENVELOPE_BYTES = (MAX_CIPHERTEXT_BYTES + MAX_HEADER_BYTES) * 4 // 3 + 1024

REPORTER = "reporter"
COMMITMENT_LABEL = b"tipline/v1/message-key-commitment"
SIGNATURE_LABEL = b"tipline/v1/envelope-signature"

_CASE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CIPHERTEXT_SIZES = frozenset(bucket + TAG_BYTES for bucket in ENVELOPE_BUCKETS)


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """The message key sealed for one recipient, named by the recipient's key id."""

    kid: bytes
    wrapped: bytes = field(repr=False)

    def to_json(self) -> JsonObject:
        return {"kid": b64encode(self.kid), "wrapped": b64encode(self.wrapped)}


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """The authenticated, server-visible part of an envelope.

    `sender` is "reporter" or the base64url key id of the author's Ed25519 signing key;
    `case` is absent only on a new tip, which has no case yet.
    """

    kind: str
    case: str | None
    sender: str
    recipients: tuple[WrappedKey, ...]
    created: int
    key_commitment: bytes

    @property
    def recipient_kids(self) -> frozenset[bytes]:
        return frozenset(recipient.kid for recipient in self.recipients)

    @property
    def signer_kid(self) -> bytes | None:
        """Key id of the signing key that must have signed, or None for reporter messages."""
        if self.sender == REPORTER:
            return None
        return b64decode(self.sender, what="header.sender", length=KEY_ID_BYTES)

    def to_json(self) -> JsonObject:
        obj: JsonObject = {
            "v": VERSION,
            "kind": self.kind,
            "sender": self.sender,
            "recipients": [recipient.to_json() for recipient in self.recipients],
            "created": self.created,
            "key_commitment": b64encode(self.key_commitment),
        }
        if self.case is not None:
            obj["case"] = self.case
        return obj

    def encode(self) -> bytes:
        return canonical_json(self.to_json())

    @classmethod
    def decode(cls, data: bytes) -> EnvelopeHeader:
        what = "header"
        obj = parse_canonical_json(data, max_bytes=MAX_HEADER_BYTES, what=what)
        read_object(
            obj,
            what=what,
            required={"v", "kind", "sender", "recipients", "created", "key_commitment"},
            optional={"case"},
        )
        read_version(obj, what=what, supported=VERSION)
        kind = read_str(obj, "kind", what=what, max_length=32, allowed=KINDS)
        case = read_str(obj, "case", what=what, max_length=64) if "case" in obj else None
        recipients = tuple(
            _read_wrapped_key(item)
            for item in read_list(obj, "recipients", what=what, max_items=MAX_RECIPIENTS)
        )
        header = cls(
            kind=kind,
            case=case,
            sender=read_str(obj, "sender", what=what, max_length=32),
            recipients=recipients,
            created=read_int(obj, "created", what=what),
            key_commitment=read_bytes(obj, "key_commitment", what=what, length=COMMITMENT_BYTES),
        )
        _check_header_rules(header)
        return header


def _read_wrapped_key(value: JsonValue) -> WrappedKey:
    what = "header.recipients[]"
    obj = read_object(value, what=what, required={"kid", "wrapped"})
    return WrappedKey(
        kid=read_bytes(obj, "kid", what=what, length=KEY_ID_BYTES),
        wrapped=read_bytes(obj, "wrapped", what=what, length=WRAPPED_KEY_BYTES),
    )


def _check_header_rules(header: EnvelopeHeader) -> None:
    if not header.recipients:
        raise Malformed("an envelope needs at least one recipient")
    kids = [recipient.kid for recipient in header.recipients]
    # Sorted by raw key id bytes: one order for everyone, and duplicates are impossible.
    if any(a >= b for a, b in itertools.pairwise(kids)):
        raise Malformed("recipients must be sorted by key id, each listed once")
    if header.kind == "tip":
        if header.case is not None:
            raise Malformed("a new tip has no case id yet")
    elif header.case is None or _CASE_ID.fullmatch(header.case) is None:
        raise Malformed("every message but a new tip names its case")
    if header.kind in REPORTER_KINDS:
        if header.sender != REPORTER:
            raise Malformed(f"a {header.kind} is sent by the reporter")
    else:
        # An investigator's message names its signing key; signature stripping is refused later.
        b64decode(header.sender, what="header.sender", length=KEY_ID_BYTES)
    if header.created < 0:
        raise Malformed("created must be Unix seconds")


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed or freshly sealed envelope, with the exact header bytes everyone authenticates."""

    header_bytes: bytes = field(repr=False)
    header: EnvelopeHeader
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)
    signature: bytes | None = field(repr=False)

    @property
    def kind(self) -> str:
        return self.header.kind

    @property
    def recipient_kids(self) -> frozenset[bytes]:
        return self.header.recipient_kids

    def to_json(self) -> JsonObject:
        obj: JsonObject = {
            "v": VERSION,
            "header": b64encode(self.header_bytes),
            "nonce": b64encode(self.nonce),
            "ciphertext": b64encode(self.ciphertext),
        }
        if self.signature is not None:
            obj["signature"] = b64encode(self.signature)
        return obj

    def encode(self) -> bytes:
        return canonical_json(self.to_json())


def parse_envelope(data: bytes | str | JsonValue) -> Envelope:
    """Parse an envelope strictly: size, exact fields, versions, bucketed length, signing rules.

    Accepts the wire bytes or the already-parsed JSON value. Refusals are `CryptoError`s.
    """
    what = "envelope"
    value = (
        parse_json(data, max_bytes=MAX_ENVELOPE_BYTES, what=what)
        if isinstance(data, bytes | str)
        else data
    )
    obj = read_object(
        value,
        what=what,
        required={"v", "header", "nonce", "ciphertext"},
        optional={"signature"},
    )
    read_version(obj, what=what, supported=VERSION)
    header_bytes = read_bytes(obj, "header", what=what, max_length=MAX_HEADER_BYTES)
    header = EnvelopeHeader.decode(header_bytes)
    ciphertext = read_bytes(obj, "ciphertext", what=what, max_length=MAX_CIPHERTEXT_BYTES)
    if len(ciphertext) not in _CIPHERTEXT_SIZES:
        raise Malformed("ciphertext length is not a padding bucket plus the tag")
    signature = (
        read_bytes(obj, "signature", what=what, length=SIGNATURE_BYTES)
        if "signature" in obj
        else None
    )
    if header.kind in INVESTIGATOR_KINDS and signature is None:
        raise Malformed(f"a {header.kind} must carry its author's signature")
    if header.kind in REPORTER_KINDS and signature is not None:
        raise Malformed(f"a {header.kind} comes from the reporter and carries no signature")
    return Envelope(
        header_bytes=header_bytes,
        header=header,
        nonce=read_bytes(obj, "nonce", what=what, length=NONCE_BYTES),
        ciphertext=ciphertext,
        signature=signature,
    )


def key_commitment(message_key: bytes) -> bytes:
    """BLAKE2b-256 over the labelled message key, carried in the header.

    Poly1305 does not commit to its key: without this a sender could wrap different keys for
    different recipients and show each a different plaintext from one ciphertext.
    """
    return blake2b_256(length_prefixed(COMMITMENT_LABEL, message_key))


def signature_digest(header_bytes: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
    """BLAKE2b-256 of the length-prefixed (label, header, nonce, ciphertext): what is signed."""
    return blake2b_256(length_prefixed(SIGNATURE_LABEL, header_bytes, nonce, ciphertext))


def seal(
    content: MessageContent,
    *,
    recipients: Sequence[bytes],
    case: str | None,
    signer: Ed25519KeyPair | None = None,
    random_bytes: RandomBytes = system_random,
) -> Envelope:
    """Encrypt `content` for every X25519 public key in `recipients`.

    Investigator kinds (followup, note, consent_request) must pass `signer`; reporter kinds must
    not. Choosing the recipients (directory, case, reporter, recovery) is the caller's job.
    """
    if content.kind in INVESTIGATOR_KINDS and signer is None:
        raise Malformed(f"a {content.kind} must be signed by its author")
    if content.kind in REPORTER_KINDS and signer is not None:
        raise Malformed(f"a {content.kind} comes from the reporter and is not signed")
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise Malformed(f"an envelope has 1 to {MAX_RECIPIENTS} recipients")
    message_key = random_bytes(MESSAGE_KEY_BYTES)
    nonce = random_bytes(NONCE_BYTES)
    wrapped = sorted(
        (_wrap(message_key, public_key) for public_key in recipients), key=lambda w: w.kid
    )
    header = EnvelopeHeader(
        kind=content.kind,
        case=case,
        sender=REPORTER if signer is None else b64encode(signer.kid),
        recipients=tuple(wrapped),
        created=content.created,
        key_commitment=key_commitment(message_key),
    )
    _check_header_rules(header)
    header_bytes = header.encode()
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        pad(content.encode()), header_bytes, nonce, message_key
    )
    signature = (
        None if signer is None else signer.sign(signature_digest(header_bytes, nonce, ciphertext))
    )
    return Envelope(
        header_bytes=header_bytes,
        header=header,
        nonce=nonce,
        ciphertext=ciphertext,
        signature=signature,
    )


def _wrap(message_key: bytes, public_key: bytes) -> WrappedKey:
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
        raise Malformed(f"recipient keys are {PUBLIC_KEY_BYTES}-byte X25519 public keys")
    try:
        wrapped = nacl.bindings.crypto_box_seal(message_key, public_key)
    except nacl.exceptions.CryptoError as exc:
        # libsodium refuses low-order points, which no honest key pair produces.
        raise Malformed("a recipient key is not a usable X25519 public key") from exc
    return WrappedKey(kid=key_id(public_key), wrapped=wrapped)


def open_as(envelope: Envelope, keys: X25519KeyPair) -> MessageContent:
    """Decrypt as the holder of `keys`. Verify an investigator's signature separately, first."""
    kid = keys.kid
    recipient = next((r for r in envelope.header.recipients if r.kid == kid), None)
    if recipient is None:
        raise NotARecipient("this envelope is not addressed to this key")
    try:
        message_key = nacl.bindings.crypto_box_seal_open(
            recipient.wrapped, keys.public, keys.secret
        )
    except nacl.exceptions.CryptoError as exc:
        raise DecryptionFailed("the wrapped message key does not open with this key") from exc
    if len(message_key) != MESSAGE_KEY_BYTES or not equal(
        key_commitment(message_key), envelope.header.key_commitment
    ):
        raise DecryptionFailed("the wrapped message key is not the one the header commits to")
    try:
        padded = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            envelope.ciphertext, envelope.header_bytes, envelope.nonce, message_key
        )
    except nacl.exceptions.CryptoError as exc:
        raise DecryptionFailed("the message does not authenticate") from exc
    content = MessageContent.decode(unpad(padded))
    if content.kind != envelope.header.kind or content.created != envelope.header.created:
        raise Malformed("the message contradicts its header")
    return content


def verify_envelope_signature(envelope: Envelope, signer_public_key: bytes) -> None:
    """Raise `BadSignature` unless `signer_public_key` is the named sender and signed the envelope.

    Whether that key belongs to a vetted investigator is the directory's question.
    """
    expected = envelope.header.signer_kid
    if expected is None or envelope.signature is None:
        raise BadSignature("this envelope is from the reporter and is not signed")
    if not equal(key_id(signer_public_key), expected):
        raise BadSignature("the envelope names a different signing key")
    verify_signature(
        signer_public_key,
        signature_digest(envelope.header_bytes, envelope.nonce, envelope.ciphertext),
        envelope.signature,
    )
