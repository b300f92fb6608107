"""Investigators' inboxes: which cases each one receives, listed newest first by keyset."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any, Final, cast
from uuid import UUID

from sqlalchemy import Table, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.store.models import CaseRow, InboxEntryRow
from gateway.store.records import CaseStatus, InboxCursor, InboxItem, InboxPage
from gateway.store.repositories.cases import case_record
from gateway.store.session import StoreSession

MAX_PAGE_SIZE = 200
INBOX_ENTRIES: Final = cast(Table, InboxEntryRow.__table__)


class InboxRepository:
    def __init__(self, session: StoreSession) -> None:
        self._session = session

    async def add(self, case_id: UUID, investigator_ids: Iterable[UUID], *, at: datetime) -> None:
        """Put the case in these inboxes; an investigator who has it already keeps their row."""
        rows = [
            {"investigator_id": investigator_id, "case_id": case_id, "added_at": at}
            for investigator_id in dict.fromkeys(investigator_ids)
        ]
        if not rows:
            return
        insert = postgresql.insert if self._session.on_postgresql else sqlite.insert
        # On the table, not the mapped class: a plain executemany, no ORM bulk processing.
        statement = insert(INBOX_ENTRIES).on_conflict_do_nothing(
            index_elements=["investigator_id", "case_id"]
        )
        await self._session.execute(statement, rows)

    async def entry(self, investigator_id: UUID, case_id: UUID) -> InboxItem | None:
        """The investigator's inbox row for the case: None means the case is not theirs."""
        result = await self._session.execute(
            select(InboxEntryRow, CaseRow)
            .join(CaseRow, CaseRow.id == InboxEntryRow.case_id)
            .where(
                InboxEntryRow.investigator_id == investigator_id, InboxEntryRow.case_id == case_id
            )
        )
        found = result.first()
        if found is None:
            return None
        entry, case = found
        return _item(entry, case)

    async def page(
        self,
        investigator_id: UUID,
        *,
        limit: int,
        after: InboxCursor | None = None,
        statuses: Collection[CaseStatus] | None = None,
        urgent: bool | None = None,
        assigned_to: UUID | None = None,
    ) -> InboxPage:
        """One page of the inbox, newest first; `next_cursor` is None on the last page.

        The order is (added_at, case_id) descending: both are fixed once a row exists, so
        pages never repeat or skip a case, even when many share one timestamp.
        """
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"a page holds 1 to {MAX_PAGE_SIZE} cases")
        query = (
            select(InboxEntryRow, CaseRow)
            .join(CaseRow, CaseRow.id == InboxEntryRow.case_id)
            .where(InboxEntryRow.investigator_id == investigator_id)
        )
        if after is not None:
            query = query.where(
                or_(
                    InboxEntryRow.added_at < after.added_at,
                    and_(
                        InboxEntryRow.added_at == after.added_at,
                        InboxEntryRow.case_id < after.case_id,
                    ),
                )
            )
        if statuses is not None:
            query = query.where(CaseRow.status.in_(list(statuses)))
        if urgent is not None:
            query = query.where(CaseRow.urgent.is_(urgent))
        if assigned_to is not None:
            query = query.where(CaseRow.assignee_id == assigned_to)
        result = await self._session.execute(
            query.order_by(InboxEntryRow.added_at.desc(), InboxEntryRow.case_id.desc()).limit(
                limit + 1
            )
        )
        items = [_item(entry, case) for entry, case in result]
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            last = items[-1]
            next_cursor = InboxCursor(added_at=last.added_at, case_id=last.case.id)
        return InboxPage(items=items, next_cursor=next_cursor)

    async def mark_seen(self, investigator_id: UUID, case_id: UUID, *, at: datetime) -> bool:
        result: Any = await self._session.execute(
            update(InboxEntryRow)
            .where(
                InboxEntryRow.investigator_id == investigator_id, InboxEntryRow.case_id == case_id
            )
            .values(last_seen_at=at)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)

    async def investigators_of_case(self, case_id: UUID) -> list[UUID]:
        return (await self.investigators_of_cases([case_id]))[case_id]

    async def investigators_of_cases(self, case_ids: Iterable[UUID]) -> dict[UUID, list[UUID]]:
        """Whose inbox each case is in, ids sorted, in one query; every case asked is a key."""
        found: dict[UUID, list[UUID]] = {case_id: [] for case_id in case_ids}
        if not found:
            return found
        rows = await self._session.execute(
            select(InboxEntryRow.case_id, InboxEntryRow.investigator_id)
            .where(self._session.one_of(InboxEntryRow.case_id, list(found)))
            .order_by(InboxEntryRow.investigator_id)
        )
        for case_id, investigator_id in rows:
            found[case_id].append(investigator_id)
        return found

    async def remove_investigator(self, investigator_id: UUID) -> int:
        """Empty a revoked investigator's inbox."""
        result: Any = await self._session.execute(
            delete(InboxEntryRow).where(InboxEntryRow.investigator_id == investigator_id)
        )
        return int(result.rowcount)


def _item(entry: InboxEntryRow, case: CaseRow) -> InboxItem:
    return InboxItem(
        case=case_record(case), added_at=entry.added_at, last_seen_at=entry.last_seen_at
    )
