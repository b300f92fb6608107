"""Steps the reporter API tests share: vetted people with accounts, proofs, tips, row counts.

Tips are sealed with the real `gateway.crypto` code; a test reporter gets a random locator
and key pair instead of an Argon2id derivation (the server cannot tell the difference, and
the tests stay fast). The client library's own tests derive real codes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from gateway.crypto.encoding import JsonObject, b64encode, canonical_json
from gateway.crypto.envelope import Envelope, seal
from gateway.crypto.keys import Ed25519KeyPair, X25519KeyPair
from gateway.crypto.message import AttachmentRef, MessageContent
from gateway.crypto.pickup import Locator
from gateway.crypto.pow import parse_challenge, solve
from gateway.domain.hotline import Hotline
from gateway.domain.reporter_access import locator_hash
from gateway.store import Database
from gateway.store.models import OutboxRow
from gateway.store.records import InvestigatorStatus, MessageKind, Recipient, RecipientKind
from tests.fixtures.organisation import Organisation, VettedPerson
from tests.unit.store.builders import count_rows

Client = TestClient[Any, Any]
PROOF_HEADER = "X-Tipline-Proof"


@dataclass(frozen=True)
class AnonymousReporter:
    """What a pickup code would derive: a locator and an X25519 key pair."""

    locator: Locator = field(default_factory=lambda: Locator(os.urandom(32)))
    keys: X25519KeyPair = field(default_factory=X25519KeyPair.generate)

    @property
    def authorization(self) -> dict[str, str]:
        return {"Authorization": f"Locator {self.locator.encoded()}"}


async def vet_with_account(
    hotline: Hotline,
    organisation: Organisation,
    *roles: str,
    status: InvestigatorStatus | None = InvestigatorStatus.ACTIVE,
) -> VettedPerson:
    """Vet a person through the real directory and, unless `status` is None, give them an
    account row under the same id (as enrollment does before vetting)."""
    person = await organisation.vet(hotline.directory, *roles)
    if status is not None:
        async with hotline.database.transaction() as tx:
            await tx.investigators.create(
                username=f"inv-{uuid.uuid4().hex[:8]}",
                display_name=person.name,
                roles=person.roles,
                enc_public_key=person.keys.enc.public,
                sig_public_key=person.keys.sig.public,
                auth_salt=os.urandom(16),
                kdf_params={"alg": "argon2id13", "opslimit": 3, "memlimit": 67108864},
                auth_key_hash=os.urandom(32),
                key_bundle=os.urandom(200),
                totp_secret_sealed=os.urandom(60),
                at=datetime.now(UTC),
                status=status,
                investigator_id=uuid.UUID(person.investigator_id),
            )
    return person


async def solved_proof(client: Client, purpose: str) -> JsonObject:
    response = await client.get("/api/v1/pow", params={"purpose": purpose})
    assert response.status == 200, await response.text()
    return solve(parse_challenge(await response.json())).to_json()


def proof_header(proof: JsonObject) -> dict[str, str]:
    """The proof as every paying request carries it: in `X-Tipline-Proof`, never in a body."""
    return {PROOF_HEADER: b64encode(canonical_json(proof))}


async def submit_headers(client: Client) -> dict[str, str]:
    """What a new tip (or an upload for it) carries: a fresh proof for "submit"."""
    return proof_header(await solved_proof(client, "submit"))


async def lookup_headers(client: Client, reporter: AnonymousReporter) -> dict[str, str]:
    return {**reporter.authorization, **proof_header(await solved_proof(client, "lookup"))}


async def reply_headers(client: Client, reporter: AnonymousReporter) -> dict[str, str]:
    """What a reply or a consent answer carries: the case's locator and a proof for "reply"."""
    return {**reporter.authorization, **proof_header(await solved_proof(client, "reply"))}


def sealed(
    kind: str,
    recipients: Iterable[bytes],
    *,
    body: str = "Er staat een busje bij de school.",
    case: str | None = None,
    attachments: Sequence[AttachmentRef] = (),
    fields: dict[str, str] | None = None,
) -> Envelope:
    content = MessageContent(
        kind=kind,
        body=body,
        created=int(time.time()),
        fields=fields or {},
        attachments=tuple(attachments),
    )
    return seal(content, recipients=list(recipients), case=case)


def tip_recipients(people: Iterable[VettedPerson], reporter: AnonymousReporter) -> list[bytes]:
    return [person.keys.enc.public for person in people] + [reporter.keys.public]


def tip_body(
    reporter: AnonymousReporter,
    envelope: Envelope,
    *,
    urgent: bool = False,
    attachments: Sequence[str] = (),
) -> JsonObject:
    """A tip's JSON body; its proof of work goes in the headers (`submit_headers`)."""
    body: JsonObject = {
        "v": 1,
        "locator": reporter.locator.encoded(),
        "reporter_pk": b64encode(reporter.keys.public),
        "urgent": urgent,
        "envelope": envelope.to_json(),
    }
    if attachments:
        body["attachments"] = list(attachments)
    return body


async def submit_tip(
    client: Client,
    people: Iterable[VettedPerson],
    reporter: AnonymousReporter | None = None,
    **options: Any,
) -> AnonymousReporter:
    """Submit a well-formed tip for these recipients and insist on 201.

    `attachments` lists upload ids in the body, `refs` puts attachment references inside.
    """
    reporter = reporter or AnonymousReporter()
    attachments = options.pop("attachments", ())
    refs = options.pop("refs", ())
    envelope = sealed("tip", tip_recipients(people, reporter), attachments=refs, **options)
    response = await client.post(
        "/api/v1/cases",
        json=tip_body(reporter, envelope, attachments=attachments),
        headers=await submit_headers(client),
    )
    assert response.status == 201, await response.text()
    return reporter


async def reporter_case(client: Client, reporter: AnonymousReporter) -> JsonObject:
    response = await client.get(
        "/api/v1/reporter/case", headers=await lookup_headers(client, reporter)
    )
    assert response.status == 200, await response.text()
    answer: JsonObject = await response.json()
    return answer


async def rows(database: Database) -> dict[str, int]:
    return await count_rows(database)


async def outbox(database: Database) -> list[tuple[str, dict[str, Any], uuid.UUID | None]]:
    """Every outbox row as (topic, payload, case id), oldest first, delivered or not."""
    async with database.engine.connect() as connection:
        result = await connection.execute(
            select(OutboxRow.topic, OutboxRow.payload, OutboxRow.case_id).order_by(OutboxRow.id)
        )
        return [(topic, dict(payload), case_id) for topic, payload, case_id in result]


async def case_id_of(hotline: Hotline, reporter: AnonymousReporter) -> uuid.UUID:
    async with hotline.database.transaction(read_only=True) as tx:
        case = await tx.cases.find_by_locator_hash(locator_hash(hotline, reporter.locator))
    assert case is not None
    return case.id


async def investigator_writes(
    hotline: Hotline,
    person: VettedPerson,
    reporter: AnonymousReporter,
    kind: str,
    body: str,
    *,
    signer: Ed25519KeyPair | None = None,
) -> None:
    """What the investigator side stores for a follow-up or an internal note.

    `signer` defaults to the person's own key; another key makes a forged message.
    """
    case_id = await case_id_of(hotline, reporter)
    to_reporter = kind != "note"
    readers = [person.keys.enc.public] + ([reporter.keys.public] if to_reporter else [])
    envelope = seal(
        MessageContent(kind=kind, body=body, created=int(time.time())),
        recipients=readers,
        case=str(case_id),
        signer=signer or person.keys.sig,
    )
    recipients = [
        Recipient(
            key_id=person.keys.enc.kid,
            kind=RecipientKind.INVESTIGATOR,
            investigator_id=uuid.UUID(person.investigator_id),
        )
    ]
    if to_reporter:
        recipients.append(Recipient(key_id=reporter.keys.kid, kind=RecipientKind.REPORTER))
    async with hotline.database.transaction() as tx:
        await tx.messages.append(
            case_id,
            kind=MessageKind(kind),
            author_id=uuid.UUID(person.investigator_id),
            visible_to_reporter=to_reporter,
            envelope=envelope.encode(),
            recipients=recipients,
            at=datetime.now(UTC),
        )
