"""Envelopes: every recipient reads the same message, nobody else can, and any change is refused."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import nacl.bindings
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.crypto.encoding import b64decode, b64encode, canonical_json
from gateway.crypto.envelope import (
    MAX_RECIPIENTS,
    Envelope,
    EnvelopeHeader,
    WrappedKey,
    key_commitment,
    open_as,
    parse_envelope,
    seal,
    verify_envelope_signature,
)
from gateway.crypto.errors import (
    BadSignature,
    DecryptionFailed,
    Malformed,
    NotARecipient,
    TooLarge,
    UnsupportedVersion,
)
from gateway.crypto.keys import InvestigatorKeys, X25519KeyPair
from gateway.crypto.message import AttachmentRef, MessageContent
from gateway.crypto.padding import ENVELOPE_BUCKETS, pad

NOW = 1_767_225_600
ALICE, BOB = InvestigatorKeys.generate(), InvestigatorKeys.generate()
REPORTER, RECOVERY = X25519KeyPair.generate(), X25519KeyPair.generate()


def tip(body: str = "Er wordt een meisje van 15 opgehaald bij het station.") -> MessageContent:
    return MessageContent(kind="tip", body=body, created=NOW, fields={"location": "Utrecht"})


def sealed_tip() -> Envelope:
    return seal(tip(), recipients=[ALICE.enc.public, RECOVERY.public, REPORTER.public], case=None)


def sealed_followup() -> Envelope:
    return seal(
        MessageContent(kind="followup", body="Welke auto?", created=NOW),
        recipients=[ALICE.enc.public, REPORTER.public],
        case="c-1",
        signer=ALICE.sig,
    )


def rewrite(envelope: Envelope, header: dict[str, Any] | str | None = None, **wire: Any) -> str:
    """The envelope's wire JSON with header fields (re-encoded) or raw header text replaced."""
    obj = envelope.to_json()
    if isinstance(header, str):
        obj["header"] = header
    elif header is not None:
        fields = json.loads(envelope.header_bytes)
        fields.update(header)
        obj["header"] = b64encode(canonical_json(fields))
    obj.update(wire)
    return json.dumps(obj)


def flip(data: bytes, index: int = 0) -> str:
    changed = bytearray(data)
    changed[index] ^= 0x80
    return b64encode(bytes(changed))


# ---------------------------------------------------------------- round trips

attachment_refs = st.builds(
    AttachmentRef,
    id=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    key=st.binary(min_size=32, max_size=32),
    name=st.from_regex(r"[A-Za-z0-9 ._-]{1,40}", fullmatch=True).filter(
        lambda n: n not in {".", ".."}
    ),
    size=st.integers(min_value=0, max_value=2**34),
    sha256=st.binary(min_size=32, max_size=32),
)
contents = st.builds(
    MessageContent,
    kind=st.sampled_from(["tip", "reply", "consent_answer"]),
    body=st.text(max_size=3000),
    created=st.integers(min_value=0, max_value=2**40),
    fields=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True), st.text(max_size=50), max_size=5
    ),
    attachments=st.lists(attachment_refs, max_size=3, unique_by=lambda r: r.id).map(tuple),
)


@settings(max_examples=40, deadline=None)
@given(contents, st.integers(min_value=1, max_value=5))
def test_every_recipient_opens_exactly_what_was_sealed(
    content: MessageContent, recipient_count: int
) -> None:
    recipients = [X25519KeyPair.generate() for _ in range(recipient_count)]
    case = None if content.kind == "tip" else "case-1"
    envelope = parse_envelope(
        seal(content, recipients=[r.public for r in recipients], case=case).encode()
    )
    for recipient in recipients:
        assert open_as(envelope, recipient) == content


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["followup", "note", "consent_request"]), st.text(max_size=500))
def test_investigator_messages_round_trip_signed(kind: str, body: str) -> None:
    content = MessageContent(kind=kind, body=body, created=NOW)
    envelope = parse_envelope(
        seal(content, recipients=[BOB.enc.public], case="c-9", signer=ALICE.sig).encode()
    )
    verify_envelope_signature(envelope, ALICE.sig.public)
    assert open_as(envelope, BOB.enc) == content


def test_the_server_reads_kind_case_sender_and_recipient_key_ids_without_any_secret() -> None:
    envelope = parse_envelope(sealed_followup().encode())
    assert envelope.kind == "followup"
    assert envelope.header.case == "c-1"
    assert envelope.header.signer_kid == ALICE.sig.kid
    assert envelope.recipient_kids == {ALICE.enc.kid, REPORTER.kid}
    assert parse_envelope(sealed_tip().to_json()).header.signer_kid is None


def test_recipients_are_listed_in_key_id_order_whatever_order_they_were_given_in() -> None:
    forward = seal(tip(), recipients=[ALICE.enc.public, REPORTER.public], case=None)
    backward = seal(tip(), recipients=[REPORTER.public, ALICE.enc.public], case=None)
    assert [r.kid for r in forward.header.recipients] == [r.kid for r in backward.header.recipients]
    assert [r.kid for r in forward.header.recipients] == sorted([ALICE.enc.kid, REPORTER.kid])


def test_ciphertext_size_reveals_only_the_bucket() -> None:
    short = seal(tip("kort"), recipients=[ALICE.enc.public], case=None)
    longer = seal(tip("lang " * 150), recipients=[ALICE.enc.public], case=None)
    assert len(short.ciphertext) == len(longer.ciphertext) == ENVELOPE_BUCKETS[0] + 16


def test_sealing_draws_key_and_nonce_from_the_injected_source() -> None:
    draws: list[int] = []

    def source(size: int) -> bytes:
        draws.append(size)
        return bytes([len(draws)]) * size

    envelope = seal(tip(), recipients=[ALICE.enc.public], case=None, random_bytes=source)
    assert draws == [32, 24]
    assert envelope.nonce == b"\x02" * 24
    assert envelope.header.key_commitment == key_commitment(b"\x01" * 32)


# ---------------------------------------------------------------- who may open


def test_a_key_that_is_not_a_recipient_is_told_so() -> None:
    with pytest.raises(NotARecipient) as refusal:
        open_as(sealed_tip(), BOB.enc)
    assert refusal.value.code == "not_a_recipient"


def test_a_wrapped_key_swapped_between_recipients_does_not_open() -> None:
    envelope = sealed_tip()
    recipients = list(envelope.header.recipients)
    mine = next(i for i, r in enumerate(recipients) if r.kid == ALICE.enc.kid)
    other = (mine + 1) % len(recipients)
    recipients[mine] = WrappedKey(kid=ALICE.enc.kid, wrapped=recipients[other].wrapped)
    header_fields = json.loads(envelope.header_bytes)
    header_fields["recipients"] = [r.to_json() for r in recipients]
    with pytest.raises(DecryptionFailed):
        open_as(parse_envelope(rewrite(envelope, header_fields)), ALICE.enc)


def test_a_sender_cannot_show_different_recipients_different_messages() -> None:
    # Poly1305 does not commit to its key, so without the header's key commitment a sender
    # could wrap a second key for one recipient; here that recipient must refuse.
    honest_key, other_key, nonce = b"\x01" * 32, b"\x02" * 32, b"\x03" * 24
    header = EnvelopeHeader(
        kind="tip",
        case=None,
        sender="reporter",
        recipients=tuple(
            sorted(
                [
                    WrappedKey(
                        ALICE.enc.kid, nacl.bindings.crypto_box_seal(honest_key, ALICE.enc.public)
                    ),
                    WrappedKey(
                        BOB.enc.kid, nacl.bindings.crypto_box_seal(other_key, BOB.enc.public)
                    ),
                ],
                key=lambda w: w.kid,
            )
        ),
        created=NOW,
        key_commitment=key_commitment(honest_key),
    )
    header_bytes = header.encode()
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        pad(tip("other story").encode()), header_bytes, nonce, other_key
    )
    forged = Envelope(header_bytes, header, nonce, ciphertext, None)
    with pytest.raises(DecryptionFailed, match="commits to"):
        open_as(parse_envelope(forged.encode()), BOB.enc)


def test_a_message_whose_content_contradicts_its_header_is_refused() -> None:
    message_key, nonce = b"\x05" * 32, b"\x06" * 24
    header = EnvelopeHeader(
        kind="tip",
        case=None,
        sender="reporter",
        recipients=(
            WrappedKey(BOB.enc.kid, nacl.bindings.crypto_box_seal(message_key, BOB.enc.public)),
        ),
        created=NOW,
        key_commitment=key_commitment(message_key),
    )
    reply = MessageContent(kind="reply", body="x", created=NOW)
    header_bytes = header.encode()
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        pad(reply.encode()), header_bytes, nonce, message_key
    )
    with pytest.raises(Malformed, match="contradicts its header"):
        open_as(Envelope(header_bytes, header, nonce, ciphertext, None), BOB.enc)


# ---------------------------------------------------------------- tampering


@pytest.mark.parametrize(
    "tamper",
    [
        lambda e: rewrite(e, ciphertext=flip(e.ciphertext, 0)),
        lambda e: rewrite(e, ciphertext=flip(e.ciphertext, len(e.ciphertext) - 1)),
        lambda e: rewrite(e, nonce=flip(e.nonce, 5)),
        lambda e: rewrite(e, {"created": NOW + 1}),
        lambda e: rewrite(e, {"key_commitment": flip(e.header.key_commitment)}),
    ],
    ids=["ciphertext start", "tag", "nonce", "header created", "key commitment"],
)
def test_any_change_to_header_nonce_or_ciphertext_makes_opening_fail(tamper: Any) -> None:
    with pytest.raises(DecryptionFailed):
        open_as(parse_envelope(tamper(sealed_tip())), ALICE.enc)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda e: rewrite(e, signature=flip(e.signature)),
        lambda e: rewrite(e, ciphertext=flip(e.ciphertext, 3)),
        lambda e: rewrite(e, nonce=flip(e.nonce)),
        lambda e: rewrite(e, {"created": NOW + 60}),
        lambda e: rewrite(e, {"case": "c-2"}),
    ],
    ids=["signature", "ciphertext", "nonce", "header created", "moved to another case"],
)
def test_any_change_to_a_signed_envelope_breaks_its_signature(tamper: Any) -> None:
    with pytest.raises(BadSignature):
        verify_envelope_signature(parse_envelope(tamper(sealed_followup())), ALICE.sig.public)


def test_a_signature_is_checked_against_the_key_the_header_names() -> None:
    envelope = sealed_followup()
    with pytest.raises(BadSignature, match="different signing key"):
        verify_envelope_signature(envelope, BOB.sig.public)
    # Naming Bob in the header while signed by Alice fails too: the header is signed.
    renamed = rewrite(envelope, {"sender": b64encode(BOB.sig.kid)})
    with pytest.raises(BadSignature):
        verify_envelope_signature(parse_envelope(renamed), BOB.sig.public)


def test_a_reporter_message_has_no_signature_to_verify() -> None:
    with pytest.raises(BadSignature, match="not signed"):
        verify_envelope_signature(sealed_tip(), ALICE.sig.public)


# ---------------------------------------------------------------- strict parsing


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (lambda e: rewrite(e, v=2), UnsupportedVersion),
        (lambda e: rewrite(e, {"v": 2}), UnsupportedVersion),
        (lambda e: rewrite(e, extra=1), Malformed),
        (lambda e: json.dumps({k: v for k, v in e.to_json().items() if k != "nonce"}), Malformed),
        (lambda e: rewrite(e, nonce=b64encode(bytes(23))), Malformed),
        (lambda e: rewrite(e, ciphertext=b64encode(e.ciphertext + b"\x00")), Malformed),
        (lambda e: rewrite(e, ciphertext=b64encode(bytes(1000))), Malformed),
        (lambda e: rewrite(e, header=b64encode(e.header_bytes + b" ")), Malformed),
        (lambda e: rewrite(e, {"kind": "gossip"}), Malformed),
        (lambda e: rewrite(e, {"case": "c-1"}), Malformed),
        (lambda e: rewrite(e, {"sender": b64encode(ALICE.sig.kid)}), Malformed),
        (lambda e: rewrite(e, {"recipients": []}), Malformed),
        (lambda e: rewrite(e, {"extra": True}), Malformed),
        (lambda e: rewrite(e, signature=b64encode(bytes(64))), Malformed),
        (lambda e: rewrite(e, v=True), Malformed),
        (lambda e: "[]", Malformed),
        (lambda e: b"\xff", Malformed),
        (lambda e: " " * 10_000_000, TooLarge),
    ],
    ids=["envelope v2", "header v2", "unknown field", "missing nonce", "short nonce",
         "ciphertext not a bucket", "ciphertext too short", "header not canonical",
         "unknown kind", "tip with a case", "tip claiming an investigator sender",
         "no recipients", "unknown header field", "signed tip", "boolean version", "not an object",
         "not UTF-8", "too large"],
)  # fmt: skip
def test_parsing_refuses_every_malformed_envelope(tamper: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_envelope(tamper(sealed_tip()))


def test_parsing_refuses_a_followup_without_a_signature_or_case() -> None:
    followup = sealed_followup()
    unsigned = {k: v for k, v in followup.to_json().items() if k != "signature"}
    with pytest.raises(Malformed, match="must carry its author's signature"):
        parse_envelope(unsigned)
    fields = json.loads(followup.header_bytes)
    del fields["case"]
    caseless = dict(followup.to_json(), header=b64encode(canonical_json(fields)))
    with pytest.raises(Malformed, match="names its case"):
        parse_envelope(caseless)


def test_parsing_refuses_recipients_out_of_order_or_listed_twice() -> None:
    envelope = sealed_tip()
    fields = json.loads(envelope.header_bytes)
    for recipients in (fields["recipients"][::-1], fields["recipients"][:1] * 2):
        with pytest.raises(Malformed, match="sorted by key id"):
            parse_envelope(rewrite(envelope, {"recipients": recipients}))


def test_header_bytes_are_authenticated_exactly_as_sent() -> None:
    envelope = sealed_tip()
    parsed = parse_envelope(envelope.encode())
    assert parsed.header_bytes == envelope.header_bytes
    assert b64decode(envelope.to_json()["header"], what="header") == envelope.header_bytes


# ---------------------------------------------------------------- sealing refuses


def test_sealing_enforces_who_signs_which_kind() -> None:
    with pytest.raises(Malformed, match="must be signed"):
        seal(
            MessageContent(kind="note", body="x", created=NOW),
            recipients=[BOB.enc.public],
            case="c",
        )
    with pytest.raises(Malformed, match="is not signed"):
        seal(tip(), recipients=[BOB.enc.public], case=None, signer=ALICE.sig)


@pytest.mark.parametrize(
    ("recipients", "complaint"),
    [
        ([], "1 to 128 recipients"),
        ([b"\x01" * 32] * (MAX_RECIPIENTS + 1), "1 to 128 recipients"),
        ([bytes(31)], "32-byte"),
        ([bytes(32)], "not a usable"),
        ([REPORTER.public, REPORTER.public], "each listed once"),
    ],
    ids=["none", "too many", "short key", "low-order key", "duplicate"],
)
def test_sealing_refuses_bad_recipient_lists(recipients: list[bytes], complaint: str) -> None:
    with pytest.raises(Malformed, match=complaint):
        seal(tip(), recipients=recipients, case=None)


def test_sealing_refuses_a_case_on_a_new_tip_and_a_missing_case_on_a_reply() -> None:
    with pytest.raises(Malformed):
        seal(tip(), recipients=[BOB.enc.public], case="c-1")
    with pytest.raises(Malformed):
        seal(
            MessageContent(kind="reply", body="x", created=NOW),
            recipients=[BOB.enc.public],
            case=None,
        )


def test_message_content_refuses_unsafe_attachment_names_and_bad_fields() -> None:
    for name in ("../etc/passwd", "a\\b", "..", "", "tab\tname", "x" * 256):
        with pytest.raises(Malformed):
            AttachmentRef(id="a", key=bytes(32), name=name, size=1, sha256=bytes(32))
    with pytest.raises(Malformed):
        MessageContent(kind="tip", body="", created=NOW, fields={"Bad Name": "x"})
    with pytest.raises(Malformed):
        MessageContent(kind="unknown", body="", created=NOW)
    ref = AttachmentRef(
        id="a", key=bytes(32), name="a.jpg", size=1, sha256=hashlib.sha256(b"").digest()
    )
    with pytest.raises(Malformed, match="unique"):
        MessageContent(kind="tip", body="", created=NOW, attachments=(ref, ref))


def test_message_key_and_content_never_appear_in_repr() -> None:
    envelope = sealed_tip()
    assert "Utrecht" not in repr(open_as(envelope, ALICE.enc))
    assert repr(envelope.ciphertext[:8]) not in repr(envelope)
