"""Escalation: an emergency nobody acknowledged goes to the liaisons, again at every interval.

The database is the only timer. `cases.next_escalation_at` says when the next step is due and
`cases.escalation_level` which step it is; acknowledging clears the deadline. Every gateway
process scans for due cases on its own (no broker lock, so escalation keeps working while Redis
is down), and fires a step with the store's compare-and-set `advance_escalation(from_level=…)`:
of any number of processes that see a step due, exactly one moves the level on, and only that
one writes the step's effects, in the same unit of work: the liaisons' inbox rows, the
`case.escalated` outbox row (relayed to their sockets), the webhook alarm and the audit entry.
A restarted gateway finds the deadlines where it left them; one that was down for several
intervals fires one step, not a burst, and then keeps the interval.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime
from typing import Final

from gateway.broker import BrokerUnavailable
from gateway.crypto.directory import VettedSet
from gateway.domain import duty, webhooks
from gateway.domain.errors import GatewayError
from gateway.domain.events import ESCALATION, event_payload
from gateway.domain.hotline import Hotline
from gateway.domain.live import AUDIENCE_FIELD
from gateway.store import DatabaseUnavailable
from gateway.store.records import Case, JSONValue

logger = logging.getLogger("gateway.domain.escalation")

BATCH: Final = 50


class EscalationScanner:
    def __init__(self, hotline: Hotline, *, batch: int = BATCH) -> None:
        self._hotline = hotline
        self._batch = batch

    async def scan_once(self) -> int:
        """Fire every step due now (each once, whatever other processes do); how many fired."""
        hotline = self._hotline
        now = hotline.clock.now()
        async with hotline.database.transaction(read_only=True) as tx:
            due = await tx.cases.due_escalations(now=now, limit=self._batch)
        if not due:
            return 0
        try:
            vetted = await hotline.directory.vetted()
        except GatewayError:
            # No usable directory (not configured, or it fails to verify): nobody can be
            # named, but the step still fires, so the webhook and the audit record it.
            vetted = VettedSet(at=0, members=())
        fired = 0
        for case in due:
            if await self._escalate(case, vetted, now):
                fired += 1
        return fired

    async def _escalate(self, case: Case, vetted: VettedSet, now: datetime) -> bool:
        hotline = self._hotline
        next_at = now + hotline.emergencies.interval
        async with hotline.database.transaction() as tx:
            advanced = await tx.cases.advance_escalation(
                case.id, from_level=case.escalation_level, next_at=next_at, at=now
            )
            if advanced is None:
                return False  # another process fired this step, or someone acknowledged
            level = advanced.escalation_level
            liaisons = await duty.liaisons(tx, vetted)
            # On the case from now on: they can open it, acknowledge it, and later messages
            # are wrapped for them (earlier ones stay unreadable to them, as with assignment).
            await tx.inbox.add(case.id, liaisons, at=now)
            payload: dict[str, JSONValue] = {
                **event_payload(case_id=case.id, at=now, urgent=True),
                "level": level,
                "next_escalation_at": next_at.isoformat(),
                AUDIENCE_FIELD: [str(person) for person in liaisons],
            }
            await tx.outbox.enqueue(ESCALATION, payload, at=now, case_id=case.id)
            if hotline.emergencies.webhook:
                await webhooks.enqueue_alarm(
                    tx,
                    webhooks.alarm_payload(
                        event=webhooks.ESCALATION_EVENT,
                        case_id=case.id,
                        level=level,
                        at=now,
                        reported_at=advanced.created_at,
                        next_escalation_at=next_at,
                    ),
                    at=now,
                )
            await hotline.audit.record(
                tx,
                action="case.escalate",
                case_id=case.id,
                details={"level": level, "liaisons": len(liaisons)},
            )
        if liaisons:
            logger.warning(
                "emergency_escalated",
                extra={"case_id": str(case.id), "level": level, "liaisons": len(liaisons)},
            )
        else:
            logger.error("emergency_escalated_to_nobody", extra={"case_id": str(case.id)})
        return True

    async def run(self, period_seconds: float) -> None:
        """Scan until cancelled: at once (a restart fires what fell due), then every period."""
        while True:
            try:
                await self.scan_once()
            except (DatabaseUnavailable, BrokerUnavailable) as outage:
                logger.warning(
                    "escalation_scan_waiting", extra={"dependency": type(outage).__name__}
                )
            except Exception:  # The scanner must outlive one bad case; it is logged.
                logger.exception("escalation_scan_failed")
            # Jitter keeps several processes from scanning in lockstep.
            await asyncio.sleep(period_seconds * random.uniform(0.8, 1.2))  # noqa: S311
