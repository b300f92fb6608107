"""Content-free events: what the outbox records and the live channel delivers.

An event names a case, a kind and a time, never anything a reporter or investigator
wrote. The outbox row is written in the same transaction as the change it announces, so
no accepted change goes unannounced, even across a crash or a broker outage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

CASE_CREATED: Final = "case.created"
MESSAGE_CREATED: Final = "message.created"
CASE_UPDATED: Final = "case.updated"
CASE_WITHDRAWN: Final = "case.withdrawn"
EMERGENCY: Final = "case.emergency"
ESCALATION: Final = "case.escalated"

TOPICS: Final = frozenset(
    {CASE_CREATED, MESSAGE_CREATED, CASE_UPDATED, CASE_WITHDRAWN, EMERGENCY, ESCALATION}
)


def event_payload(
    *, case_id: UUID, at: datetime, urgent: bool | None = None, kind: str | None = None
) -> dict[str, str | bool]:
    """The whole payload of an event: ids, flags and times only."""
    payload: dict[str, str | bool] = {"case_id": str(case_id), "at": at.isoformat()}
    if urgent is not None:
        payload["urgent"] = urgent
    if kind is not None:
        payload["kind"] = kind
    return payload
