"""Work on a case by the investigators on it: reading the thread, writing follow-up questions
and internal notes, moving the status and assigning.

"On the case" means having an inbox row for it. To anyone else a case does not exist: the
answer is the same 404 as for a case that is not there. Every message an investigator writes
is signed with their own vetted key and wrapped for exactly the recipients the rules name
(`recipients.py`); it is stored with its outbox row in one unit of work.

Status rules (docs/API.md has the table):

    new           -> triage, closed
    triage        -> investigating, closed
    investigating -> referred, closed
    referred      -> closed
    closed        -> triage          (reopening: triage role or the case's assignee only)
    withdrawn     -> (nothing: the reporter withdrew; retention removes it)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from gateway.crypto.directory import RECOVERY, TRIAGE, VettedSet
from gateway.crypto.envelope import Envelope, verify_envelope_signature
from gateway.crypto.keys import key_id
from gateway.domain.accounts import Caller, vetted_member
from gateway.domain.audit import DetailValue
from gateway.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from gateway.domain.events import CASE_UPDATED, MESSAGE_CREATED, event_payload
from gateway.domain.hotline import Hotline
from gateway.domain.recipients import RecipientRule, for_case_message, for_internal_note
from gateway.store import Transaction
from gateway.store.records import (
    Case,
    CaseStatus,
    ConsentState,
    Investigator,
    Message,
    MessageKind,
    Recipient,
    RecipientKind,
)

logger = logging.getLogger("gateway.domain.casework")

S = CaseStatus
TRANSITIONS: Final[Mapping[CaseStatus, frozenset[CaseStatus]]] = {
    S.NEW: frozenset({S.TRIAGE, S.CLOSED}),
    S.TRIAGE: frozenset({S.INVESTIGATING, S.CLOSED}),
    S.INVESTIGATING: frozenset({S.REFERRED, S.CLOSED}),
    S.REFERRED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset({S.TRIAGE}),
    S.WITHDRAWN: frozenset(),
}
# Statuses investigators set; `withdrawn` is the reporter's alone.
SETTABLE: Final = frozenset(S) - {S.WITHDRAWN}
# No new messages once a case has ended; a closed case is reopened first.
_ENDED: Final = frozenset({S.CLOSED, S.WITHDRAWN})
INVESTIGATOR_KINDS: Final = {
    "followup": MessageKind.FOLLOWUP,
    "note": MessageKind.NOTE,
    "consent_request": MessageKind.CONSENT_REQUEST,
}
# What the audit trail calls each investigator message (the kind, never the content).
AUDIT_ACTIONS: Final = {
    MessageKind.FOLLOWUP: "case.ask",
    MessageKind.NOTE: "case.note",
    MessageKind.CONSENT_REQUEST: "case.consent_request",
}


class NoSuchCase(NotFound):
    default_message = "No such case, or it is not one of yours."


class TransitionRefused(Conflict):
    code = "status_transition_refused"
    default_message = "The case cannot move to that status from its current one."


class CaseEnded(Conflict):
    code = "case_ended"
    default_message = "The case is closed or withdrawn; reopen it before writing."


class SignerMismatch(Forbidden):
    code = "signer_mismatch"
    default_message = "The message must be signed with your own vetted signing key."


class AssigneeNotVetted(InvalidInput):
    code = "assignee_not_vetted"
    status = 422
    default_message = "Cases can only be assigned to an active, vetted investigator."


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    message: Message
    wrapped_for_me: bool

    @property
    def envelope_json(self) -> object:
        return json.loads(self.message.envelope)


@dataclass(frozen=True, slots=True)
class CaseView:
    case: Case
    investigators: Sequence[Investigator]
    messages: Sequence[ThreadMessage]


async def _entry_case(tx: Transaction, caller: Caller, case_id: UUID) -> Case:
    entry = await tx.inbox.entry(caller.id, case_id)
    if entry is None:
        raise NoSuchCase
    return entry.case


async def open_case(hotline: Hotline, caller: Caller, case_id: UUID) -> CaseView:
    """The thread with every envelope, noting which are wrapped for the caller's key."""
    now = hotline.clock.now()
    async with hotline.database.transaction() as tx:
        case = await _entry_case(tx, caller, case_id)
        messages = await tx.messages.list_for_case(case_id)
        mine = {
            message.id
            for message in await tx.messages.list_for_case(
                case_id, wrapped_for=caller.member.enc_kid
            )
        }
        investigators = await tx.investigators.get_many(
            await tx.inbox.investigators_of_case(case_id)
        )
        await tx.inbox.mark_seen(caller.id, case_id, at=now)
        await hotline.audit.record(
            tx,
            action="case.open",
            actor_id=caller.id,
            case_id=case_id,
            details={"messages": len(messages)},
        )
    return CaseView(
        case=case,
        investigators=investigators,
        messages=[ThreadMessage(message, message.id in mine) for message in messages],
    )


def _rule(
    kind: MessageKind, vetted: VettedSet, on_case: Sequence[UUID], case: Case
) -> RecipientRule:
    ids = [str(investigator_id) for investigator_id in on_case]
    if kind is MessageKind.NOTE:
        return for_internal_note(vetted, ids)
    return for_case_message(vetted, ids, case.reporter_public_key)


def _recipients(
    rule: RecipientRule, case: Case, accounts: Mapping[str, UUID], *, with_reporter: bool
) -> list[Recipient]:
    recipients = [
        Recipient(
            key_id=member.enc_kid,
            kind=RecipientKind.RECOVERY if RECOVERY in member.roles else RecipientKind.INVESTIGATOR,
            investigator_id=accounts.get(member.investigator_id),
        )
        for member in rule.members
    ]
    if with_reporter:
        recipients.append(
            Recipient(key_id=key_id(case.reporter_public_key), kind=RecipientKind.REPORTER)
        )
    return recipients


async def post_message(
    hotline: Hotline, caller: Caller, case_id: UUID, envelope: Envelope
) -> Message:
    """Store a follow-up, note or consent request written and signed by the caller."""
    kind = INVESTIGATOR_KINDS.get(envelope.kind)
    if kind is None:
        raise InvalidInput("Investigators write followup, note or consent_request envelopes.")
    if envelope.header.case != str(case_id):
        raise InvalidInput("The envelope names another case than the URL.")
    if envelope.header.signer_kid != caller.member.sig_kid:
        raise SignerMismatch
    verify_envelope_signature(envelope, caller.member.sig_pk)  # BadSignature -> 422
    vetted = await hotline.directory.vetted()
    now = hotline.clock.now()
    async with hotline.database.transaction() as tx:
        case = await _entry_case(tx, caller, case_id)
        if case.status in _ENDED:
            raise CaseEnded
        on_case = await tx.inbox.investigators_of_case(case_id)
        rule = _rule(kind, vetted, on_case, case)
        rule.check(envelope.recipient_kids)  # RecipientNotVetted -> 422
        accounts = {
            str(account.id): account.id
            for account in await tx.investigators.get_many(
                [UUID(m.investigator_id) for m in rule.members if _is_uuid(m.investigator_id)]
            )
        }
        message = await tx.messages.append(
            case_id,
            kind=kind,
            author_id=caller.id,
            # Internal notes are for investigators only: never listed to the reporter.
            visible_to_reporter=kind is not MessageKind.NOTE,
            envelope=envelope.encode(),
            recipients=_recipients(
                rule, case, accounts, with_reporter=kind is not MessageKind.NOTE
            ),
            at=now,
        )
        if kind is MessageKind.CONSENT_REQUEST:
            await tx.cases.set_consent(case_id, ConsentState.REQUESTED, at=now)
        await tx.outbox.enqueue(
            MESSAGE_CREATED,
            event_payload(case_id=case_id, at=now, kind=kind.value),
            at=now,
            case_id=case_id,
        )
        await hotline.audit.record(
            tx,
            action=AUDIT_ACTIONS[kind],
            actor_id=caller.id,
            case_id=case_id,
            details={"seq": message.seq},
        )
    logger.info(
        "case_message_stored",
        extra={"case_id": str(case_id), "kind": kind.value, "seq": message.seq},
    )
    return message


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def check_transition(case: Case, target: CaseStatus, caller: Caller) -> None:
    if target not in TRANSITIONS[case.status]:
        raise TransitionRefused(
            f"A case in status {case.status.value} cannot move to {target.value}."
        )
    if case.status is S.CLOSED and TRIAGE not in caller.roles and case.assignee_id != caller.id:
        raise Forbidden("Only triage investigators or the case's assignee may reopen a case.")


@dataclass(frozen=True, slots=True)
class Assignment:
    """Who the case is assigned to from now on; None takes the assignment away."""

    assignee: UUID | None


async def update_case(
    hotline: Hotline,
    caller: Caller,
    case_id: UUID,
    *,
    status: CaseStatus | None = None,
    assign: Assignment | None = None,
) -> Case:
    """Move the status and/or (re)assign; assigning someone puts the case in their inbox."""
    if status is None and assign is None:
        raise InvalidInput("Give a status, an assignee, or both.")
    if status is not None and status not in SETTABLE:
        raise InvalidInput("Investigators cannot set this status.")
    vetted = await hotline.directory.vetted()
    now = hotline.clock.now()
    async with hotline.database.transaction() as tx:
        case = await _entry_case(tx, caller, case_id)
        changed = False
        audit: list[tuple[str, dict[str, DetailValue]]] = []
        if status is not None and status is not case.status:
            check_transition(case, status, caller)
            moved = await tx.cases.set_status(case_id, status, at=now, expected=case.status)
            if moved is None:
                raise Conflict("Someone changed the case meanwhile; load it and try again.")
            audit.append(("case.status", {"from": case.status.value, "to": status.value}))
            case, changed = moved, True
        if assign is not None and assign.assignee != case.assignee_id:
            if assign.assignee is not None:
                account = await tx.investigators.get(assign.assignee)
                if vetted_member(account, vetted) is None:
                    raise AssigneeNotVetted
                # Being assigned puts the case in their inbox: later messages are wrapped
                # for them too (earlier ones stay unreadable to them; docs/API.md).
                await tx.inbox.add(case_id, [assign.assignee], at=now)
            assigned = await tx.cases.assign(case_id, assign.assignee, at=now)
            if assigned is None:
                raise NoSuchCase
            assignee = str(assign.assignee) if assign.assignee else None
            audit.append(("case.assign", {"assignee": assignee}))
            case, changed = assigned, True
        if changed:
            payload = event_payload(case_id=case_id, at=now)
            payload["status"] = case.status.value
            await tx.outbox.enqueue(CASE_UPDATED, payload, at=now, case_id=case_id)
        for action, details in audit:  # last: the audit lock is taken after the case row's
            await hotline.audit.record(
                tx, action=action, actor_id=caller.id, case_id=case_id, details=details
            )
    if changed:
        logger.info("case_updated", extra={"case_id": str(case_id), "status": case.status.value})
    return case
