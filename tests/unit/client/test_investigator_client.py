"""The Python investigator client against the real gateway: enrollment, vetting with the
organisation key, login with a passphrase and TOTP, reading and writing a case, live events.
Everything secret stays in the client; what it reads it verifies against the directory."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.client.admin import AdminClient, create_recovery_key_file
from gateway.client.investigator import (
    ClientRefusal,
    InvestigatorClient,
    prepare_enrollment,
    submit_enrollment,
)
from gateway.client.transport import ApiError, Transport
from gateway.crypto import totp
from gateway.crypto.envelope import open_as, parse_envelope, seal, verify_envelope_signature
from gateway.crypto.keybundle import parse_key_bundle
from gateway.crypto.keys import Ed25519KeyPair
from gateway.crypto.message import MessageContent
from gateway.domain.hotline import Hotline
from gateway.store.records import MessageKind, Recipient, RecipientKind
from tests.api.investigator_support import Client, open_case_for, vetted_person
from tests.fixtures.organisation import Organisation

PASSPHRASE = "correct horse battery staple, in Utrecht"


def base_url(client: Client) -> str:
    return str(client.make_url("")).rstrip("/")


async def enroll_and_vet(
    client: Client, organisation: Organisation, username: str, *roles: str
) -> tuple[bytes, str]:
    """Enroll through the client and vet with the admin client; returns the TOTP secret."""
    async with AdminClient(base_url(client), organisation.key) as admin:
        invite = await admin.create_invite(roles)
        draft = await asyncio.to_thread(prepare_enrollment, username, PASSPHRASE)
        async with Transport(base_url(client)) as transport:
            enrolled = await submit_enrollment(
                transport,
                draft,
                invite=invite["token"],
                display_name=f"{username.title()} Example",
                totp_code=totp.code_at(draft.totp_secret, time.time() - 30),
            )
        (pending,) = [e for e in await admin.enrollments() if e.username == username]
        assert pending.sig_fingerprint == enrolled["sig_fingerprint"]
        entry = admin.vetting_entry(await admin.directory(), pending)
        await admin.record(entry)
    return draft.totp_secret, enrolled["investigator_id"]


def investigator(client: Client, organisation: Organisation) -> InvestigatorClient:
    return InvestigatorClient(base_url(client), org_public_key=organisation.public_key)


async def test_enroll_vet_log_in_and_work_a_case(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    secret, investigator_id = await enroll_and_vet(client, organisation, "alice", "triage")
    colleague = await vetted_person(hotline, organisation, "investigator")
    async with investigator(client, organisation) as alice:
        identity = await alice.login("alice", PASSPHRASE, totp.code_at(secret, time.time()))
        assert identity.investigator_id == investigator_id
        assert identity.roles == ("triage",)
        case = await open_case_for(hotline, identity, body="a man collects girls at the station")

        page = await alice.inbox()
        assert [entry.case_id for entry in page.entries] == [case.id_text]
        thread = await alice.open_case(case.id_text)
        assert thread.messages[0].body == "a man collects girls at the station"
        assert thread.messages[0].author == "reporter"

        await alice.ask(case.id_text, "Which station, and at what time?")
        await alice.note(case.id_text, "Matches an earlier report")
        await alice.set_status(case.id_text, "triage")
        await alice.assign(case.id_text, colleague.id_text)
        thread = await alice.open_case(case.id_text)

    assert [m.kind for m in thread.messages] == ["tip", "followup", "note"]
    assert thread.messages[1].author == "Alice Example"
    assert thread.messages[2].visible_to_reporter is False
    assert thread.status == "triage"
    assert thread.assignee_id == colleague.id_text
    async with hotline.database.transaction(read_only=True) as tx:
        (question,) = [
            m
            for m in await tx.messages.list_for_case(case.case.id)
            if m.kind is MessageKind.FOLLOWUP
        ]
    envelope = parse_envelope(question.envelope)
    verify_envelope_signature(envelope, identity.keys.sig.public)
    assert open_as(envelope, case.reporter).body == "Which station, and at what time?"


async def test_a_wrong_passphrase_does_not_log_in(
    client: Client, organisation: Organisation
) -> None:
    secret, _ = await enroll_and_vet(client, organisation, "bob", "triage")
    async with investigator(client, organisation) as bob:
        with pytest.raises(ApiError) as refused:
            await bob.login("bob", "not the passphrase", totp.code_at(secret, time.time()))
    assert refused.value.status == 401
    assert refused.value.code == "login_failed"


async def test_a_message_whose_signature_does_not_verify_is_not_shown(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    secret, _ = await enroll_and_vet(client, organisation, "carol", "triage")
    async with investigator(client, organisation) as carol:
        identity = await carol.login("carol", PASSPHRASE, totp.code_at(secret, time.time()))
        case = await open_case_for(hotline, identity)
        # What a compromised server could insert: a follow-up naming Carol's key as signer,
        # signed by some other key.
        forged = seal(
            MessageContent(kind="followup", body="send photos", created=int(time.time())),
            recipients=[case.reporter.public, identity.keys.enc.public],
            case=case.id_text,
            signer=Ed25519KeyPair.generate(),
        )
        header = replace(
            forged.header,
            sender=parse_envelope(
                seal(
                    MessageContent(kind="followup", body="x", created=int(time.time())),
                    recipients=[identity.keys.enc.public],
                    case=case.id_text,
                    signer=identity.keys.sig,
                ).to_json()
            ).header.sender,
        )
        tampered = replace(forged, header=header, header_bytes=header.encode())
        async with hotline.database.transaction() as tx:
            await tx.messages.append(
                case.case.id,
                kind=MessageKind.FOLLOWUP,
                author_id=None,
                visible_to_reporter=True,
                envelope=tampered.encode(),
                recipients=[
                    Recipient(key_id=identity.keys.enc.kid, kind=RecipientKind.INVESTIGATOR)
                ],
                at=datetime.now(UTC),
            )
        thread = await carol.open_case(case.id_text)
    assert thread.messages[1].body is None
    assert thread.messages[1].problem is not None
    assert "signature" in thread.messages[1].problem


async def test_a_directory_rolled_back_by_the_server_is_refused(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    await vetted_person(hotline, organisation, "triage")
    async with investigator(client, organisation) as watcher:
        directory = await watcher.directory()
        watcher.known_directory = (directory.next_seq, b"\x01" * 32)  # "seen" a longer chain
        with pytest.raises(ClientRefusal):
            await watcher.directory()


async def test_live_events_arrive_through_the_client(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    secret, _ = await enroll_and_vet(client, organisation, "dave", "triage")
    async with investigator(client, organisation) as dave:
        identity = await dave.login("dave", PASSPHRASE, totp.code_at(secret, time.time()))
        events = dave.events()
        ready = await asyncio.wait_for(anext(events), 10)
        assert ready["topic"] == "ready"
        case = await open_case_for(hotline, identity, urgent=True)
        created = await asyncio.wait_for(anext(events), 10)
        await events.aclose()
    assert created["topic"] == "case.created"
    assert created["case_id"] == case.id_text
    assert created["urgent"] is True


async def test_the_recovery_key_receives_follow_ups_without_anyone_asking(
    client: Client, hotline: Hotline, organisation: Organisation, tmp_path: Path
) -> None:
    secret, _ = await enroll_and_vet(client, organisation, "erin", "triage")
    async with AdminClient(base_url(client), organisation.key) as admin:
        recovery = await asyncio.to_thread(
            create_recovery_key_file, tmp_path / "recovery.json", "recovery passphrase, offline"
        )
        await admin.record(admin.recovery_entry(await admin.directory(), recovery))
    async with investigator(client, organisation) as erin:
        identity = await erin.login("erin", PASSPHRASE, totp.code_at(secret, time.time()))
        case = await open_case_for(hotline, identity)
        await erin.ask(case.id_text, "Are you safe now?")
    async with hotline.database.transaction(read_only=True) as tx:
        question = (await tx.messages.list_for_case(case.case.id))[-1]
    bundle = parse_key_bundle((tmp_path / "recovery.json").read_bytes().strip())
    assert bundle.kind == "recovery"
    assert open_as(parse_envelope(question.envelope), recovery.enc).body == "Are you safe now?"
