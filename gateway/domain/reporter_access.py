"""How a reporter reaches their case: by the keyed hash of the locator, and nothing else.

The server never sees the pickup code, and it cannot tell a wrong code from a missing case:
either way no row carries the hash. Every locator-authenticated operation therefore does the
same work up to the one indexed look-up and answers `CaseNotFound` from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from uuid import UUID

from gateway.crypto.keys import key_id
from gateway.crypto.pickup import Locator, locator_lookup_key
from gateway.domain import recipients
from gateway.domain.admission import Paid
from gateway.domain.errors import CaseNotFound
from gateway.domain.hotline import Hotline
from gateway.domain.keys import derive_subkey
from gateway.store import Transaction
from gateway.store.records import Case, CaseStatus

LOOKUP: Final = "lookup"
SUBMIT: Final = "submit"
REPLY: Final = "reply"

# A subkey of its own: the stored hashes depend on nothing else the pepper keys.
_LOCATOR_KEY_PURPOSE: Final = "locator"


class ReporterStatus(StrEnum):
    """What a reporter is told about their case: coarse on purpose.

    A reporter's device may be seen by the person they report; "referred to the police"
    or an assignee's name on it could endanger them, so the detail stays inside.
    """

    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


_SHOWN_TO_REPORTER: Final = {
    CaseStatus.NEW: ReporterStatus.RECEIVED,
    CaseStatus.TRIAGE: ReporterStatus.RECEIVED,
    CaseStatus.INVESTIGATING: ReporterStatus.IN_PROGRESS,
    CaseStatus.REFERRED: ReporterStatus.IN_PROGRESS,
    CaseStatus.CLOSED: ReporterStatus.CLOSED,
    CaseStatus.WITHDRAWN: ReporterStatus.CLOSED,
}


def reporter_status(status: CaseStatus) -> ReporterStatus:
    return _SHOWN_TO_REPORTER[status]


def locator_hash(hotline: Hotline, locator: Locator) -> bytes:
    """The only form in which a locator is stored or looked up."""
    return locator_lookup_key(locator, derive_subkey(hotline.pepper, _LOCATOR_KEY_PURPOSE))


async def find_case(tx: Transaction, hotline: Hotline, locator: Locator) -> Case:
    """The reporter's case, or `CaseNotFound` — the one answer for wrong and missing alike."""
    case = await tx.cases.find_by_locator_hash(locator_hash(hotline, locator))
    if case is None:
        raise CaseNotFound
    return case


@dataclass(frozen=True, slots=True)
class ReporterAttachment:
    id: UUID
    size: int


@dataclass(frozen=True, slots=True)
class ReporterCaseView:
    """Everything a reporter is shown: no internal notes, no internal status, no assignee."""

    case_id: UUID
    status: ReporterStatus
    # (seq, envelope as stored) for messages visible to the reporter and wrapped for them.
    messages: tuple[tuple[int, bytes], ...]
    # The reporter's own uploads; investigators' files are named inside their envelopes.
    attachments: tuple[ReporterAttachment, ...]
    # The vetted investigators a reply must be wrapped for (with recovery and the reporter).
    investigators: tuple[str, ...]


async def read_case(hotline: Hotline, locator: Locator, paid: Paid) -> ReporterCaseView:
    paid.require(LOOKUP)
    async with hotline.database.transaction(read_only=True) as tx:
        vetted = await hotline.directory.vetted(tx)
        case = await find_case(tx, hotline, locator)
        messages = await tx.messages.list_for_case(
            case.id, reporter_visible_only=True, wrapped_for=key_id(case.reporter_public_key)
        )
        attachments = await tx.attachments.list_for_case(case.id)
        on_case = await tx.inbox.investigators_of_case(case.id)
    rule = recipients.for_case_message(
        vetted, (str(person) for person in on_case), case.reporter_public_key
    )
    return ReporterCaseView(
        case_id=case.id,
        status=reporter_status(case.status),
        messages=tuple((message.seq, message.envelope) for message in messages),
        attachments=tuple(
            ReporterAttachment(id=attachment.id, size=attachment.size_bytes)
            for attachment in attachments
            if attachment.uploaded_by is None
        ),
        investigators=recipients.receiving_investigators(rule),
    )
