"""Building a case worth exporting, and exporting it with the client against the live socket."""

from __future__ import annotations

from pathlib import Path

from gateway.client.dossier import DossierExporter, Exporter, ExportResult
from gateway.client.transport import Transport
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
