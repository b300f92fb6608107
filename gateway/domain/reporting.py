"""A reporter's writes: a new tip (which makes the case) and replies on their case.

The proof of work is spent as the request is admitted, with its rate limits, before its
body is read (domain/admission.py). Everything that can be checked without storage is
checked next (shape, versions, the envelope), then the recipients are compared with the
vetted set, and only then is anything written: the case, its message, the message's
recipients, the inboxes, the claimed attachments and the outbox row, in one unit of work
(for new tips, a unit shared with the tips that arrive at the same moment:
domain/tip_intake.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

from gateway.crypto.encoding import JsonObject
from gateway.crypto.envelope import Envelope, parse_envelope
from gateway.crypto.errors import Malformed
from gateway.crypto.keys import PUBLIC_KEY_BYTES
from gateway.crypto.message import REPORTER_KINDS
from gateway.crypto.pickup import LOCATOR_BYTES, Locator
from gateway.crypto.shape import read_bytes, read_list, read_object, read_version
from gateway.domain import events, recipients
from gateway.domain.admission import Paid
from gateway.domain.attachments import MAX_ATTACHMENTS_PER_MESSAGE, link_to_case
from gateway.domain.errors import InvalidInput, NoRecipients
from gateway.domain.hotline import Hotline
from gateway.domain.reporter_access import (
    REPLY,
    SUBMIT,
    ReporterStatus,
    find_case,
    locator_hash,
)
from gateway.domain.tip_intake import NewTip
from gateway.store.records import (
    MessageKind,
)

logger = logging.getLogger("gateway.domain.reporting")

VERSION: Final = 1
TIP: Final = "tip"
# A consent answer changes the case's consent state with the words, so it has an endpoint of
# its own (domain/consent.py); here it would be stored without the state changing.
CONSENT_ANSWER: Final = "consent_answer"
REPLY_KINDS: Final = REPORTER_KINDS - {TIP, CONSENT_ANSWER}


@dataclass(frozen=True, slots=True)
class TipSubmission:
    """A parsed `POST /api/v1/cases` body."""

    locator: Locator = field(repr=False)
    reporter_public_key: bytes
    urgent: bool
    envelope: Envelope = field(repr=False)
    attachment_ids: tuple[UUID, ...]

    @classmethod
    def from_json(cls, body: JsonObject) -> TipSubmission:
        what = "tip"
        read_object(
            body,
            what=what,
            required={"v", "locator", "reporter_pk", "urgent", "envelope"},
            optional={"attachments"},
        )
        read_version(body, what=what, supported=VERSION)
        urgent = body["urgent"]
        if not isinstance(urgent, bool):
            raise Malformed("tip.urgent must be true or false")
        envelope = parse_envelope(body["envelope"])
        if envelope.kind != TIP:
            raise InvalidInput('A new case starts with an envelope of kind "tip".')
        return cls(
            locator=Locator(read_bytes(body, "locator", what=what, length=LOCATOR_BYTES)),
            reporter_public_key=read_bytes(body, "reporter_pk", what=what, length=PUBLIC_KEY_BYTES),
            urgent=urgent,
            envelope=envelope,
            attachment_ids=read_attachment_ids(body, what=what),
        )


@dataclass(frozen=True, slots=True)
class ReplySubmission:
    """A parsed `POST /api/v1/reporter/messages` body."""

    envelope: Envelope = field(repr=False)
    attachment_ids: tuple[UUID, ...]

    @classmethod
    def from_json(cls, body: JsonObject) -> ReplySubmission:
        what = "reply"
        read_object(body, what=what, required={"v", "envelope"}, optional={"attachments"})
        read_version(body, what=what, supported=VERSION)
        envelope = parse_envelope(body["envelope"])
        if envelope.kind == CONSENT_ANSWER:
            raise InvalidInput(
                "A consent answer goes to POST /api/v1/reporter/consent, with the choice."
            )
        if envelope.kind not in REPLY_KINDS:
            raise InvalidInput(f"A reporter's message has kind {' or '.join(sorted(REPLY_KINDS))}.")
        return cls(
            envelope=envelope,
            attachment_ids=read_attachment_ids(body, what=what),
        )


def read_attachment_ids(body: JsonObject, *, what: str) -> tuple[UUID, ...]:
    """The optional `attachments` list: unique upload ids exactly as the server wrote them."""
    if "attachments" not in body:
        return ()
    ids = []
    for item in read_list(body, "attachments", what=what, max_items=MAX_ATTACHMENTS_PER_MESSAGE):
        try:
            parsed = UUID(item) if isinstance(item, str) else None
        except ValueError:
            parsed = None
        if parsed is None or str(parsed) != item:
            raise Malformed(f"{what}.attachments holds upload ids as the server returned them")
        ids.append(parsed)
    if len(set(ids)) != len(ids):
        raise Malformed(f"{what}.attachments lists an upload twice")
    return tuple(ids)


@dataclass(frozen=True, slots=True)
class ReceivedTip:
    case_id: UUID
    status: ReporterStatus


async def submit_tip(hotline: Hotline, tip: TipSubmission, paid: Paid) -> ReceivedTip:
    """Hand the tip to the intake, which writes it (with any other tips arriving at the same
    moment) and answers once it is committed."""
    paid.require(SUBMIT)
    written = await hotline.tip_intake.submit(
        NewTip(
            locator_hash=locator_hash(hotline, tip.locator),
            reporter_public_key=tip.reporter_public_key,
            urgent=tip.urgent,
            envelope=tip.envelope.encode(),
            envelope_kids=tip.envelope.recipient_kids,
            attachment_ids=tip.attachment_ids,
            received_at=hotline.clock.now(),
        )
    )
    return ReceivedTip(case_id=written.case_id, status=written.status)


@dataclass(frozen=True, slots=True)
class ReceivedReply:
    seq: int


async def post_reply(
    hotline: Hotline, locator: Locator, reply: ReplySubmission, paid: Paid
) -> ReceivedReply:
    paid.require(REPLY)
    vetted = await hotline.directory.vetted()
    now = hotline.clock.now()
    async with hotline.database.transaction() as tx:
        case = await find_case(tx, hotline, locator)
        if reply.envelope.header.case != str(case.id):
            raise InvalidInput("The message names another case than the one this code opens.")
        on_case = [str(person) for person in await tx.inbox.investigators_of_case(case.id)]
        rule = recipients.for_case_message(vetted, on_case, case.reporter_public_key)
        if not rule.members:
            raise NoRecipients(
                "No vetted investigator can receive messages on this case at the moment; "
                "try again later."
            )
        rule.check(reply.envelope.recipient_kids)
        accounts = await recipients.accounts_of(tx, [rule])
        message = await tx.messages.append(
            case.id,
            kind=MessageKind(reply.envelope.kind),
            author_id=None,
            visible_to_reporter=True,
            envelope=reply.envelope.encode(),
            recipients=recipients.recipient_rows(rule, case.reporter_public_key, accounts),
            at=now,
        )
        await link_to_case(tx, reply.attachment_ids, case_id=case.id, new_case=False)
        await tx.outbox.enqueue(
            events.MESSAGE_CREATED,
            events.event_payload(case_id=case.id, at=now, kind=reply.envelope.kind),
            at=now,
            case_id=case.id,
        )
    logger.info("reply_received", extra={"attachments": len(reply.attachment_ids)})
    return ReceivedReply(seq=message.seq)
