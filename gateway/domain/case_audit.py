"""A case's part of the audit trail, as the investigators on the case may read it.

Each entry is re-hashed with the audit key on the way out: `intact` says whether its own
hash still matches what it says (the whole chain's links are for `tipline audit verify`).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from gateway.domain.accounts import Caller
from gateway.domain.casework import NoSuchCase
from gateway.domain.hotline import Hotline
from gateway.store.records import AuditEntry


@dataclass(frozen=True, slots=True)
class TrailEntry:
    entry: AuditEntry
    intact: bool


async def case_trail(hotline: Hotline, caller: Caller, case_id: UUID) -> list[TrailEntry]:
    """Every entry that names the case, oldest first; a case not the caller's is not there."""
    async with hotline.database.transaction(read_only=True) as tx:
        if await tx.inbox.entry(caller.id, case_id) is None:
            raise NoSuchCase
        entries = await tx.audit.for_case(case_id)
    return [
        TrailEntry(entry, hotline.audit.check_entry(entry, entry.seq, entry.prev_hash) is None)
        for entry in entries
    ]
