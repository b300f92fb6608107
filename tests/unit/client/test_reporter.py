"""ReporterClient against a real gateway socket: every step's cryptography on the client."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from gateway.client.attachment_files import AttachmentSource
from gateway.client.directory_pin import OrganisationKeyMismatch, OrganisationPin, PinError
from gateway.client.reporter import ReporterClient, ReporterError, TipDraft
from gateway.client.transport import ApiError, Transport
from gateway.crypto.encoding import b64encode, canonical_json
from gateway.crypto.envelope import open_as, parse_envelope
from gateway.crypto.errors import BadStream
from gateway.crypto.keys import Ed25519KeyPair, X25519KeyPair, fingerprint
from gateway.crypto.message import MessageContent
from gateway.crypto.pickup import PickupCode, derive_reporter_keys
from gateway.crypto.stream import decrypt_stream
from gateway.domain.hotline import Hotline
from gateway.domain.reporter_access import locator_hash
from gateway.store.models import MessageRow
from tests.api.reporter_support import (
    AnonymousReporter,
    investigator_writes,
    rows,
    vet_with_account,
)
from tests.fixtures.organisation import Organisation

Client = TestClient[Any, Any]


@pytest.fixture
async def transport(client: Client) -> AsyncIterator[Transport]:
    """A client transport to the test gateway's real listening socket."""
    async with Transport(str(client.server.make_url("/"))) as opened:
        yield opened


def identity(code: PickupCode, organisation: Organisation) -> AnonymousReporter:
    """What the code derives, in the shape the support helpers take."""
    keys = derive_reporter_keys(code, organisation.public_key)
    return AnonymousReporter(locator=keys.locator, keys=keys.enc)


async def stored_messages(
    hotline: Hotline, reporter: AnonymousReporter, keys: X25519KeyPair
) -> list[MessageContent]:
    """The case's messages as one of its investigators (or the recovery key) reads them."""
    async with hotline.database.transaction(read_only=True) as tx:
        case = await tx.cases.find_by_locator_hash(locator_hash(hotline, reporter.locator))
        assert case is not None
        messages = await tx.messages.list_for_case(case.id)
    return [open_as(parse_envelope(message.envelope), keys) for message in messages]


async def test_a_reporter_submits_reads_the_answer_replies_and_withdraws(
    client: Client,
    hotline: Hotline,
    organisation: Organisation,
    transport: Transport,
    tmp_path: Path,
) -> None:
    triage = await vet_with_account(hotline, organisation, "investigator", "triage")
    recovery = await vet_with_account(hotline, organisation, "recovery", status=None)
    reporter = ReporterClient(transport, organisation.public_key)
    photo = os.urandom(150_000)

    submitted = await reporter.submit(
        TipDraft(
            body="Meisje van 15 wordt opgehaald bij het station.",
            fields={"location": "Utrecht"},
            attachments=[AttachmentSource.from_bytes("station.jpg", photo)],
            urgent=True,
        )
    )

    assert submitted.directory.unverified is False
    assert submitted.attachments == 1
    me = identity(submitted.code, organisation)
    (tip,) = await stored_messages(hotline, me, triage.keys.enc)
    assert (tip.body, dict(tip.fields)) == (
        "Meisje van 15 wordt opgehaald bij het station.",
        {"location": "Utrecht"},
    )
    assert [m.body for m in await stored_messages(hotline, me, recovery.keys.enc)] == [tip.body]
    (ref,) = tip.attachments
    async with hotline.database.transaction(read_only=True) as tx:
        stored = await tx.attachments.get(uuid.UUID(ref.id))
    assert stored is not None
    ciphertext = b"".join([chunk async for chunk in hotline.blobs.read(stored.blob_key)])
    assert b"".join(decrypt_stream(ref.key, [ciphertext])) == photo

    await investigator_writes(hotline, triage, me, "followup", "Welk station?")
    thread = await reporter.open_case(submitted.code.display())

    assert thread.status == "received"
    assert [(m.seq, m.kind, m.author) for m in thread.messages] == [
        (1, "tip", "you"),
        (2, "followup", triage.name),
    ]
    assert thread.withheld == ()
    assert thread.messages[1].content.body == "Welk station?"
    saved = await reporter.download_attachment(thread, ref, tmp_path)
    assert saved.name == "station.jpg"
    assert saved.read_bytes() == photo
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600

    seq = await reporter.reply(
        thread, "Utrecht Centraal", attachments=[AttachmentSource.from_bytes("kaart.png", b"PNG")]
    )

    assert seq == 3
    answer = (await stored_messages(hotline, me, triage.keys.enc))[-1]
    assert (answer.kind, answer.body) == ("reply", "Utrecht Centraal")
    assert [a.name for a in answer.attachments] == ["kaart.png"]

    await reporter.withdraw(submitted.code)

    counts = await rows(hotline.database)
    assert (counts["cases"], counts["messages"], counts["attachments"]) == (0, 0, 0)
    with pytest.raises(ApiError) as gone:
        await reporter.open_case(submitted.code)
    assert (gone.value.status, gone.value.code) == (404, "case_not_found")


async def test_a_download_that_does_not_match_its_reference_is_not_kept(
    client: Client,
    hotline: Hotline,
    organisation: Organisation,
    transport: Transport,
    tmp_path: Path,
) -> None:
    await vet_with_account(hotline, organisation, "triage")
    reporter = ReporterClient(transport, organisation.public_key)
    submitted = await reporter.submit(
        TipDraft(body="x", attachments=[AttachmentSource.from_bytes("a.txt", b"echt")])
    )
    thread = await reporter.open_case(submitted.code)
    (ref,) = thread.attachments
    lying = replace(ref, sha256=bytes(32))
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    with pytest.raises(BadStream, match="not the one the message describes"):
        await reporter.download_attachment(thread, lying, downloads)

    assert sorted(downloads.iterdir()) == []


async def test_messages_whose_author_is_not_vetted_or_whose_signature_fails_are_withheld(
    client: Client, hotline: Hotline, organisation: Organisation, transport: Transport
) -> None:
    triage = await vet_with_account(hotline, organisation, "triage")
    reporter = ReporterClient(transport, organisation.public_key)
    submitted = await reporter.submit(TipDraft(body="tip"))
    me = identity(submitted.code, organisation)
    await investigator_writes(
        hotline, triage, me, "followup", "stuur je adres", signer=Ed25519KeyPair.generate()
    )
    await investigator_writes(hotline, triage, me, "followup", "echt")
    await organisation.revoke(hotline.directory, triage)

    thread = await reporter.open_case(submitted.code)

    assert [m.content.body for m in thread.messages] == ["tip"]
    assert [w.seq for w in thread.withheld] == [2, 3]
    assert {w.reason for w in thread.withheld} == {"its author is not a vetted investigator"}
    assert "stuur je adres" not in repr(thread)


async def test_a_forged_signature_by_a_vetted_key_id_is_withheld(
    client: Client, hotline: Hotline, organisation: Organisation, transport: Transport
) -> None:
    triage = await vet_with_account(hotline, organisation, "triage")
    reporter = ReporterClient(transport, organisation.public_key)
    submitted = await reporter.submit(TipDraft(body="tip"))
    await investigator_writes(
        hotline, triage, identity(submitted.code, organisation), "followup", "?"
    )
    async with hotline.database.transaction() as tx:
        case = await tx.cases.find_by_locator_hash(
            locator_hash(hotline, identity(submitted.code, organisation).locator)
        )
        assert case is not None
        followup = (await tx.messages.list_for_case(case.id))[-1]
    tampered = parse_envelope(followup.envelope).to_json()
    tampered["signature"] = b64encode(os.urandom(64))
    await _replace_envelope(hotline, followup.id, tampered)

    thread = await reporter.open_case(submitted.code)

    assert [(w.seq, w.reason) for w in thread.withheld] == [(2, "its signature does not verify")]


async def _replace_envelope(hotline: Hotline, message_id: uuid.UUID, wire: Any) -> None:
    """What a malicious server could do: swap the stored bytes."""
    async with hotline.database.engine.begin() as connection:
        await connection.execute(
            update(MessageRow)
            .where(MessageRow.id == message_id)
            .values(envelope=canonical_json(wire))
        )


async def test_a_directory_under_another_organisation_key_stops_the_client_before_sending(
    client: Client, hotline: Hotline, organisation: Organisation, transport: Transport
) -> None:
    await vet_with_account(hotline, organisation, "triage")
    impostor_pin = OrganisationPin.of_key(Ed25519KeyPair.generate().public)
    before = await rows(hotline.database)

    with pytest.raises(OrganisationKeyMismatch) as refused:
        await ReporterClient(transport, impostor_pin).submit(TipDraft(body="tip"))

    assert fingerprint(organisation.public_key) in str(refused.value)
    assert "Nothing was sent" in str(refused.value)
    assert await rows(hotline.database) == before


async def test_without_a_pin_the_client_shows_the_fingerprint_and_says_it_is_unverified(
    client: Client, hotline: Hotline, organisation: Organisation, transport: Transport
) -> None:
    directory = await ReporterClient(transport, None).directory()
    assert directory.unverified is True
    assert directory.fingerprint == fingerprint(organisation.public_key)


async def test_without_anyone_vetted_for_triage_the_client_sends_nothing(
    client: Client, hotline: Hotline, organisation: Organisation, transport: Transport
) -> None:
    await vet_with_account(hotline, organisation, "investigator")
    with pytest.raises(ReporterError, match="cannot receive reports yet"):
        await ReporterClient(transport, organisation.public_key).submit(TipDraft(body="tip"))
    assert (await rows(hotline.database))["cases"] == 0


async def test_a_wrong_code_finds_nothing(
    client: Client, hotline: Hotline, organisation: Organisation, transport: Transport
) -> None:
    await vet_with_account(hotline, organisation, "triage")
    with pytest.raises(ApiError) as missing:
        await ReporterClient(transport, organisation.public_key).open_case(PickupCode.generate())
    assert (missing.value.status, missing.value.code) == (404, "case_not_found")


def test_a_pin_is_a_fingerprint_in_any_spelling_or_the_public_key() -> None:
    key = Ed25519KeyPair.generate().public
    printed = fingerprint(key)

    assert OrganisationPin.parse(printed).matches(key)
    assert OrganisationPin.parse(printed.replace("-", " ").upper()).matches(key)
    assert OrganisationPin.parse(b64encode(key)).public_key == key
    assert not OrganisationPin.parse(printed).matches(Ed25519KeyPair.generate().public)
    with pytest.raises(PinError):
        OrganisationPin.parse("not a key")
