"""Consent to hand a case to the police: the reporter's answer, as a message and as a flag.

An investigator asks with a signed `consent_request` envelope (casework; it sets the case's
consent to `requested`). The reporter answers with a `consent_answer` envelope — their words,
encrypted like any reply — and, beside it in the request body, an explicit `consent` flag,
`given` or `refused`. The flag is the structured answer the server records on the case
(`cases.consent`) and in the audit trail; it is not content: it says only what the case's
status will say anyway (an export warns without it). Whether the words inside the envelope
agree with the flag is for the investigators reading both to see; the reporter's client sets
both from one choice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final

from gateway.crypto.encoding import JsonObject
from gateway.crypto.envelope import Envelope, parse_envelope
from gateway.crypto.pickup import Locator
from gateway.crypto.shape import read_object, read_str, read_version
from gateway.domain import events, recipients
from gateway.domain.admission import Paid
from gateway.domain.errors import Conflict, InvalidInput, NoRecipients
from gateway.domain.hotline import Hotline
from gateway.domain.reporter_access import REPLY, find_case
from gateway.store.records import ConsentState, JSONValue, MessageKind

logger = logging.getLogger("gateway.domain.consent")

VERSION: Final = 1
CONSENT_ANSWER: Final = "consent_answer"
ANSWERS: Final = {"given": ConsentState.GIVEN, "refused": ConsentState.REFUSED}


class ConsentNotRequested(Conflict):
    code = "consent_not_requested"
    default_message = "Nobody has asked for consent on this case; send a reply instead."


@dataclass(frozen=True, slots=True)
class ConsentAnswer:
    """A parsed `POST /api/v1/reporter/consent` body."""

    envelope: Envelope = field(repr=False)
    consent: ConsentState

    @classmethod
    def from_json(cls, body: JsonObject) -> ConsentAnswer:
        what = "consent answer"
        read_object(body, what=what, required={"v", "envelope", "consent"})
        read_version(body, what=what, supported=VERSION)
        answer = read_str(body, "consent", what=what, max_length=16)
        if answer not in ANSWERS:
            raise InvalidInput('consent is "given" or "refused".')
        envelope = parse_envelope(body["envelope"])
        if envelope.kind != CONSENT_ANSWER:
            raise InvalidInput('The answer is an envelope of kind "consent_answer".')
        return cls(envelope=envelope, consent=ANSWERS[answer])


async def answer_consent(
    hotline: Hotline, locator: Locator, answer: ConsentAnswer, paid: Paid
) -> int:
    """Store the answer's envelope and record the flag, in one unit; returns the message seq."""
    paid.require(REPLY)
    vetted = await hotline.directory.vetted()
    now = hotline.clock.now()
    async with hotline.database.transaction() as tx:
        case = await find_case(tx, hotline, locator)
        if answer.envelope.header.case != str(case.id):
            raise InvalidInput("The answer names another case than the one this code opens.")
        if case.consent is None:
            raise ConsentNotRequested
        on_case = [str(person) for person in await tx.inbox.investigators_of_case(case.id)]
        rule = recipients.for_case_message(vetted, on_case, case.reporter_public_key)
        if not rule.members:
            raise NoRecipients(
                "No vetted investigator can receive messages on this case at the moment; "
                "try again later."
            )
        rule.check(answer.envelope.recipient_kids)
        message = await tx.messages.append(
            case.id,
            kind=MessageKind.CONSENT_ANSWER,
            author_id=None,
            visible_to_reporter=True,
            envelope=answer.envelope.encode(),
            recipients=recipients.recipient_rows(
                rule, case.reporter_public_key, await recipients.accounts_of(tx, [rule])
            ),
            at=now,
        )
        await tx.cases.set_consent(case.id, answer.consent, at=now)
        await tx.outbox.enqueue(
            events.MESSAGE_CREATED,
            events.event_payload(case_id=case.id, at=now, kind=CONSENT_ANSWER),
            at=now,
            case_id=case.id,
        )
        update: dict[str, JSONValue] = {
            **events.event_payload(case_id=case.id, at=now),
            "consent": answer.consent.value,
        }
        await tx.outbox.enqueue(events.CASE_UPDATED, update, at=now, case_id=case.id)
        # Chain of custody: a dossier's trail shows the reporter's answer and when it came.
        await hotline.audit.record(
            tx,
            action="case.consent_answer",
            case_id=case.id,
            details={"consent": answer.consent.value, "seq": message.seq},
        )
    logger.info("consent_answered", extra={"consent": answer.consent.value})
    return message.seq
