"""Every parser that takes untrusted bytes, each with a valid seed input to mutate.

Shared by the Hypothesis fuzzing in the suite (test_parser_fuzzing.py) and the atheris
target run on demand (fuzz_atheris.py, `make fuzz`). A target's `parse` may refuse input only
with the protocol's own `CryptoError` (or, for the domain's request parsers, a
`GatewayError`): anything else escaping is a bug.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from gateway.crypto.directory import Directory, DirectoryEntry, parse_directory, sign_entry
from gateway.crypto.encoding import (
    JsonValue,
    b64decode,
    b64encode,
    canonical_json,
    parse_canonical_json,
    parse_json,
)
from gateway.crypto.envelope import (
    EnvelopeHeader,
    open_as,
    parse_envelope,
    seal,
    verify_envelope_signature,
)
from gateway.crypto.errors import CryptoError
from gateway.crypto.kdf import V1_PARAMS
from gateway.crypto.keybundle import LoginKeys, parse_key_bundle, seal_investigator_keys
from gateway.crypto.keys import (
    Ed25519KeyPair,
    InvestigatorKeys,
    X25519KeyPair,
    fingerprint,
    parse_fingerprint,
)
from gateway.crypto.message import MessageContent
from gateway.crypto.organisation_request import (
    sign_organisation_request,
    verify_organisation_request,
)
from gateway.crypto.padding import pad, unpad
from gateway.crypto.pickup import Locator, PickupCode
from gateway.crypto.pow import issue_challenge, parse_challenge, solve, verify_solution
from gateway.crypto.stream import StreamDecryptor, encrypt_stream
from gateway.domain.errors import GatewayError
from gateway.domain.reporting import ReplySubmission, TipSubmission
from gateway.web.reporter_headers import PROOF_HEADER, proof_from_header

NOW: Final = int(time.time())
ORGANISATION: Final = Ed25519KeyPair.generate()
INVESTIGATOR: Final = InvestigatorKeys.generate()
REPORTER: Final = X25519KeyPair.generate()
POW_KEY: Final = os.urandom(32)
STREAM_KEY: Final = os.urandom(32)
ADMIN_TARGET: Final = "/api/v1/admin/invites"
ADMIN_BODY: Final = b'{"roles":["triage"]}'

# What a refusal may be: the protocol's errors, and the domain's for request bodies.
REFUSALS: Final = (CryptoError, GatewayError)


@dataclass(frozen=True)
class Target:
    name: str
    parse: Callable[[bytes], object]
    seed: bytes
    # The seed as JSON, for mutations at the JSON level (None: not a JSON format).
    seed_json: JsonValue = None


def _text(data: bytes) -> str:
    # As aiohttp decodes header values: undecodable bytes become lone surrogates.
    return data.decode("utf-8", errors="surrogateescape")


def _stream(data: bytes) -> None:
    decryptor = StreamDecryptor(STREAM_KEY)
    # Fed in uneven pieces, as a network delivers them.
    for start in range(0, len(data), 1000):
        decryptor.update(data[start : start + 1000])
    decryptor.finish()


@dataclass(frozen=True)
class _Request:
    """What `proof_from_header` reads of a request: its headers."""

    headers: Mapping[str, str]


def _proof_in_header(data: bytes) -> None:
    # The only place a proof of work travels: X-Tipline-Proof, read as the gateway reads it.
    proof = proof_from_header(_Request({PROOF_HEADER: _text(data)}))  # type: ignore[arg-type]
    verify_solution(proof, key=POW_KEY, purpose="lookup", now=NOW)


def _open_envelope(data: bytes) -> None:
    envelope = parse_envelope(data)
    if envelope.signature is not None:
        verify_envelope_signature(envelope, INVESTIGATOR.sig.public)
    open_as(envelope, REPORTER)


def _seeds() -> list[Target]:
    content = MessageContent(kind="tip", body="Er staat een busje bij de school.", created=NOW)
    tip = seal(content, recipients=[REPORTER.public, INVESTIGATOR.enc.public], case=None)
    followup = seal(
        MessageContent(kind="followup", body="Wanneer?", created=NOW),
        recipients=[REPORTER.public, INVESTIGATOR.enc.public],
        case="3f2b6a3e-8d1c-4a51-9c1e-2b1f0a9d7e11",
        signer=INVESTIGATOR.sig,
    )
    reply = seal(
        MessageContent(kind="reply", body="Gisteren.", created=NOW),
        recipients=[REPORTER.public, INVESTIGATOR.enc.public],
        case="3f2b6a3e-8d1c-4a51-9c1e-2b1f0a9d7e11",
    )
    directory = Directory.empty(ORGANISATION.public)
    entry = directory.add_entry(
        investigator_id="b9d4c1f2-6a2e-4c8b-9f0e-3d2a1c5b7e90",
        name="Triage",
        roles=("triage",),
        enc_pk=INVESTIGATOR.enc.public,
        sig_pk=INVESTIGATOR.sig.public,
        not_after=NOW + 86_400,
    )
    signed = sign_entry(ORGANISATION, entry)
    directory = directory.extend(signed)
    bundle = seal_investigator_keys(
        INVESTIGATOR, LoginKeys(os.urandom(32), os.urandom(32)), salt=os.urandom(16), kdf=V1_PARAMS
    )
    challenge = issue_challenge(POW_KEY, purpose="lookup", difficulty=0, now=NOW)
    answer = solve(challenge).to_json()
    stream = b"".join(encrypt_stream(STREAM_KEY, [os.urandom(70_000)], 70_000))
    credential = sign_organisation_request(
        ORGANISATION, method="POST", target=ADMIN_TARGET, body=ADMIN_BODY, now=NOW
    )
    tip_body = {
        "v": 1,
        "locator": Locator(os.urandom(32)).encoded(),
        "reporter_pk": b64encode(REPORTER.public),
        "urgent": False,
        "envelope": tip.to_json(),
    }
    return [
        Target("strict JSON", lambda d: parse_json(d, max_bytes=8192, what="x"), tip.encode()),
        Target(
            "canonical JSON",
            lambda d: parse_canonical_json(d, max_bytes=8192, what="x"),
            tip.encode(),
        ),
        Target(
            "base64url",
            lambda d: b64decode(_text(d), what="x"),
            tip.to_json()["ciphertext"].encode(),
        ),  # type: ignore[union-attr]
        Target("envelope", parse_envelope, tip.encode(), tip.to_json()),
        Target(
            "envelope, opened and verified", _open_envelope, followup.encode(), followup.to_json()
        ),
        Target("envelope header", EnvelopeHeader.decode, tip.header_bytes),
        Target("message plaintext", MessageContent.decode, content.encode()),
        Target("padded plaintext", unpad, pad(content.encode())),
        Target("directory entry", DirectoryEntry.decode, signed.entry_bytes),
        Target(
            "signed directory",
            lambda d: parse_directory(d, org_public_key=ORGANISATION.public),
            canonical_json(directory.to_json()),
            directory.to_json(),
        ),
        Target("key bundle", parse_key_bundle, bundle.encode(), bundle.to_json()),
        Target("attachment stream chunks", _stream, stream),
        Target(
            "proof-of-work challenge",
            parse_challenge,
            canonical_json(challenge.to_json()),
            challenge.to_json(),
        ),
        Target(
            "proof-of-work answer",
            lambda d: verify_solution(d, key=POW_KEY, purpose="lookup", now=NOW),
            canonical_json(answer),
            answer,
        ),
        Target(
            "proof-of-work header",
            _proof_in_header,
            b64encode(canonical_json(answer)).encode(),
        ),
        Target(
            "pickup code",
            lambda d: PickupCode.parse(_text(d)),
            PickupCode.generate().display().encode(),
        ),
        Target(
            "locator",
            lambda d: Locator.decode(_text(d)),
            Locator(os.urandom(32)).encoded().encode(),
        ),
        Target(
            "fingerprint",
            lambda d: parse_fingerprint(_text(d)),
            fingerprint(ORGANISATION.public).encode(),
        ),
        Target(
            "organisation-signed request",
            lambda d: verify_organisation_request(
                _text(d),
                org_public_key=ORGANISATION.public,
                method="POST",
                target=ADMIN_TARGET,
                body=ADMIN_BODY,
            ),
            credential.encode(),
        ),
        Target(
            "tip request body",
            lambda d: TipSubmission.from_json(_object(d)),
            canonical_json(tip_body),
            tip_body,
        ),
        Target(
            "reply request body",
            lambda d: ReplySubmission.from_json(_object(d)),
            canonical_json({"v": 1, "envelope": reply.to_json()}),
            {"v": 1, "envelope": reply.to_json()},
        ),
    ]


def _object(data: bytes) -> dict[str, JsonValue]:
    value = parse_json(data, max_bytes=2**20, what="body")
    if not isinstance(value, dict):
        raise GatewayError("not an object")
    return value


TARGETS: Final = {target.name: target for target in _seeds()}
