"""POST /api/v1/cases: a tip becomes a case in one unit of work, or nothing changes at all."""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Callable

import pytest

from gateway.crypto.encoding import JsonObject, b64encode
from gateway.crypto.envelope import open_as, parse_envelope
from gateway.crypto.keys import X25519KeyPair, key_id
from gateway.crypto.pickup import locator_lookup_key
from gateway.crypto.pow import leading_zero_bits, parse_challenge, work_hash
from gateway.domain.hotline import Hotline
from gateway.domain.keys import derive_subkey
from gateway.store.records import InvestigatorStatus, MessageKind, RecipientKind
from tests.api.reporter_support import (
    PROOF_HEADER,
    AnonymousReporter,
    Client,
    outbox,
    proof_header,
    rows,
    sealed,
    solved_proof,
    submit_headers,
    submit_tip,
    tip_body,
    tip_recipients,
    vet_with_account,
)
from tests.fixtures.organisation import Organisation, VettedPerson


async def test_a_tip_becomes_a_case_with_its_message_inboxes_and_outbox_row_at_once(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    active = await vet_with_account(hotline, organisation, "investigator", "triage")
    pending = await vet_with_account(
        hotline, organisation, "triage", status=InvestigatorStatus.PENDING
    )
    without_account = await vet_with_account(hotline, organisation, "triage", status=None)
    recovery = await vet_with_account(hotline, organisation, "recovery", status=None)
    not_triage = await vet_with_account(hotline, organisation, "investigator")
    reporter = AnonymousReporter()
    envelope = sealed(
        "tip",
        tip_recipients([active, pending, without_account, recovery], reporter),
        body="canary-tip-body",
    )

    response = await client.post(
        "/api/v1/cases",
        json=tip_body(reporter, envelope, urgent=True),
        headers=await submit_headers(client),
    )

    assert response.status == 201
    assert await response.json() == {"v": 1, "status": "received"}
    async with hotline.database.transaction(read_only=True) as tx:
        expected_hash = locator_lookup_key(
            reporter.locator, derive_subkey(hotline.pepper, "locator")
        )
        case = await tx.cases.find_by_locator_hash(expected_hash)
        assert case is not None
        messages = await tx.messages.list_for_case(case.id)
        stored_recipients = await tx.messages.recipients(messages[0].id)
        inboxes = await tx.inbox.investigators_of_case(case.id)
    assert case.urgent is True
    assert case.reporter_public_key == reporter.keys.public
    assert [m.kind for m in messages] == [MessageKind.TIP]
    assert messages[0].visible_to_reporter is True
    assert messages[0].author_id is None
    by_kid = {r.key_id: r for r in stored_recipients}
    assert by_kid[key_id(reporter.keys.public)].kind is RecipientKind.REPORTER
    assert by_kid[recovery.keys.enc.kid].kind is RecipientKind.RECOVERY
    assert by_kid[active.keys.enc.kid].investigator_id == uuid.UUID(active.investigator_id)
    assert by_kid[without_account.keys.enc.kid].investigator_id is None
    assert not_triage.keys.enc.kid not in by_kid
    # Only a vetted triage investigator with an active account gets the case in an inbox.
    assert inboxes == [uuid.UUID(active.investigator_id)]
    assert [
        (topic, payload["urgent"], case_id)
        for topic, payload, case_id in await outbox(hotline.database)
    ] == [("case.created", True, case.id), ("case.emergency", True, case.id)]
    stored = parse_envelope(messages[0].envelope)
    assert open_as(stored, active.keys.enc).body == "canary-tip-body"
    assert open_as(stored, reporter.keys).body == "canary-tip-body"


async def _setup(
    hotline: Hotline, organisation: Organisation
) -> tuple[VettedPerson, AnonymousReporter]:
    person = await vet_with_account(hotline, organisation, "triage")
    return person, AnonymousReporter()


BodyChange = Callable[[JsonObject], None]


def _envelope(body: JsonObject) -> JsonObject:
    wire = body["envelope"]
    assert isinstance(wire, dict)
    return wire


# What is changed in an otherwise good tip, and the refusal that must follow.
BODY_REFUSALS: dict[str, tuple[BodyChange, int, str]] = {
    "unknown version": (lambda b: b.update(v=2), 400, "unsupported_version"),
    "unknown envelope version": (lambda b: _envelope(b).update(v=2), 400, "unsupported_version"),
    "malformed envelope": (
        lambda b: b.update(envelope={"v": 1, "header": "!", "nonce": "", "ciphertext": ""}),
        400,
        "malformed",
    ),
    "unknown field": (lambda b: b.update(reporter_ip="192.0.2.1"), 400, "malformed"),
    "urgent not a flag": (lambda b: b.update(urgent="yes"), 400, "malformed"),
    "signed tip": (
        lambda b: _envelope(b).update(signature=b64encode(os.urandom(64))),
        400,
        "malformed",
    ),
    "ciphertext not a bucket": (
        lambda b: _envelope(b).update(ciphertext=b64encode(os.urandom(1000))),
        400,
        "malformed",
    ),
    "locator of the wrong size": (
        lambda b: b.update(locator=b64encode(os.urandom(31))),
        400,
        "malformed",
    ),
    "unknown attachment": (
        lambda b: b.update(attachments=[str(uuid.uuid4())]),
        422,
        "unknown_attachment",
    ),
}

ProofChange = Callable[[JsonObject], dict[str, str]]

# What becomes of a good solved proof in the X-Tipline-Proof header: every one is refused
# 403 bad_proof_of_work, before the body is read.
PROOF_REFUSALS: dict[str, ProofChange] = {
    "missing proof": lambda p: {},
    "forged proof": lambda p: proof_header({**p, "mac": b64encode(os.urandom(32))}),
    "unsolved proof": lambda p: proof_header({**p, "nonce": _failing_nonce(p)}),
    "proof missing a part": lambda p: proof_header({"challenge": p["challenge"], "mac": p["mac"]}),
    "proof not base64url": lambda p: {PROOF_HEADER: "not base64url!"},
    "proof not JSON": lambda p: {PROOF_HEADER: b64encode(b"{challenge")},
    "proof as bare JSON": lambda p: {PROOF_HEADER: json.dumps(p)},
}


def _failing_nonce(proof: JsonObject) -> str:
    """A nonce that does not solve the challenge (a random one would, 1 time in 2^difficulty)."""
    challenge = parse_challenge({"challenge": proof["challenge"], "mac": proof["mac"]})
    for counter in range(1000):
        nonce = counter.to_bytes(8, "big")
        work = work_hash(challenge.challenge_bytes, nonce)
        if leading_zero_bits(work) < challenge.difficulty:
            return b64encode(nonce)
    raise AssertionError("every nonce solves this challenge")


@pytest.mark.parametrize("name", sorted(BODY_REFUSALS))
async def test_a_refused_tip_changes_nothing_in_the_database(
    client: Client, hotline: Hotline, organisation: Organisation, name: str
) -> None:
    change, status, code = BODY_REFUSALS[name]
    person, reporter = await _setup(hotline, organisation)
    body = tip_body(reporter, sealed("tip", tip_recipients([person], reporter)))
    change(body)
    before = await rows(hotline.database)

    response = await client.post("/api/v1/cases", json=body, headers=await submit_headers(client))

    assert response.status == status, await response.text()
    assert (await response.json())["error"]["code"] == code
    assert await rows(hotline.database) == before


@pytest.mark.parametrize("name", sorted(PROOF_REFUSALS))
async def test_a_tip_without_a_good_proof_in_its_header_is_refused_and_changes_nothing(
    client: Client, hotline: Hotline, organisation: Organisation, name: str
) -> None:
    person, reporter = await _setup(hotline, organisation)
    headers = PROOF_REFUSALS[name](await solved_proof(client, "submit"))
    before = await rows(hotline.database)

    response = await client.post(
        "/api/v1/cases",
        json=tip_body(reporter, sealed("tip", tip_recipients([person], reporter))),
        headers=headers,
    )

    assert response.status == 403, await response.text()
    assert (await response.json())["error"]["code"] == "bad_proof_of_work"
    assert await rows(hotline.database) == before


async def test_a_proof_in_the_body_is_refused_as_an_unknown_field_and_changes_nothing(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    """The proof travels only in X-Tipline-Proof: a `pow` field is no second place for it."""
    person, reporter = await _setup(hotline, organisation)
    before = await rows(hotline.database)
    old_style = {
        **tip_body(reporter, sealed("tip", tip_recipients([person], reporter))),
        "pow": await solved_proof(client, "submit"),
    }

    with_header = await client.post(
        "/api/v1/cases", json=old_style, headers=await submit_headers(client)
    )
    only_in_body = await client.post("/api/v1/cases", json=old_style)

    assert with_header.status == 400, await with_header.text()
    refusal = (await with_header.json())["error"]
    assert refusal["code"] == "malformed"
    assert "pow" in refusal["message"]
    assert only_in_body.status == 403
    assert (await only_in_body.json())["error"]["code"] == "bad_proof_of_work"
    assert await rows(hotline.database) == before


async def test_the_proof_is_spent_even_when_the_body_is_then_refused(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    """The proof is spent with the rate limits as the request is admitted, before the body
    is read: a malformed tip used it up, and the same proof cannot carry a corrected one."""
    person, reporter = await _setup(hotline, organisation)
    headers = await submit_headers(client)
    body = tip_body(reporter, sealed("tip", tip_recipients([person], reporter)))

    malformed = await client.post("/api/v1/cases", json={**body, "v": 2}, headers=headers)
    retried = await client.post("/api/v1/cases", json=body, headers=headers)

    assert malformed.status == 400
    assert retried.status == 403
    assert (await retried.json())["error"]["code"] == "bad_proof_of_work"
    assert "used already" in (await retried.json())["error"]["message"]
    fresh = await client.post("/api/v1/cases", json=body, headers=await submit_headers(client))
    assert fresh.status == 201, await fresh.text()


RecipientChoice = Callable[[VettedPerson, AnonymousReporter], list[bytes]]

RECIPIENT_REFUSALS: dict[str, RecipientChoice] = {
    "a key outside the vetted set": lambda p, r: [p.keys.enc.public, r.keys.public, _key()],
    "no triage investigator": lambda p, r: [r.keys.public],
    "not the reporter's own key": lambda p, r: [p.keys.enc.public],
    "another reporter key": lambda p, r: [p.keys.enc.public, _key()],
}


def _key() -> bytes:
    return X25519KeyPair.generate().public


@pytest.mark.parametrize("name", sorted(RECIPIENT_REFUSALS))
async def test_a_tip_not_wrapped_for_exactly_the_required_recipients_is_refused(
    client: Client, hotline: Hotline, organisation: Organisation, name: str
) -> None:
    person, reporter = await _setup(hotline, organisation)
    envelope = sealed("tip", RECIPIENT_REFUSALS[name](person, reporter))
    before = await rows(hotline.database)

    response = await client.post(
        "/api/v1/cases",
        json=tip_body(reporter, envelope),
        headers=await submit_headers(client),
    )

    assert response.status == 422
    assert (await response.json())["error"]["code"] == "recipient_not_vetted"
    assert await rows(hotline.database) == before


async def test_a_reply_envelope_cannot_start_a_case(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person, reporter = await _setup(hotline, organisation)
    envelope = sealed("reply", tip_recipients([person], reporter), case=str(uuid.uuid4()))
    before = await rows(hotline.database)

    response = await client.post(
        "/api/v1/cases",
        json=tip_body(reporter, envelope),
        headers=await submit_headers(client),
    )

    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_input"
    assert await rows(hotline.database) == before


async def test_an_investigators_key_cannot_pose_as_the_reporter_key(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    reporter = AnonymousReporter(keys=person.keys.enc)
    before = await rows(hotline.database)

    response = await client.post(
        "/api/v1/cases",
        json=tip_body(reporter, sealed("tip", [person.keys.enc.public])),
        headers=await submit_headers(client),
    )

    assert response.status == 400
    assert await rows(hotline.database) == before


async def test_a_proof_for_another_purpose_is_refused(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person, reporter = await _setup(hotline, organisation)
    before = await rows(hotline.database)

    response = await client.post(
        "/api/v1/cases",
        json=tip_body(reporter, sealed("tip", tip_recipients([person], reporter))),
        headers=proof_header(await solved_proof(client, "lookup")),
    )

    assert response.status == 403
    assert (await response.json())["error"]["code"] == "bad_proof_of_work"
    assert await rows(hotline.database) == before


async def test_a_proof_of_work_buys_exactly_one_tip(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person, first = await _setup(hotline, organisation)
    proof = await submit_headers(client)
    accepted = await client.post(
        "/api/v1/cases",
        json=tip_body(first, sealed("tip", tip_recipients([person], first))),
        headers=proof,
    )
    assert accepted.status == 201
    before = await rows(hotline.database)
    second = AnonymousReporter()

    replayed = await client.post(
        "/api/v1/cases",
        json=tip_body(second, sealed("tip", tip_recipients([person], second))),
        headers=proof,
    )

    assert replayed.status == 403
    assert (await replayed.json())["error"]["code"] == "bad_proof_of_work"
    assert await rows(hotline.database) == before


async def test_without_a_vetted_triage_investigator_the_hotline_says_it_cannot_receive(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    investigator = await vet_with_account(hotline, organisation, "investigator")
    recovery = await vet_with_account(hotline, organisation, "recovery", status=None)
    reporter = AnonymousReporter()
    envelope = sealed("tip", tip_recipients([investigator, recovery], reporter))
    before = await rows(hotline.database)

    response = await client.post(
        "/api/v1/cases",
        json=tip_body(reporter, envelope),
        headers=await submit_headers(client),
    )

    assert response.status == 503
    assert (await response.json())["error"]["code"] == "no_recipients"
    assert await rows(hotline.database) == before


async def test_a_pickup_code_in_use_is_refused_and_nothing_more_is_stored(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person, reporter = await _setup(hotline, organisation)
    await submit_tip(client, [person], reporter)
    before = await rows(hotline.database)

    again = await client.post(
        "/api/v1/cases",
        json=tip_body(reporter, sealed("tip", tip_recipients([person], reporter))),
        headers=await submit_headers(client),
    )

    assert again.status == 409
    assert (await again.json())["error"]["code"] == "conflict"
    assert await rows(hotline.database) == before


async def test_an_oversized_body_is_refused_before_it_is_read_whole(
    client: Client, hotline: Hotline
) -> None:
    before = await rows(hotline.database)
    oversized = b'{"v":1,"pad":"' + b"x" * (hotline.limits.max_body_bytes + 10) + b'"}'

    response = await client.post(
        "/api/v1/cases",
        data=io.BytesIO(oversized),
        headers={"Content-Type": "application/json", **await submit_headers(client)},
    )

    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"
    assert await rows(hotline.database) == before


async def test_a_body_that_is_not_json_is_refused(client: Client, hotline: Hotline) -> None:
    before = await rows(hotline.database)
    response = await client.post(
        "/api/v1/cases", data=b"locator=abc", headers=await submit_headers(client)
    )
    assert response.status == 400
    assert await rows(hotline.database) == before
