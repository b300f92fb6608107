"""Admin authority and vetting: invites, enrollments, and directory entries through the API.

Admin authority is an admin's session or a request signed with the offline organisation key
(fresh, single-use). Only entries that verify against the chain are recorded, and recording
one activates or revokes the account it names in the same step.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from gateway.crypto.directory import sign_entry
from gateway.crypto.encoding import b64encode
from gateway.crypto.keys import Ed25519KeyPair, InvestigatorKeys
from gateway.crypto.organisation_request import sign_organisation_request
from gateway.domain.hotline import Hotline
from gateway.store.records import EnrollmentStatus, InvestigatorStatus
from tests.api.investigator_support import (
    Client,
    add_entry,
    bearer,
    enroll_person,
    log_in,
    open_case_for,
    revoke_entry,
    vetted_person,
)
from tests.fixtures.organisation import Organisation
from tests.unit.store.builders import count_rows

INVITES = "/api/v1/admin/invites"
DIRECTORY = "/api/v1/admin/directory"
ENROLLMENTS = "/api/v1/admin/enrollments"


def signed_by(
    key: Ed25519KeyPair, method: str, target: str, body: bytes = b"", *, at: float | None = None
) -> dict[str, str]:
    credential = sign_organisation_request(
        key, method=method, target=target, body=body, now=int(at or time.time())
    )
    return {"Authorization": f"Organisation {credential}", "Content-Type": "application/json"}


async def org_post(client: Client, organisation: Organisation, path: str, payload: Any) -> Any:
    body = json.dumps(payload).encode()
    return await client.post(
        path, data=body, headers=signed_by(organisation.key, "POST", path, body)
    )


async def test_the_organisation_key_can_invite_the_first_admin(
    client: Client, organisation: Organisation
) -> None:
    response = await org_post(client, organisation, INVITES, {"roles": ["admin", "triage"]})
    assert response.status == 201, await response.text()
    answer = await response.json()
    assert answer["roles"] == ["admin", "triage"]
    assert len(answer["token"]) == 43


async def test_a_signed_request_cannot_be_replayed(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    body = json.dumps({"roles": ["triage"]}).encode()
    headers = signed_by(organisation.key, "POST", INVITES, body)
    assert (await client.post(INVITES, data=body, headers=headers)).status == 201
    before = await count_rows(hotline.database)

    replayed = await client.post(INVITES, data=body, headers=headers)

    assert replayed.status == 401
    assert (await replayed.json())["error"]["code"] == "organisation_signature_refused"
    assert await count_rows(hotline.database) == before


async def test_stale_foreign_or_mismatched_signatures_are_refused(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    body = json.dumps({"roles": ["triage"]}).encode()
    other = Ed25519KeyPair.generate()
    attempts = [
        signed_by(organisation.key, "POST", INVITES, body, at=time.time() - 600),
        signed_by(organisation.key, "POST", INVITES, body, at=time.time() + 600),
        signed_by(other, "POST", INVITES, body),
        signed_by(organisation.key, "POST", DIRECTORY, body),
        signed_by(organisation.key, "POST", INVITES, b'{"roles":["admin"]}'),
        {"Authorization": "Organisation garbage", "Content-Type": "application/json"},
        {"Content-Type": "application/json"},
    ]
    before = await count_rows(hotline.database)
    for headers in attempts:
        response = await client.post(INVITES, data=body, headers=headers)
        assert response.status == 401, headers
    assert await count_rows(hotline.database) == before


async def test_an_admin_session_may_invite_and_others_may_not(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    admin = await vetted_person(hotline, organisation, "admin")
    triage = await vetted_person(hotline, organisation, "triage")
    admin_token = await log_in(client, admin)
    triage_token = await log_in(client, triage)

    allowed = await client.post(
        INVITES, json={"roles": ["investigator"]}, headers=bearer(admin_token)
    )
    refused = await client.post(
        INVITES, json={"roles": ["investigator"]}, headers=bearer(triage_token)
    )

    assert allowed.status == 201
    assert refused.status == 403
    async with hotline.database.transaction(read_only=True) as tx:
        invite = await tx.invites.get(uuid.UUID((await allowed.json())["invite_id"]))
    assert invite is not None
    assert invite.created_by == admin.investigator_id


async def test_invites_for_unknown_roles_or_the_recovery_role_are_refused(
    client: Client, organisation: Organisation
) -> None:
    for roles in (["recovery"], ["boss"], []):
        response = await org_post(client, organisation, INVITES, {"roles": roles})
        assert response.status == 400, roles


async def test_pending_enrollments_show_their_key_fingerprints(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await enroll_person(hotline, "triage")

    response = await client.get(
        ENROLLMENTS, headers=signed_by(organisation.key, "GET", ENROLLMENTS)
    )

    assert response.status == 200
    (listed,) = (await response.json())["enrollments"]
    assert listed["investigator_id"] == person.id_text
    assert listed["roles_requested"] == ["triage"]
    assert listed["enc_pk"] == b64encode(person.keys.enc.public)
    assert len(listed["sig_fingerprint"].split("-")) == 10
    one = f"{ENROLLMENTS}/{person.enrollment_id}"
    single = await client.get(one, headers=signed_by(organisation.key, "GET", one))
    assert (await single.json()) == listed


async def test_vetting_through_the_api_activates_the_account(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await enroll_person(hotline, "triage", "investigator")
    signed = await add_entry(hotline, organisation, person)

    response = await org_post(client, organisation, DIRECTORY, signed.to_json())

    assert response.status == 201, await response.text()
    assert (await response.json())["seq"] == 1
    async with hotline.database.transaction(read_only=True) as tx:
        account = await tx.investigators.get(person.investigator_id)
        enrollment = await tx.enrollments.get(person.enrollment_id)
    assert account is not None
    assert account.status is InvestigatorStatus.ACTIVE
    assert enrollment is not None
    assert enrollment.status is EnrollmentStatus.VETTED
    assert (await hotline.directory.vetted()).by_id(person.id_text) is not None
    await log_in(client, person)


async def test_an_entry_signed_by_another_key_is_refused_and_changes_nothing(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await enroll_person(hotline, "triage")
    directory = await hotline.directory.current()
    entry = directory.add_entry(
        investigator_id=person.id_text,
        name="Mallory",
        roles=["triage"],
        enc_pk=person.keys.enc.public,
        sig_pk=person.keys.sig.public,
        not_after=int(time.time()) + 3600,
    )
    forged = sign_entry(Ed25519KeyPair.generate(), entry)
    before = await count_rows(hotline.database)

    response = await org_post(client, organisation, DIRECTORY, forged.to_json())

    assert response.status == 422
    assert (await response.json())["error"]["code"] == "bad_directory"
    assert await count_rows(hotline.database) == before
    async with hotline.database.transaction(read_only=True) as tx:
        account = await tx.investigators.get(person.investigator_id)
    assert account is not None
    assert account.status is InvestigatorStatus.PENDING


async def test_an_entry_with_other_keys_than_the_enrollment_is_refused(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await enroll_person(hotline, "triage")
    person.keys = InvestigatorKeys.generate()  # not the keys the account enrolled with
    signed = await add_entry(hotline, organisation, person)
    before = await count_rows(hotline.database)

    response = await org_post(client, organisation, DIRECTORY, signed.to_json())

    assert response.status == 409
    assert (await response.json())["error"]["code"] == "entry_does_not_match_account"
    assert await count_rows(hotline.database) == before


async def test_posting_entries_needs_admin_authority(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await enroll_person(hotline, "triage")
    signed = await add_entry(hotline, organisation, person)
    response = await client.post(DIRECTORY, json=signed.to_json())
    assert response.status == 401
    assert (await hotline.directory.current()).entries == ()


async def test_revocation_ends_sessions_at_once_and_empties_the_inbox(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    colleague = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, person, colleague)
    token = await log_in(client, person)
    assert (await client.get("/api/v1/inbox", headers=bearer(token))).status == 200

    response = await org_post(
        client,
        organisation,
        DIRECTORY,
        (await revoke_entry(hotline, organisation, person)).to_json(),
    )

    assert response.status == 201
    assert (await client.get("/api/v1/inbox", headers=bearer(token))).status == 401
    assert await hotline.broker.get_session(token) is None
    async with hotline.database.transaction(read_only=True) as tx:
        account = await tx.investigators.get(person.investigator_id)
        on_case = await tx.inbox.investigators_of_case(case.case.id)
    assert account is not None
    assert account.status is InvestigatorStatus.REVOKED
    assert on_case == [colleague.investigator_id]
    login = await client.post(
        "/api/v1/auth/login",
        json={
            "username": person.username,
            "auth_key": b64encode(person.auth_key),
            "totp": person.fresh_code(),
        },
    )
    assert login.status == 401
