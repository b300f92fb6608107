"""Enrollment: an invite is used once, before it expires, and a refusal changes nothing."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.crypto import totp
from gateway.crypto.encoding import JsonObject, b64decode, b64encode
from gateway.crypto.kdf import MIB, V1_PARAMS, KdfParams
from gateway.crypto.keybundle import LoginKeys, new_salt, seal_investigator_keys
from gateway.crypto.keys import InvestigatorKeys, fingerprint
from gateway.domain.enrollment import create_invite, invite_token_hash
from gateway.domain.hotline import Hotline
from gateway.domain.login import STAND_IN_USERNAME
from gateway.store.records import EnrollmentStatus, InvestigatorStatus
from tests.api.investigator_support import Client
from tests.unit.store.builders import count_rows


def enrollment_body(
    invite: str,
    *,
    username: str = "alice",
    keys: InvestigatorKeys | None = None,
    kdf: KdfParams = V1_PARAMS,
    code_offset: int = 0,
) -> tuple[JsonObject, bytes]:
    keys = keys or InvestigatorKeys.generate()
    login = LoginKeys(auth_key=secrets.token_bytes(32), wrap_key=secrets.token_bytes(32))
    bundle = seal_investigator_keys(keys, login, salt=new_salt(), kdf=kdf)
    secret = totp.new_secret()
    code = totp.code_at(secret, time.time() + code_offset)
    body: JsonObject = {
        "invite": invite,
        "username": username,
        "display_name": "Alice de Vries",
        "enc_pk": b64encode(keys.enc.public),
        "sig_pk": b64encode(keys.sig.public),
        "key_bundle": bundle.to_json(),
        "auth_key": b64encode(login.auth_key),
        "totp_secret": b64encode(secret),
        "totp_code": code,
    }
    return body, secret


async def test_an_invite_enrolls_a_pending_account_with_its_keys(
    client: Client, hotline: Hotline
) -> None:
    invite = await create_invite(hotline, roles=["triage", "investigator"], created_by=None)
    keys = InvestigatorKeys.generate()
    body, secret = enrollment_body(invite.token, username="  Alice ", keys=keys)

    response = await client.post("/api/v1/enroll", json=body)

    assert response.status == 201, await response.text()
    answer = await response.json()
    assert answer["status"] == "pending"
    assert answer["username"] == "alice"
    assert answer["enc_fingerprint"] == fingerprint(keys.enc.public)
    assert answer["sig_fingerprint"] == fingerprint(keys.sig.public)
    async with hotline.database.transaction(read_only=True) as tx:
        account = await tx.investigators.find_by_username("alice")
        assert account is not None
        enrollment = await tx.enrollments.latest_for_investigator(account.id)
        used = await tx.invites.get(invite.invite.id)
    assert account.status is InvestigatorStatus.PENDING
    assert account.roles == ("investigator", "triage")
    assert enrollment is not None
    assert enrollment.status is EnrollmentStatus.PENDING
    assert used is not None
    assert used.used_at is not None
    # The server keeps neither the auth key nor the TOTP secret as sent.
    assert b64decode(str(body["auth_key"]), what="auth key") != account.auth_key_hash
    assert secret not in account.totp_secret_sealed


async def test_an_invite_works_only_once(client: Client, hotline: Hotline) -> None:
    invite = await create_invite(hotline, roles=["investigator"], created_by=None)
    first, _ = enrollment_body(invite.token, username="first")
    assert (await client.post("/api/v1/enroll", json=first)).status == 201
    before = await count_rows(hotline.database)

    second, _ = enrollment_body(invite.token, username="second")
    response = await client.post("/api/v1/enroll", json=second)

    assert response.status == 403
    assert (await response.json())["error"]["code"] == "invite_not_usable"
    assert await count_rows(hotline.database) == before


async def test_an_expired_invite_is_refused_and_changes_nothing(
    client: Client, hotline: Hotline
) -> None:
    token = "expired-invite-token"
    now = datetime.now(UTC)
    async with hotline.database.transaction() as tx:
        await tx.invites.create(
            token_hash=invite_token_hash(token, hotline.pepper),
            roles=["investigator"],
            created_by=None,
            at=now - timedelta(days=4),
            expires_at=now - timedelta(seconds=1),
        )
    before = await count_rows(hotline.database)

    body, _ = enrollment_body(token)
    response = await client.post("/api/v1/enroll", json=body)

    assert response.status == 403
    assert (await response.json())["error"]["code"] == "invite_not_usable"
    assert await count_rows(hotline.database) == before


async def test_an_unknown_invite_is_refused_like_a_used_one(client: Client) -> None:
    body, _ = enrollment_body("no-such-invite")
    response = await client.post("/api/v1/enroll", json=body)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "invite_not_usable"


async def test_a_code_that_does_not_match_the_new_secret_is_refused_and_the_invite_kept(
    client: Client, hotline: Hotline
) -> None:
    invite = await create_invite(hotline, roles=["investigator"], created_by=None)
    before = await count_rows(hotline.database)
    body, _ = enrollment_body(invite.token, code_offset=-300)

    response = await client.post("/api/v1/enroll", json=body)

    assert response.status == 422
    assert (await response.json())["error"]["code"] == "totp_not_confirmed"
    assert await count_rows(hotline.database) == before
    fixed, _ = enrollment_body(invite.token)
    assert (await client.post("/api/v1/enroll", json=fixed)).status == 201


async def test_a_taken_username_is_refused_and_the_invite_stays_usable(
    client: Client, hotline: Hotline
) -> None:
    first = await create_invite(hotline, roles=["investigator"], created_by=None)
    body, _ = enrollment_body(first.token, username="bob")
    assert (await client.post("/api/v1/enroll", json=body)).status == 201
    second = await create_invite(hotline, roles=["investigator"], created_by=None)
    before = await count_rows(hotline.database)

    taken, _ = enrollment_body(second.token, username="BOB")
    response = await client.post("/api/v1/enroll", json=taken)

    assert response.status == 409
    assert (await response.json())["error"]["code"] == "username_taken"
    assert await count_rows(hotline.database) == before
    other, _ = enrollment_body(second.token, username="bob2")
    assert (await client.post("/api/v1/enroll", json=other)).status == 201


async def test_a_key_bundle_with_weak_kdf_parameters_is_refused(
    client: Client, hotline: Hotline
) -> None:
    invite = await create_invite(hotline, roles=["investigator"], created_by=None)
    body, _ = enrollment_body(invite.token, kdf=KdfParams(opslimit=1, memlimit=8 * MIB))
    before = await count_rows(hotline.database)

    response = await client.post("/api/v1/enroll", json=body)

    assert response.status == 422
    assert (await response.json())["error"]["code"] == "weak_kdf_parameters"
    assert await count_rows(hotline.database) == before


async def test_malformed_enrollments_are_refused_before_anything_is_touched(
    client: Client, hotline: Hotline
) -> None:
    invite = await create_invite(hotline, roles=["investigator"], created_by=None)
    body, _ = enrollment_body(invite.token)
    before = await count_rows(hotline.database)
    broken: list[Any] = [
        {**body, "extra": 1},
        {**body, "enc_pk": "short"},
        {**body, "sig_pk": body["enc_pk"]},
        {**body, "username": "x"},
        {**body, "display_name": "\u0007bell"},
        {**body, "totp_secret": b64encode(bytes(8))},
        {key: value for key, value in body.items() if key != "auth_key"},
    ]
    for candidate in broken:
        response = await client.post("/api/v1/enroll", json=candidate)
        assert response.status in {400, 422}, candidate
    assert await count_rows(hotline.database) == before


async def test_two_first_enrollments_at_once_both_succeed(client: Client, hotline: Hotline) -> None:
    """The first enrollment also adds the login stand-in; two racing for it must not fail."""
    invites = [await create_invite(hotline, roles=["triage"], created_by=None) for _ in range(2)]
    bodies = [
        enrollment_body(invite.token, username=f"first{n}")[0] for n, invite in enumerate(invites)
    ]

    responses = await asyncio.gather(*(client.post("/api/v1/enroll", json=b) for b in bodies))

    assert [response.status for response in responses] == [201, 201]
    async with hotline.database.transaction(read_only=True) as tx:
        stand_in = await tx.investigators.find_by_username(STAND_IN_USERNAME)
    assert stand_in is not None
    assert stand_in.status is InvestigatorStatus.REVOKED


async def test_nobody_can_name_the_login_stand_in(client: Client, hotline: Hotline) -> None:
    invite = await create_invite(hotline, roles=["triage"], created_by=None)
    body, _ = enrollment_body(invite.token)
    assert (await client.post("/api/v1/enroll", json=body)).status == 201
    for path, payload in (
        ("/api/v1/auth/prelogin", {"username": STAND_IN_USERNAME}),
        ("/api/v1/auth/login", {"username": STAND_IN_USERNAME, "auth_key": "A" * 43, "totp": "1"}),
    ):
        assert (await client.post(path, json=payload)).status == 400
