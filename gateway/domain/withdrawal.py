"""A reporter withdraws their case: everything of it is purged at once, with the code alone.

The rows go in one unit of work, together with the outbox row that tells investigators'
views to drop the case; the blobs are deleted once that unit has committed (deleting them
first would lose data if the unit failed). What remains is content-free: an audit entry
(`case.withdrawn`: case id, time, counts) and the outbox row (case id, time). No broker key
belongs to a case: escalation deadlines live on the case row and go with it.
"""

from __future__ import annotations

import logging

from gateway.crypto.pickup import Locator
from gateway.domain import events
from gateway.domain.admission import Paid
from gateway.domain.attachments import delete_blobs
from gateway.domain.errors import CaseNotFound
from gateway.domain.hotline import Hotline
from gateway.domain.reporter_access import LOOKUP, find_case

logger = logging.getLogger("gateway.domain.withdrawal")


async def withdraw_case(hotline: Hotline, locator: Locator, paid: Paid) -> None:
    paid.require(LOOKUP)
    now = hotline.clock.now()
    async with hotline.database.transaction() as tx:
        case = await find_case(tx, hotline, locator)
        purged = await tx.cases.purge(case.id)
        if purged is None:
            raise CaseNotFound
        await tx.outbox.enqueue(
            events.CASE_WITHDRAWN,
            events.event_payload(case_id=case.id, at=now),
            at=now,
            case_id=case.id,
        )
        await hotline.audit.record(
            tx,
            action="case.withdrawn",
            case_id=case.id,
            details={"messages": purged.messages, "attachments": purged.attachments},
        )
    await delete_blobs(hotline, purged.blob_keys)
    logger.info(
        "case_withdrawn",
        extra={"messages": purged.messages, "attachments": purged.attachments},
    )
