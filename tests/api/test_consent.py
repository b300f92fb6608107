"""Consent: an investigator asks, the reporter answers with an encrypted consent_answer and an
explicit flag; the flag is recorded on the case and in the audit trail, the words stay sealed."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from gateway.client.consent import answer_consent
from gateway.client.reporter import ReporterClient, ReporterError, TipDraft
from gateway.client.transport import ApiError, Transport
from gateway.crypto.envelope import Envelope, open_as, parse_envelope, seal
from gateway.crypto.message import MessageContent
from gateway.domain.hotline import Hotline
from gateway.store.records import ConsentState, MessageKind
from tests.api.emergency_support import Client
from tests.api.investigator_support import Person, bearer, log_in, vetted_person
from tests.api.reporter_support import (
    AnonymousReporter,
    case_id_of,
    reply_headers,
    solved_proof,
    submit_tip,
)
from tests.fixtures.organisation import Organisation

CONSENT = "/api/v1/reporter/consent"


async def asked(
    client: Client, hotline: Hotline, triage: Person
) -> tuple[AnonymousReporter, uuid.UUID]:
    """A reporter's case on which the triage investigator has asked for consent."""
    reporter = await submit_tip(client, [triage])
    case_id = await case_id_of(hotline, reporter)
    request = seal(
        MessageContent(
            kind="consent_request", body="May we go to the police?", created=int(time.time())
        ),
        recipients=[reporter.keys.public, triage.keys.enc.public],
        case=str(case_id),
        signer=triage.keys.sig,
    )
    response = await client.post(
        f"/api/v1/cases/{case_id}/messages",
        json={"envelope": request.to_json()},
        headers=bearer(await log_in(client, triage)),
    )
    assert response.status == 201, await response.text()
    return reporter, case_id


def answer_envelope(
    reporter: AnonymousReporter, triage: Person, case_id: uuid.UUID, *, kind: str = "consent_answer"
) -> Envelope:
    return seal(
        MessageContent(kind=kind, body="canary-consent-words", created=int(time.time())),
        recipients=[reporter.keys.public, triage.keys.enc.public],
        case=str(case_id),
    )


async def post_answer(client: Client, reporter: AnonymousReporter, body: dict[str, Any]) -> Any:
    """The answer as the reporter's client sends it: its proof of work in X-Tipline-Proof."""
    return await client.post(CONSENT, json=body, headers=await reply_headers(client, reporter))


async def test_the_reporters_consent_is_recorded_on_the_case_and_in_the_audit_trail(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    reporter, case_id = await asked(client, hotline, triage)

    response = await post_answer(
        client,
        reporter,
        {
            "v": 1,
            "envelope": answer_envelope(reporter, triage, case_id).to_json(),
            "consent": "given",
        },
    )

    assert response.status == 201, await response.text()
    seq = (await response.json())["seq"]
    async with hotline.database.transaction(read_only=True) as tx:
        case = await tx.cases.get(case_id)
        messages = await tx.messages.list_for_case(case_id)
    assert case is not None
    assert case.consent is ConsentState.GIVEN
    answer = messages[-1]
    assert (answer.seq, answer.kind, answer.author_id) == (seq, MessageKind.CONSENT_ANSWER, None)
    assert answer.visible_to_reporter
    assert open_as(parse_envelope(answer.envelope), triage.keys.enc).body == "canary-consent-words"
    trail = await hotline.audit.for_case(hotline.database, case_id)
    assert [(e.action, e.actor_id, dict(e.details)) for e in trail][-1] == (
        "case.consent_answer",
        None,
        {"consent": "given", "seq": seq},
    )
    seen = await client.get(
        f"/api/v1/cases/{case_id}", headers=bearer(await log_in(client, triage))
    )
    assert (await seen.json())["consent"] == "given"


async def test_a_reporter_may_refuse_and_later_change_their_mind(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    reporter, case_id = await asked(client, hotline, triage)

    states = []
    for flag in ("refused", "given"):
        envelope = answer_envelope(reporter, triage, case_id).to_json()
        response = await post_answer(
            client, reporter, {"v": 1, "envelope": envelope, "consent": flag}
        )
        assert response.status == 201
        async with hotline.database.transaction(read_only=True) as tx:
            case = await tx.cases.get(case_id)
        assert case is not None
        states.append(case.consent)

    assert states == [ConsentState.REFUSED, ConsentState.GIVEN]


async def test_an_answer_nobody_asked_for_is_refused_and_stores_nothing(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    reporter = await submit_tip(client, [triage])
    case_id = await case_id_of(hotline, reporter)

    response = await post_answer(
        client,
        reporter,
        {
            "v": 1,
            "envelope": answer_envelope(reporter, triage, case_id).to_json(),
            "consent": "given",
        },
    )

    assert response.status == 409
    assert (await response.json())["error"]["code"] == "consent_not_requested"
    async with hotline.database.transaction(read_only=True) as tx:
        assert len(await tx.messages.list_for_case(case_id)) == 1
        case = await tx.cases.get(case_id)
    assert case is not None
    assert case.consent is None


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ("flag_maybe", 400),
        ("flag_missing", 400),
        ("reply_kind", 400),
        ("extra_field", 400),
        ("other_case", 400),
        ("wrong_code", 404),
        ("no_proof", 403),
        ("proof_in_body", 400),
    ],
)
async def test_a_malformed_or_misdirected_answer_changes_nothing(
    client: Client, hotline: Hotline, organisation: Organisation, change: str, status: int
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    reporter, case_id = await asked(client, hotline, triage)
    envelope = answer_envelope(reporter, triage, case_id)
    body: dict[str, Any] = {"v": 1, "envelope": envelope.to_json(), "consent": "given"}
    sender = reporter
    if change == "flag_maybe":
        body["consent"] = "maybe"
    elif change == "flag_missing":
        del body["consent"]
    elif change == "reply_kind":
        body["envelope"] = answer_envelope(reporter, triage, case_id, kind="reply").to_json()
    elif change == "extra_field":
        body["words"] = "yes"
    elif change == "other_case":
        body["envelope"] = answer_envelope(reporter, triage, uuid.uuid4()).to_json()
    elif change == "wrong_code":
        sender = AnonymousReporter()
    elif change == "proof_in_body":  # the old place of the proof: now an unknown field
        body["pow"] = await solved_proof(client, "reply")

    if change == "no_proof":
        response = await client.post(CONSENT, json=body, headers=sender.authorization)
    else:
        response = await post_answer(client, sender, body)

    assert response.status == status, await response.text()
    async with hotline.database.transaction(read_only=True) as tx:
        case = await tx.cases.get(case_id)
    assert case is not None
    assert case.consent is ConsentState.REQUESTED


@pytest.fixture
async def transport(client: Client) -> AsyncIterator[Transport]:
    async with Transport(str(client.server.make_url("/"))) as opened:
        yield opened


async def test_the_reporters_client_answers_a_request_it_has_read(
    client: Client, hotline: Hotline, organisation: Organisation, transport: Transport
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    reporter = ReporterClient(transport, organisation.public_key)
    submitted = await reporter.submit(TipDraft(body="Er wordt een meisje vastgehouden."))
    thread = await reporter.open_case(submitted.code)
    with pytest.raises(ReporterError, match="asked for your consent"):
        await answer_consent(reporter, transport, thread, given=True)
    case_id = uuid.UUID(thread.case_id)
    request = seal(
        MessageContent(
            kind="consent_request", body="Mogen we naar de politie?", created=int(time.time())
        ),
        recipients=[thread.keys.enc.public, triage.keys.enc.public],
        case=thread.case_id,
        signer=triage.keys.sig,
    )
    posted = await client.post(
        f"/api/v1/cases/{case_id}/messages",
        json={"envelope": request.to_json()},
        headers=bearer(await log_in(client, triage)),
    )
    assert posted.status == 201

    seq = await answer_consent(
        reporter, transport, await reporter.open_case(submitted.code), given=False
    )

    async with hotline.database.transaction(read_only=True) as tx:
        case = await tx.cases.get(case_id)
        messages = await tx.messages.list_for_case(case_id)
    assert case is not None
    assert case.consent is ConsentState.REFUSED
    assert messages[-1].seq == seq
    words = open_as(parse_envelope(messages[-1].envelope), triage.keys.enc)
    assert words.kind == "consent_answer"
    assert words.body == "I do not give my consent."
    # An answer naming another case than the code opens is refused by the gateway.
    elsewhere = replace(await reporter.open_case(submitted.code), case_id=str(uuid.uuid4()))
    with pytest.raises(ApiError) as refused:
        await answer_consent(reporter, transport, elsewhere, given=True)
    assert refused.value.status == 400


async def test_a_consent_answer_sent_as_a_reply_is_refused_and_changes_nothing(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    """Stored without its choice, the words would read as given or refused to nobody."""
    triage = await vetted_person(hotline, organisation, "triage")
    reporter, case_id = await asked(client, hotline, triage)
    async with hotline.database.transaction(read_only=True) as tx:
        before = [m.seq for m in await tx.messages.list_for_case(case_id)]

    response = await client.post(
        "/api/v1/reporter/messages",
        json={
            "v": 1,
            "envelope": answer_envelope(reporter, triage, case_id).to_json(),
        },
        headers=await reply_headers(client, reporter),
    )

    assert response.status == 400
    refusal = await response.json()
    assert refusal["error"]["code"] == "invalid_input"
    assert "/api/v1/reporter/consent" in refusal["error"]["message"]
    async with hotline.database.transaction(read_only=True) as tx:
        case = await tx.cases.get(case_id)
        assert [m.seq for m in await tx.messages.list_for_case(case_id)] == before
    assert case is not None
    assert case.consent is ConsentState.REQUESTED
