"""Emergencies: the alarm an urgent tip raises, and the acknowledgement that stops escalation.

The alarm is written in the tip's own unit of work: an `case.emergency` outbox row addressed to
every on-duty triage investigator (the relay publishes it to their sockets), a webhook alarm if
one is configured, and the case's first escalation deadline. If nobody is on duty the deadline
is now: no one can acknowledge, so the liaisons are alerted at the next scan instead of after
the acknowledgement time. The database holds the deadline, so it survives restarts
(`escalation.py` fires it).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final
from uuid import UUID

from gateway.crypto.directory import VettedSet
from gateway.domain import duty, webhooks
from gateway.domain.accounts import Caller
from gateway.domain.casework import NoSuchCase
from gateway.domain.errors import Conflict
from gateway.domain.events import CASE_UPDATED, EMERGENCY, event_payload
from gateway.domain.hotline import EmergencyRules, Hotline
from gateway.domain.live import AUDIENCE_FIELD
from gateway.store import Transaction
from gateway.store.records import Case, JSONValue

logger = logging.getLogger("gateway.domain.emergency")

FIRST_LEVEL: Final = 0


class NotAnEmergency(Conflict):
    code = "not_an_emergency"
    default_message = "This case is not marked as an emergency; there is nothing to acknowledge."


async def sound_alarm(
    tx: Transaction, rules: EmergencyRules, vetted: VettedSet, case: Case, *, at: datetime
) -> Case:
    """Alert on-duty triage now and set the first escalation deadline, in the caller's unit."""
    now = at
    alerted = await duty.on_duty_triage(tx, vetted)
    deadline = now + rules.ack_after if alerted else now
    armed = await tx.cases.set_urgent(case.id, True, at=now, next_escalation_at=deadline)
    if armed is None:
        raise NoSuchCase
    payload: dict[str, JSONValue] = {
        **event_payload(case_id=case.id, at=now, urgent=True),
        "level": FIRST_LEVEL,
        "next_escalation_at": deadline.isoformat(),
        AUDIENCE_FIELD: [str(person) for person in alerted],
    }
    await tx.outbox.enqueue(EMERGENCY, payload, at=now, case_id=case.id)
    if rules.webhook:
        await webhooks.enqueue_alarm(
            tx,
            webhooks.alarm_payload(
                event=webhooks.EMERGENCY_EVENT,
                case_id=case.id,
                level=FIRST_LEVEL,
                at=now,
                reported_at=case.created_at,
                next_escalation_at=deadline,
            ),
            at=now,
        )
    logger.info(
        "emergency_raised",
        extra={"case_id": str(case.id), "on_duty_alerted": len(alerted)},
    )
    return armed


async def acknowledge(hotline: Hotline, caller: Caller, case_id: UUID) -> Case:
    """The first acknowledgement stops escalation; later ones change nothing and say so."""
    now = hotline.clock.now()
    async with hotline.database.transaction() as tx:
        if await tx.inbox.entry(caller.id, case_id) is None:
            raise NoSuchCase
        case = await tx.cases.get(case_id)
        if case is None:
            raise NoSuchCase
        if not case.urgent:
            raise NotAnEmergency
        acknowledged = await tx.cases.acknowledge(case_id, caller.id, at=now)
        if acknowledged is None:
            return case  # acknowledged before (by this caller or another): nothing to do
        payload: dict[str, JSONValue] = {
            **event_payload(case_id=case_id, at=now),
            "status": acknowledged.status.value,
            "acknowledged": True,
        }
        await tx.outbox.enqueue(CASE_UPDATED, payload, at=now, case_id=case_id)
        if hotline.emergencies.webhook:
            # Lets a pager resolve its alert; still only ids and times.
            await webhooks.enqueue_alarm(
                tx,
                webhooks.alarm_payload(
                    event=webhooks.ACKNOWLEDGED_EVENT,
                    case_id=case_id,
                    level=acknowledged.escalation_level,
                    at=now,
                    reported_at=acknowledged.created_at,
                    next_escalation_at=None,
                ),
                at=now,
            )
        await hotline.audit.record(
            tx,
            action="case.acknowledge",
            actor_id=caller.id,
            case_id=case_id,
            details={"level": acknowledged.escalation_level},
        )
    logger.info(
        "emergency_acknowledged",
        extra={"case_id": str(case_id), "level": acknowledged.escalation_level},
    )
    return acknowledged
