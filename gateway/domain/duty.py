"""Who is on duty: investigators mark themselves on or off, and emergencies find who to alert.

Duty is a flag on the account. Only an active account whose keys the signed directory vets
right now counts, with the role the directory (not the account row) gives it; revoking an
account takes it off duty in the store.
"""

from __future__ import annotations

import logging
from uuid import UUID

from gateway.crypto.directory import LIAISON, TRIAGE, VettedSet
from gateway.domain.accounts import Caller, vetted_member
from gateway.domain.errors import NotFound
from gateway.domain.hotline import Hotline
from gateway.store import Transaction
from gateway.store.records import InvestigatorStatus

logger = logging.getLogger("gateway.domain.duty")


async def set_duty(hotline: Hotline, caller: Caller, on_duty: bool) -> bool:
    """Go on or off duty; recorded in the audit trail (who could be reached, when)."""
    async with hotline.database.transaction() as tx:
        account = await tx.investigators.set_on_duty(caller.id, on_duty)
        if account is None:
            raise NotFound("No such account.")
        await hotline.audit.record(
            tx, action="investigator.duty", actor_id=caller.id, details={"on_duty": on_duty}
        )
    logger.info("duty_changed", extra={"investigator_id": str(caller.id), "on_duty": on_duty})
    return account.on_duty


async def _vetted_with_role(
    tx: Transaction, vetted: VettedSet, role: str, *, on_duty_only: bool
) -> list[UUID]:
    accounts = await tx.investigators.list_all(statuses=[InvestigatorStatus.ACTIVE])
    chosen = []
    for account in accounts:
        if on_duty_only and not account.on_duty:
            continue
        member = vetted_member(account, vetted)
        if member is not None and role in member.roles:
            chosen.append(account.id)
    return chosen


async def on_duty_triage(tx: Transaction, vetted: VettedSet) -> list[UUID]:
    """Triage investigators on duty now: the people an emergency alerts first."""
    return await _vetted_with_role(tx, vetted, TRIAGE, on_duty_only=True)


async def liaisons(tx: Transaction, vetted: VettedSet) -> list[UUID]:
    """Every vetted police liaison, on duty or not: an escalation must reach someone."""
    return await _vetted_with_role(tx, vetted, LIAISON, on_duty_only=False)
