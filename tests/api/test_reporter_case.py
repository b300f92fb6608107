"""The reporter's case by locator: what they see, replies, withdrawal, one answer for strangers."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.crypto.envelope import open_as, parse_envelope, seal
from gateway.crypto.keys import key_id
from gateway.crypto.message import MessageContent
from gateway.domain.hotline import Hotline
from gateway.store.records import CaseStatus, MessageKind
from tests.api.reporter_support import (
    AnonymousReporter,
    Client,
    case_id_of,
    investigator_writes,
    lookup_headers,
    outbox,
    proof_header,
    reply_headers,
    reporter_case,
    rows,
    sealed,
    solved_proof,
    submit_tip,
    vet_with_account,
)
from tests.fixtures.organisation import Organisation, VettedPerson


async def test_the_reporter_sees_their_tip_and_follow_ups_but_no_notes_and_no_internals(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "investigator", "triage")
    reporter = await submit_tip(client, [person], body="de tip")
    await investigator_writes(hotline, person, reporter, "followup", "Welke school?")
    await investigator_writes(hotline, person, reporter, "note", "intern: lijkt serieus")
    case_id = await case_id_of(hotline, reporter)
    async with hotline.database.transaction() as tx:
        await tx.cases.set_status(case_id, CaseStatus.REFERRED, at=datetime.now(UTC))
        await tx.cases.assign(case_id, uuid.UUID(person.investigator_id), at=datetime.now(UTC))

    view = await reporter_case(client, reporter)

    assert set(view) == {"v", "case", "status", "messages", "attachments", "investigators"}
    assert view["case"] == str(case_id)
    # "referred" and the assignee stay inside: the reporter's device may be seen by others.
    assert view["status"] == "in_progress"
    assert person.investigator_id in view["investigators"]
    assert view["attachments"] == []
    messages = view["messages"]
    assert isinstance(messages, list)
    assert [m["seq"] for m in messages] == [1, 2]
    bodies = [open_as(parse_envelope(m["envelope"]), reporter.keys).body for m in messages]
    assert bodies == ["de tip", "Welke school?"]


async def test_a_wrong_code_and_a_withdrawn_case_get_the_same_answer_byte_for_byte(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    withdrawn = await submit_tip(client, [person])
    response = await client.delete(
        "/api/v1/reporter/case", headers=await lookup_headers(client, withdrawn)
    )
    assert response.status == 204

    wrong = await client.get(
        "/api/v1/reporter/case", headers=await lookup_headers(client, AnonymousReporter())
    )
    missing = await client.get(
        "/api/v1/reporter/case", headers=await lookup_headers(client, withdrawn)
    )

    assert wrong.status == missing.status == 404
    assert await wrong.read() == await missing.read()
    assert (await wrong.json())["error"]["code"] == "case_not_found"
    assert dict(_stable(wrong.headers)) == dict(_stable(missing.headers))


def _stable(headers: Any) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k.lower() not in {"date"}]


TIMING_ROUNDS = 30


async def test_a_wrong_code_and_a_missing_case_take_the_same_time(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    """Median over 30 interleaved look-ups each; proofs are solved before the clock starts.

    The server has one code path for both (a keyed-hash look-up that finds no row), so any
    difference is noise: the bound is generous (a quarter of the slower median plus 2 ms)
    and still far below what a branch that loads a case would cost.
    """
    person = await vet_with_account(hotline, organisation, "triage")
    gone = await submit_tip(client, [person])
    deleted = await client.delete(
        "/api/v1/reporter/case", headers=await lookup_headers(client, gone)
    )
    assert deleted.status == 204
    timings: dict[str, list[float]] = {"wrong": [], "missing": []}
    for _ in range(TIMING_ROUNDS):
        for label, reporter in (("wrong", AnonymousReporter()), ("missing", gone)):
            headers = await lookup_headers(client, reporter)
            started = time.perf_counter()
            response = await client.get("/api/v1/reporter/case", headers=headers)
            await response.read()
            timings[label].append(time.perf_counter() - started)
            assert response.status == 404
    wrong, missing = (statistics.median(timings[k]) for k in ("wrong", "missing"))
    print(f"median of {TIMING_ROUNDS}: wrong {wrong * 1e3:.2f} ms, missing {missing * 1e3:.2f} ms")
    assert abs(wrong - missing) <= 0.25 * max(wrong, missing) + 0.002, (wrong, missing)


async def test_without_a_locator_or_a_proof_nothing_is_looked_up(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    reporter = await submit_tip(client, [person])
    proof = proof_header(await solved_proof(client, "lookup"))

    no_locator = await client.get("/api/v1/reporter/case", headers=proof)
    bad_locator = await client.get(
        "/api/v1/reporter/case", headers={**proof, "Authorization": "Locator abc"}
    )
    no_proof = await client.get("/api/v1/reporter/case", headers=reporter.authorization)
    garbled_proof = await client.get(
        "/api/v1/reporter/case",
        headers={**reporter.authorization, "X-Tipline-Proof": "not json"},
    )
    wrong_purpose = await client.get(
        "/api/v1/reporter/case",
        headers={**reporter.authorization, **proof_header(await solved_proof(client, "submit"))},
    )

    assert (no_locator.status, bad_locator.status) == (401, 401)
    for refused in (no_proof, garbled_proof, wrong_purpose):
        assert refused.status == 403
        assert (await refused.json())["error"]["code"] == "bad_proof_of_work"


async def test_a_lookup_proof_is_spent_once(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    reporter = await submit_tip(client, [person])
    headers = await lookup_headers(client, reporter)

    first = await client.get("/api/v1/reporter/case", headers=headers)
    second = await client.get("/api/v1/reporter/case", headers=headers)

    assert (first.status, second.status) == (200, 403)


def _reply_readers(person: VettedPerson, reporter: AnonymousReporter) -> list[bytes]:
    return [person.keys.enc.public, reporter.keys.public]


async def test_a_reply_is_stored_for_the_case_with_its_outbox_row_and_shown_back(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    reporter = await submit_tip(client, [person])
    case_id = await case_id_of(hotline, reporter)
    envelope = sealed(
        "reply", _reply_readers(person, reporter), body="Het Lyceum", case=str(case_id)
    )

    response = await client.post(
        "/api/v1/reporter/messages",
        json={"v": 1, "envelope": envelope.to_json()},
        headers=await reply_headers(client, reporter),
    )

    assert response.status == 201
    assert await response.json() == {"v": 1, "seq": 2}
    async with hotline.database.transaction(read_only=True) as tx:
        messages = await tx.messages.list_for_case(case_id)
        recipients = await tx.messages.recipients(messages[-1].id)
    assert [m.kind for m in messages] == [MessageKind.TIP, MessageKind.REPLY]
    assert {r.key_id for r in recipients} == {person.keys.enc.kid, key_id(reporter.keys.public)}
    assert open_as(parse_envelope(messages[-1].envelope), person.keys.enc).body == "Het Lyceum"
    assert [(t, p.get("kind")) for t, p, _ in await outbox(hotline.database)] == [
        ("case.created", None),
        ("message.created", "reply"),
    ]
    view = await reporter_case(client, reporter)
    assert [m["seq"] for m in view["messages"]] == [1, 2]  # type: ignore[index, union-attr]


REPLY_REFUSALS = [
    "names another case",
    "misses the investigator",
    "adds a stranger",
    "is a tip",
    "is an investigator's kind",
    "has no proof",
    "has a proof for another purpose",
    "carries its proof in the body",
    "comes with a wrong code",
]


@pytest.mark.parametrize("refusal", REPLY_REFUSALS)
async def test_a_refused_reply_changes_nothing(
    client: Client, hotline: Hotline, organisation: Organisation, refusal: str
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    reporter = await submit_tip(client, [person])
    case = str(await case_id_of(hotline, reporter))
    readers = _reply_readers(person, reporter)
    envelope = {
        "names another case": lambda: sealed("reply", readers, case=str(uuid.uuid4())),
        "misses the investigator": lambda: sealed("reply", [reporter.keys.public], case=case),
        "adds a stranger": lambda: sealed("reply", [*readers, os.urandom(32)], case=case),
        "is a tip": lambda: sealed("tip", readers),
        "is an investigator's kind": lambda: seal(
            MessageContent(kind="followup", body="?", created=int(time.time())),
            recipients=readers,
            case=case,
            signer=person.keys.sig,
        ),
    }.get(refusal, lambda: sealed("reply", readers, case=case))()
    purpose = "lookup" if refusal == "has a proof for another purpose" else "reply"
    body: dict[str, Any] = {"v": 1, "envelope": envelope.to_json()}
    sender = AnonymousReporter() if refusal == "comes with a wrong code" else reporter
    headers = dict(sender.authorization)
    if refusal != "has no proof":
        headers.update(proof_header(await solved_proof(client, purpose)))
    if refusal == "carries its proof in the body":  # where it used to go: an unknown field now
        body["pow"] = await solved_proof(client, "reply")
    before = await rows(hotline.database)

    response = await client.post("/api/v1/reporter/messages", json=body, headers=headers)

    expected = {
        "names another case": 400,
        "misses the investigator": 422,
        "adds a stranger": 422,
        "is a tip": 400,
        "is an investigator's kind": 400,
        "has no proof": 403,
        "has a proof for another purpose": 403,
        "carries its proof in the body": 400,
        "comes with a wrong code": 404,
    }[refusal]
    assert response.status == expected, await response.text()
    assert await rows(hotline.database) == before


async def test_withdrawing_purges_the_case_and_leaves_a_content_free_record(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    reporter = await submit_tip(client, [person])
    await investigator_writes(hotline, person, reporter, "followup", "Nog iets?")
    case_id = await case_id_of(hotline, reporter)

    response = await client.delete(
        "/api/v1/reporter/case", headers=await lookup_headers(client, reporter)
    )

    assert response.status == 204
    counts = await rows(hotline.database)
    for table in ("cases", "messages", "message_recipients", "inbox_entries", "attachments"):
        assert counts[table] == 0, table
    assert [(t, c) for t, _, c in await outbox(hotline.database)] == [("case.withdrawn", case_id)]
    trail = await hotline.audit.for_case(hotline.database, case_id)
    assert [(e.action, dict(e.details)) for e in trail] == [
        ("case.withdrawn", {"messages": 2, "attachments": 0})
    ]
    again = await client.get(
        "/api/v1/reporter/case", headers=await lookup_headers(client, reporter)
    )
    assert again.status == 404


async def test_withdrawing_with_a_wrong_code_changes_nothing(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vet_with_account(hotline, organisation, "triage")
    await submit_tip(client, [person])
    before = await rows(hotline.database)

    response = await client.delete(
        "/api/v1/reporter/case", headers=await lookup_headers(client, AnonymousReporter())
    )

    assert response.status == 404
    assert (await response.json())["error"]["code"] == "case_not_found"
    assert await rows(hotline.database) == before
