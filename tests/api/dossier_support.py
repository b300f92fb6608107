"""Building cases worth exporting, and exporting them with the client against the live socket."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from gateway.client.dossier import DossierExporter, Exporter, ExportResult
from gateway.client.transport import Transport
from gateway.crypto.envelope import seal
from gateway.crypto.keys import X25519KeyPair
from gateway.crypto.message import AttachmentRef, MessageContent
from gateway.crypto.stream import encrypt_stream, new_attachment_key
from gateway.domain.hotline import Hotline
from gateway.store.records import ConsentState, MessageKind, Recipient, RecipientKind
from tests.api.emergency_support import Client
from tests.api.investigator_support import OpenCase, Person, bearer, followup, log_in
from tests.api.reporter_support import sealed

TIP = "canary-dossier-tip: a girl of 15 is picked up at the station every Friday"
QUESTION = "Which station, and at what time?"
ANSWER = "Utrecht Centraal, around 22:00."


async def with_thread(
    client: Client, hotline: Hotline, case: OpenCase, lead: Person, *, consent: bool = True
) -> str:
    """A follow-up and a consent request by `lead`, the reporter's answer and (unless told
    otherwise) consent given; returns `lead`'s session token."""
    token = await log_in(client, lead)
    to_all = [case.reporter.public, lead.keys.enc.public]
    for kind, body in (("followup", QUESTION), ("consent_request", "May we go to the police?")):
        posted = await client.post(
            f"/api/v1/cases/{case.id_text}/messages",
            json={"envelope": followup(lead, case, to_all, kind=kind, body=body).to_json()},
            headers=bearer(token),
        )
        assert posted.status == 201, await posted.text()
    # The reporter's side is written straight to the store (test_consent.py covers the API).
    reply = sealed("reply", to_all, body=ANSWER, case=case.id_text)
    async with hotline.database.transaction() as tx:
        await tx.messages.append(
            case.case.id,
            kind=MessageKind.REPLY,
            author_id=None,
            visible_to_reporter=True,
            envelope=reply.encode(),
            recipients=[
                Recipient(key_id=case.reporter.kid, kind=RecipientKind.REPORTER),
                Recipient(
                    key_id=lead.keys.enc.kid,
                    kind=RecipientKind.INVESTIGATOR,
                    investigator_id=lead.investigator_id,
                ),
            ],
            at=hotline.clock.now(),
        )
        if consent:
            await tx.cases.set_consent(case.case.id, ConsentState.GIVEN, at=hotline.clock.now())
    return token


async def export_case(
    client: Client,
    lead: Person,
    token: str,
    case_id: str,
    out: Path,
    *,
    org_public_key: bytes,
    police_public_key: bytes | None = None,
) -> ExportResult:
    async with Transport(str(client.server.make_url("/"))) as transport:
        exporter = DossierExporter(
            transport,
            session_token=token,
            exporter=Exporter(lead.id_text, lead.display_name, lead.keys),
            org_public_key=org_public_key,
        )
        return await exporter.export(case_id, out, police_public_key=police_public_key)


async def case_with_attachment(
    hotline: Hotline, lead: Person, *, name: str, content: bytes
) -> tuple[OpenCase, bytes]:
    """A tip whose envelope carries an attachment: the blob, its row, and the reference with
    its key inside the tip, as the reporter's client leaves them. Returns the ciphertext too."""
    key = new_attachment_key()
    ciphertext = b"".join(encrypt_stream(key, [content], len(content)))
    blob_key = secrets.token_hex(16)

    async def chunks() -> AsyncIterator[bytes]:
        yield ciphertext

    await hotline.blobs.write(blob_key, chunks(), max_bytes=len(ciphertext))
    reporter = X25519KeyPair.generate()
    now = datetime.now(UTC)
    async with hotline.database.transaction() as tx:
        case = await tx.cases.create(
            locator_hash=secrets.token_bytes(32),
            reporter_public_key=reporter.public,
            urgent=False,
            at=now,
        )
        upload = await tx.attachments.create(case.id, uploaded_by=None, blob_key=blob_key, at=now)
        await tx.attachments.complete(upload.id, size_bytes=len(ciphertext), at=now)
        ref = AttachmentRef(
            id=str(upload.id),
            key=key,
            name=name,
            size=len(content),
            sha256=hashlib.sha256(content).digest(),
        )
        tip = seal(
            MessageContent(kind="tip", body=TIP, created=int(now.timestamp()), attachments=(ref,)),
            recipients=[reporter.public, lead.keys.enc.public],
            case=None,
        )
        await tx.messages.append(
            case.id,
            kind=MessageKind.TIP,
            author_id=None,
            visible_to_reporter=True,
            envelope=tip.encode(),
            recipients=[
                Recipient(key_id=reporter.kid, kind=RecipientKind.REPORTER),
                Recipient(
                    key_id=lead.keys.enc.kid,
                    kind=RecipientKind.INVESTIGATOR,
                    investigator_id=lead.investigator_id,
                ),
            ],
            at=now,
        )
        await tx.inbox.add(case.id, [lead.investigator_id], at=now)
    return OpenCase(case=case, reporter=reporter), ciphertext
