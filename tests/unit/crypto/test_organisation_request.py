"""Organisation-signed requests: they cover exactly one method, target and body."""

from __future__ import annotations

import pytest

from gateway.crypto.directory import Directory, sign_entry
from gateway.crypto.encoding import b64decode, b64encode
from gateway.crypto.errors import BadSignature, Malformed
from gateway.crypto.keys import Ed25519KeyPair, verify_signature
from gateway.crypto.organisation_request import (
    sign_organisation_request,
    verify_organisation_request,
)

ORG = Ed25519KeyPair.from_seed(bytes(range(32)))
BODY = b'{"roles":["triage"]}'


def credential(**overrides: object) -> str:
    arguments: dict[str, object] = {
        "method": "POST",
        "target": "/api/v1/admin/invites",
        "body": BODY,
        "now": 1_800_000_000,
    }
    arguments.update(overrides)
    return sign_organisation_request(ORG, **arguments)  # type: ignore[arg-type]


def test_a_signed_request_verifies_and_says_when_and_which_nonce() -> None:
    signed = verify_organisation_request(
        credential(),
        org_public_key=ORG.public,
        method="POST",
        target="/api/v1/admin/invites",
        body=BODY,
    )
    assert signed.at == 1_800_000_000
    assert len(signed.nonce) == 16


def test_two_signatures_of_one_request_carry_different_nonces() -> None:
    assert credential() != credential()


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("GET", "/api/v1/admin/invites", BODY),
        ("POST", "/api/v1/admin/directory", BODY),
        ("POST", "/api/v1/admin/invites", b'{"roles":["admin"]}'),
    ],
    ids=["another method", "another target", "another body"],
)
def test_a_signature_does_not_cover_another_request(method: str, target: str, body: bytes) -> None:
    with pytest.raises(BadSignature):
        verify_organisation_request(
            credential(), org_public_key=ORG.public, method=method, target=target, body=body
        )


def test_a_request_signed_by_another_key_is_refused() -> None:
    other = Ed25519KeyPair.from_seed(bytes(32))
    forged = sign_organisation_request(
        other, method="POST", target="/api/v1/admin/invites", body=BODY, now=1_800_000_000
    )
    with pytest.raises(BadSignature):
        verify_organisation_request(
            forged,
            org_public_key=ORG.public,
            method="POST",
            target="/api/v1/admin/invites",
            body=BODY,
        )


@pytest.mark.parametrize("text", ["", "no-dot", "a.b", "!!.!!"])
def test_garbage_credentials_are_malformed(text: str) -> None:
    with pytest.raises(Malformed):
        verify_organisation_request(
            text, org_public_key=ORG.public, method="POST", target="/x", body=b""
        )


def test_a_directory_entry_signature_is_no_request_signature() -> None:
    # The two things the organisation key signs must never be interchangeable.
    entry = Directory.empty(ORG.public).add_entry(
        investigator_id="x",
        name="X",
        roles=["triage"],
        enc_pk=bytes(range(1, 33)),
        sig_pk=bytes(range(2, 34)),
        not_after=2_000_000_000,
    )
    signed = sign_entry(ORG, entry)
    smuggled = f"{b64encode(signed.entry_bytes)}.{b64encode(signed.signature)}"
    with pytest.raises(BadSignature):
        verify_organisation_request(
            smuggled, org_public_key=ORG.public, method="POST", target="/x", body=b""
        )
    statement, _, signature = credential().partition(".")
    with pytest.raises(BadSignature):
        verify_signature(ORG.public, b64decode(statement, what="s"), b64decode(signature, what="s"))
