"""Work on a case: reading the thread, follow-ups and notes with exactly the right recipients
and signatures, status transitions and assignment. Every refusal leaves the database as is."""

from __future__ import annotations

from typing import Any

from gateway.crypto.envelope import open_as, parse_envelope, verify_envelope_signature
from gateway.crypto.keys import InvestigatorKeys, X25519KeyPair
from gateway.domain.hotline import Hotline
from gateway.store.records import ConsentState, MessageKind, RecipientKind
from tests.api.investigator_support import (
    Client,
    OpenCase,
    Person,
    bearer,
    enroll_person,
    followup,
    log_in,
    open_case_for,
    vetted_person,
)
from tests.fixtures.organisation import Organisation
from tests.unit.store.builders import count_rows


async def post(client: Client, token: str, case: OpenCase, envelope: Any) -> Any:
    return await client.post(
        f"/api/v1/cases/{case.id_text}/messages",
        json={"envelope": envelope.to_json()},
        headers=bearer(token),
    )


async def patch(client: Client, token: str, case: OpenCase, **change: Any) -> Any:
    return await client.patch(f"/api/v1/cases/{case.id_text}", json=change, headers=bearer(token))


async def test_the_case_view_carries_every_envelope_and_who_is_on_the_case(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, person, urgent=True, body="he is 14")
    token = await log_in(client, person)

    response = await client.get(f"/api/v1/cases/{case.id_text}", headers=bearer(token))

    assert response.status == 200
    view = await response.json()
    assert view["status"] == "new"
    assert view["urgent"] is True
    assert [p["investigator_id"] for p in view["investigators"]] == [person.id_text]
    (tip,) = view["messages"]
    assert tip["kind"] == "tip"
    assert tip["wrapped_for_me"] is True
    assert open_as(parse_envelope(tip["envelope"]), person.keys.enc).body == "he is 14"


async def test_a_follow_up_for_the_reporter_and_everyone_on_the_case_is_stored(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    author = await vetted_person(hotline, organisation, "triage")
    colleague = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, author, colleague)
    token = await log_in(client, author)
    envelope = followup(
        author, case, [case.reporter.public, author.keys.enc.public, colleague.keys.enc.public]
    )

    response = await post(client, token, case, envelope)

    assert response.status == 201, await response.text()
    assert (await response.json())["seq"] == 2
    async with hotline.database.transaction(read_only=True) as tx:
        stored = await tx.messages.list_for_case(case.case.id, after_seq=1)
        recipients = await tx.messages.recipients(stored[0].id)
        pending = await tx.outbox.pending_count()
    assert stored[0].kind is MessageKind.FOLLOWUP
    assert stored[0].author_id == author.investigator_id
    assert stored[0].visible_to_reporter is True
    assert {r.kind for r in recipients} == {RecipientKind.REPORTER, RecipientKind.INVESTIGATOR}
    assert pending >= 2  # the case's creation and this message
    seen = parse_envelope(stored[0].envelope)
    verify_envelope_signature(seen, author.keys.sig.public)
    assert open_as(seen, case.reporter).body == "When did this happen?"


async def test_a_follow_up_with_the_wrong_recipients_is_refused(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    author = await vetted_person(hotline, organisation, "triage")
    colleague = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, author, colleague)
    token = await log_in(client, author)
    outsider = X25519KeyPair.generate()
    wrong = [
        [case.reporter.public, author.keys.enc.public],  # a colleague on the case is missing
        [author.keys.enc.public, colleague.keys.enc.public],  # the reporter is missing
        [
            case.reporter.public,
            author.keys.enc.public,
            colleague.keys.enc.public,
            outsider.public,
        ],  # a key nobody vetted
    ]
    before = await count_rows(hotline.database)
    for recipients in wrong:
        response = await post(client, token, case, followup(author, case, recipients))
        assert response.status == 422
        assert (await response.json())["error"]["code"] == "recipient_not_vetted"
    assert await count_rows(hotline.database) == before


async def test_a_follow_up_signed_by_someone_else_is_refused(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    author = await vetted_person(hotline, organisation, "triage")
    colleague = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, author, colleague)
    token = await log_in(client, author)
    everyone = [case.reporter.public, author.keys.enc.public, colleague.keys.enc.public]
    before = await count_rows(hotline.database)

    by_colleague = await post(
        client, token, case, followup(author, case, everyone, signer=colleague.keys)
    )
    forged_keys = InvestigatorKeys(enc=author.keys.enc, sig=InvestigatorKeys.generate().sig)
    # Names the author's key as signer, but the signature is some other key's.
    forged = followup(author, case, everyone, signer=forged_keys).to_json()
    tampered = parse_envelope(
        {**followup(author, case, everyone).to_json(), "signature": forged["signature"]}
    )
    bad_signature = await post(client, token, case, tampered)

    assert by_colleague.status == 403
    assert (await by_colleague.json())["error"]["code"] == "signer_mismatch"
    assert bad_signature.status == 422
    assert (await bad_signature.json())["error"]["code"] == "bad_signature"
    assert await count_rows(hotline.database) == before


async def test_an_internal_note_goes_to_investigators_only(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    author = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, author)
    token = await log_in(client, author)
    with_reporter = followup(
        author, case, [case.reporter.public, author.keys.enc.public], kind="note"
    )
    assert (await post(client, token, case, with_reporter)).status == 422

    note = followup(author, case, [author.keys.enc.public], kind="note", body="looks real")
    response = await post(client, token, case, note)

    assert response.status == 201
    async with hotline.database.transaction(read_only=True) as tx:
        for_reporter = await tx.messages.list_for_case(
            case.case.id, reporter_visible_only=True, wrapped_for=case.reporter.kid
        )
        everything = await tx.messages.list_for_case(case.case.id)
    assert [m.kind for m in for_reporter] == [MessageKind.TIP]
    assert [m.kind for m in everything] == [MessageKind.TIP, MessageKind.NOTE]
    assert everything[1].visible_to_reporter is False


async def test_the_recovery_key_must_receive_every_case_message(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    author = await vetted_person(hotline, organisation, "triage")
    recovery = await organisation.vet(hotline.directory, "recovery", name="Recovery key")
    case = await open_case_for(hotline, author)
    token = await log_in(client, author)
    without = followup(author, case, [case.reporter.public, author.keys.enc.public])
    assert (await post(client, token, case, without)).status == 422

    complete = followup(
        author, case, [case.reporter.public, author.keys.enc.public, recovery.keys.enc.public]
    )
    response = await post(client, token, case, complete)

    assert response.status == 201
    async with hotline.database.transaction(read_only=True) as tx:
        (message,) = await tx.messages.list_for_case(case.case.id, after_seq=1)
        kinds = {r.kind: r for r in await tx.messages.recipients(message.id)}
    assert kinds[RecipientKind.RECOVERY].investigator_id is None


async def test_messages_must_name_this_case_and_be_an_investigator_kind(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    author = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, author)
    elsewhere = await open_case_for(hotline, author)
    token = await log_in(client, author)
    recipients = [case.reporter.public, author.keys.enc.public]
    misdirected = followup(author, elsewhere, [elsewhere.reporter.public, author.keys.enc.public])
    assert (await post(client, token, case, misdirected)).status == 400
    assert (await post(client, token, case, followup(author, case, recipients))).status == 201


async def test_a_consent_request_is_a_follow_up_that_marks_consent_requested(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    author = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, author)
    token = await log_in(client, author)
    request = followup(
        author, case, [case.reporter.public, author.keys.enc.public], kind="consent_request"
    )
    assert (await post(client, token, case, request)).status == 201
    async with hotline.database.transaction(read_only=True) as tx:
        stored = await tx.cases.get(case.case.id)
    assert stored is not None
    assert stored.consent is ConsentState.REQUESTED


async def walk(client: Client, token: str, case: OpenCase, *statuses: str) -> list[int]:
    return [(await patch(client, token, case, status=status)).status for status in statuses]


async def test_status_moves_along_the_documented_transitions(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    token = await log_in(client, person)
    forward = await open_case_for(hotline, person)
    assert await walk(client, token, forward, "triage", "investigating", "referred", "closed") == [
        200,
        200,
        200,
        200,
    ]
    spam = await open_case_for(hotline, person)
    assert await walk(client, token, spam, "closed", "triage") == [200, 200]  # closed, reopened


async def test_transitions_outside_the_rules_are_refused_and_change_nothing(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    token = await log_in(client, person)
    case = await open_case_for(hotline, person)
    before = await count_rows(hotline.database)
    for status in ("investigating", "referred"):
        response = await patch(client, token, case, status=status)
        assert response.status == 409
        assert (await response.json())["error"]["code"] == "status_transition_refused"
    assert (await patch(client, token, case, status="withdrawn")).status == 400
    assert (await patch(client, token, case)).status == 400
    assert await count_rows(hotline.database) == before
    assert await walk(client, token, case, "triage", "referred") == [200, 409]


async def test_only_triage_or_the_assignee_may_reopen_and_ended_cases_take_no_messages(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    investigator = await vetted_person(hotline, organisation, "investigator")
    case = await open_case_for(hotline, triage, investigator)
    triage_token = await log_in(client, triage)
    investigator_token = await log_in(client, investigator)
    assert await walk(client, triage_token, case, "closed") == [200]
    everyone = [case.reporter.public, triage.keys.enc.public, investigator.keys.enc.public]

    ended = await post(client, triage_token, case, followup(triage, case, everyone))
    refused = await patch(client, investigator_token, case, status="triage")

    assert ended.status == 409
    assert (await ended.json())["error"]["code"] == "case_ended"
    assert refused.status == 403
    assert (await patch(client, triage_token, case, status="triage")).status == 200


async def test_assigning_puts_the_case_in_the_assignees_inbox_and_later_messages_include_them(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    expert: Person = await vetted_person(hotline, organisation, "investigator")
    case = await open_case_for(hotline, triage)
    token = await log_in(client, triage)

    response = await patch(client, token, case, assignee_id=expert.id_text)

    assert response.status == 200
    assert (await response.json())["assignee_id"] == expert.id_text
    without_expert = followup(triage, case, [case.reporter.public, triage.keys.enc.public])
    assert (await post(client, token, case, without_expert)).status == 422
    with_expert = followup(
        triage, case, [case.reporter.public, triage.keys.enc.public, expert.keys.enc.public]
    )
    assert (await post(client, token, case, with_expert)).status == 201
    expert_view = await client.get(
        f"/api/v1/cases/{case.id_text}", headers=bearer(await log_in(client, expert))
    )
    readable = [m["wrapped_for_me"] for m in (await expert_view.json())["messages"]]
    assert readable == [False, True]  # the tip predates the assignment
    assert (await patch(client, token, case, assignee_id=None)).status == 200


async def test_cases_are_only_assigned_to_active_vetted_investigators(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    pending = await enroll_person(hotline, "investigator")
    case = await open_case_for(hotline, triage)
    token = await log_in(client, triage)
    before = await count_rows(hotline.database)
    for assignee in (pending.id_text, "6a0cd9f4-7a0e-4d0c-9d55-2b6c8e1e2f10"):
        response = await patch(client, token, case, assignee_id=assignee)
        assert response.status == 422
        assert (await response.json())["error"]["code"] == "assignee_not_vetted"
    assert (await patch(client, token, case, assignee_id="not-a-uuid")).status == 400
    assert await count_rows(hotline.database) == before
