"""Recording a dossier export: the server's part of handing a case to the police.

The dossier itself is built and signed on the investigator's machine (gateway/client/dossier.py):
the server never sees the decrypted case. What the server does, in one unit of work once the
client has the dossier ready, is keep the chain of custody: an audit entry `case.export` with
the SHA-256 of the dossier's manifest (a verifier can match the file to the entry), whether it
was sealed to a police key, the consent on record at that moment, and the status it left; and
it moves the case to `referred` — the export is the referral, from any open status.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from gateway.domain.accounts import Caller
from gateway.domain.casework import CaseEnded, NoSuchCase
from gateway.domain.errors import Conflict, InvalidInput
from gateway.domain.events import CASE_UPDATED, event_payload
from gateway.domain.hotline import Hotline
from gateway.store.records import Case, CaseStatus, ConsentState, JSONValue

logger = logging.getLogger("gateway.domain.dossier")

MANIFEST_HASH_BYTES: Final = 32
# A closed case is reopened (to triage) before it is exported; a withdrawn one is gone.
_EXPORTABLE: Final = frozenset(
    {CaseStatus.NEW, CaseStatus.TRIAGE, CaseStatus.INVESTIGATING, CaseStatus.REFERRED}
)


@dataclass(frozen=True, slots=True)
class ExportRecord:
    case: Case
    consent: ConsentState | None
    audit_seq: int

    @property
    def consent_given(self) -> bool:
        return self.consent is ConsentState.GIVEN


async def record_export(
    hotline: Hotline, caller: Caller, case_id: UUID, *, manifest_sha256: bytes, sealed: bool
) -> ExportRecord:
    """Audit the export and refer the case, in one unit; the caller must be on the case."""
    if len(manifest_sha256) != MANIFEST_HASH_BYTES:
        raise InvalidInput("manifest_sha256 is the 32-byte SHA-256 of the dossier's manifest.")
    now = hotline.clock.now()
    async with hotline.database.transaction() as tx:
        if await tx.inbox.entry(caller.id, case_id) is None:
            raise NoSuchCase
        case = await tx.cases.lock(case_id)
        if case is None:
            raise NoSuchCase
        if case.status not in _EXPORTABLE:
            raise CaseEnded("The case is closed; reopen it before exporting it.")
        before = case.status
        if case.status is not CaseStatus.REFERRED:
            referred = await tx.cases.set_status(
                case_id, CaseStatus.REFERRED, at=now, expected=case.status
            )
            if referred is None:
                raise Conflict("Someone changed the case meanwhile; export again.")
            case = referred
            payload: dict[str, JSONValue] = {
                **event_payload(case_id=case_id, at=now),
                "status": case.status.value,
            }
            await tx.outbox.enqueue(CASE_UPDATED, payload, at=now, case_id=case_id)
        entry = await hotline.audit.record(
            tx,
            action="case.export",
            actor_id=caller.id,
            case_id=case_id,
            details={
                "manifest": manifest_sha256.hex(),
                "sealed": sealed,
                "consent": case.consent.value if case.consent else "none",
                "from": before.value,
            },
        )
    logger.info(
        "case_exported",
        extra={
            "case_id": str(case_id),
            "sealed": sealed,
            "consent_given": case.consent is ConsentState.GIVEN,
        },
    )
    return ExportRecord(case=case, consent=case.consent, audit_seq=entry.seq)
