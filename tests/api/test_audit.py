"""The audit trail records every investigator and admin action, content-free, and shows a
case's part to the investigators on it."""

from __future__ import annotations

import json
import uuid

from gateway.domain.hotline import Hotline
from gateway.store.records import AuditEntry
from tests.api.emergency_support import Client, set_duty, urgent_case
from tests.api.investigator_support import (
    add_entry,
    bearer,
    enroll_person,
    followup,
    log_in,
    open_case_for,
    revoke_entry,
    vetted_person,
)
from tests.fixtures.organisation import Organisation

CANARY = "canary-audit-content"


async def whole_trail(hotline: Hotline) -> list[AuditEntry]:
    async with hotline.database.transaction(read_only=True) as tx:
        return await tx.audit.list_after(0)


async def test_every_action_on_a_case_is_in_its_audit_trail_without_content(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    lead = await vetted_person(hotline, organisation, "triage", "investigator")
    colleague = await vetted_person(hotline, organisation, "investigator")
    token = await log_in(client, lead)
    case = await open_case_for(hotline, lead, body=CANARY)
    to_all = [case.reporter.public, lead.keys.enc.public]

    steps = [
        await client.get(f"/api/v1/cases/{case.id_text}", headers=bearer(token)),
        await client.post(
            f"/api/v1/cases/{case.id_text}/messages",
            json={"envelope": followup(lead, case, to_all, body=CANARY).to_json()},
            headers=bearer(token),
        ),
        await client.post(
            f"/api/v1/cases/{case.id_text}/messages",
            json={
                "envelope": followup(
                    lead, case, [lead.keys.enc.public], kind="note", body=CANARY
                ).to_json()
            },
            headers=bearer(token),
        ),
        await client.patch(
            f"/api/v1/cases/{case.id_text}",
            json={"status": "triage", "assignee_id": colleague.id_text},
            headers=bearer(token),
        ),
        await client.post(
            f"/api/v1/cases/{case.id_text}/messages",
            json={
                "envelope": followup(
                    lead,
                    case,
                    [*to_all, colleague.keys.enc.public],
                    kind="consent_request",
                    body=CANARY,
                ).to_json()
            },
            headers=bearer(token),
        ),
    ]
    response = await client.get(f"/api/v1/cases/{case.id_text}/audit", headers=bearer(token))

    assert [step.status for step in steps] == [200, 201, 201, 200, 201]
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["case_id"] == case.id_text
    entries = answer["entries"]
    assert [(e["action"], e["actor_id"]) for e in entries] == [
        ("case.open", lead.id_text),
        ("case.ask", lead.id_text),
        ("case.note", lead.id_text),
        ("case.status", lead.id_text),
        ("case.assign", lead.id_text),
        ("case.consent_request", lead.id_text),
    ]
    assert entries[0]["details"] == {"messages": 1}
    assert entries[1]["details"] == {"seq": 2}
    assert entries[3]["details"] == {"from": "new", "to": "triage"}
    assert entries[4]["details"] == {"assignee": colleague.id_text}
    assert all(entry["intact"] for entry in entries)
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    assert CANARY not in json.dumps(answer)
    # The colleague, assigned, is on the case now and reads the same trail.
    colleague_view = await client.get(
        f"/api/v1/cases/{case.id_text}/audit", headers=bearer(await log_in(client, colleague))
    )
    assert (await colleague_view.json())["entries"][: len(entries)] == entries


async def test_acknowledging_and_going_on_duty_are_recorded_with_their_actor(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    token = await log_in(client, triage)
    await set_duty(client, token, True)
    case = await urgent_case(client, hotline, [triage])

    await client.post(f"/api/v1/cases/{case.id}/ack", headers=bearer(token))
    trail = await whole_trail(hotline)

    assert [(e.action, e.actor_id, e.case_id) for e in trail] == [
        ("invite.create", None, None),  # enrollment starts from an invite
        ("directory.add", None, None),
        ("investigator.duty", triage.investigator_id, None),
        ("case.acknowledge", triage.investigator_id, case.id),
    ]


async def test_invites_vetting_and_revocation_are_recorded_with_the_admin_who_did_them(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    admin = await vetted_person(hotline, organisation, "admin")
    token = await log_in(client, admin)
    person = await enroll_person(hotline, "triage")

    invite = await client.post(
        "/api/v1/admin/invites", json={"roles": ["investigator"]}, headers=bearer(token)
    )
    vetted = await client.post(
        "/api/v1/admin/directory",
        json=(await add_entry(hotline, organisation, person)).to_json(),
        headers=bearer(token),
    )
    revoked = await client.post(
        "/api/v1/admin/directory",
        json=(await revoke_entry(hotline, organisation, person)).to_json(),
        headers=bearer(token),
    )

    assert [invite.status, vetted.status, revoked.status] == [201, 201, 201]
    trail = await whole_trail(hotline)
    by_admin = [(e.action, e.details) for e in trail if e.actor_id == admin.investigator_id]
    assert by_admin == [
        ("invite.create", {"invite": (await invite.json())["invite_id"], "roles": "investigator"}),
        ("directory.add", {"seq": 2, "investigator": person.id_text, "roles": "triage"}),
        ("directory.revoke", {"seq": 3, "investigator": person.id_text, "roles": ""}),
    ]
    # The admin's own invite and vetting, and the invite behind `person`, came from the
    # organisation key (no account acted).
    assert [(e.action, e.actor_id) for e in trail[:3]] == [
        ("invite.create", None),
        ("directory.add", None),
        ("invite.create", None),
    ]
    assert (await hotline.audit.verify(hotline.database)).intact


async def test_a_case_not_yours_has_no_audit_trail_to_read(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    owner = await vetted_person(hotline, organisation, "triage")
    outsider = await vetted_person(hotline, organisation, "investigator")
    case = await open_case_for(hotline, owner)
    token = await log_in(client, outsider)

    not_yours = await client.get(f"/api/v1/cases/{case.id_text}/audit", headers=bearer(token))
    missing = await client.get(f"/api/v1/cases/{uuid.uuid4()}/audit", headers=bearer(token))
    client.session.cookie_jar.clear()
    anonymous = await client.get(f"/api/v1/cases/{case.id_text}/audit")

    assert not_yours.status == missing.status == 404
    assert await not_yours.json() == await missing.json()
    assert anonymous.status == 401
