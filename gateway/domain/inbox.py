"""An investigator's inbox: the cases they are on, newest first, a page at a time.

Only cases with an inbox row for the caller are listed; the caller is a vetted investigator
(the session check saw to that), and revocation deletes the rows, so nobody lists cases after
losing their vetting.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from gateway.domain.accounts import Caller
from gateway.domain.errors import InvalidInput
from gateway.domain.hotline import Hotline
from gateway.store import InvalidCursor
from gateway.store.records import CaseStatus, InboxCursor, InboxPage

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 100


@dataclass(frozen=True, slots=True)
class InboxFilter:
    statuses: Collection[CaseStatus] | None = None
    urgent: bool | None = None
    assigned_to_me: bool = False


async def inbox_page(
    hotline: Hotline,
    caller: Caller,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    only: InboxFilter = InboxFilter(),
) -> InboxPage:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit is 1 to {MAX_PAGE_SIZE}.")
    try:
        after = InboxCursor.decode(cursor) if cursor else None
    except InvalidCursor:
        raise InvalidInput("The cursor is not one this server handed out.") from None
    async with hotline.database.transaction(read_only=True) as tx:
        return await tx.inbox.page(
            caller.id,
            limit=limit,
            after=after,
            statuses=only.statuses,
            urgent=only.urgent,
            assigned_to=caller.id if only.assigned_to_me else None,
        )
