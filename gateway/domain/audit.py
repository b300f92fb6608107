"""The audit trail: every investigator and admin action, appended to a keyed hash chain.

Each entry's hash is BLAKE2b-256, keyed with a subkey of the server's audit key, over the
canonical JSON of the entry and the previous entry's hash. Someone who can write to the
database but does not hold the audit key cannot rewrite, insert or drop an entry without
`tipline audit verify` naming the first broken link. Entries are content-free by
construction: details accept only short identifiers, numbers and flags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, cast
from uuid import UUID

from gateway.crypto.encoding import JsonObject, b64encode, canonical_json
from gateway.crypto.errors import CryptoError
from gateway.crypto.hashing import blake2b, equal
from gateway.domain.clock import Clock
from gateway.domain.keys import derive_subkey
from gateway.store import Database, Transaction
from gateway.store.records import AuditEntry, AuditLink

VERSION: Final = 1
HASH_BYTES: Final = 32
GENESIS_PREV: Final = bytes(HASH_BYTES)
_PERSON: Final = b"tipline/v1/audit"

# Details are for ids, statuses and counts, never for anything a person wrote.
_DETAIL_KEY: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
_DETAIL_TEXT: Final = re.compile(r"[A-Za-z0-9_.:@-]{0,80}")
_ACTION: Final = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")
MAX_DETAILS: Final = 16

DetailValue = str | int | bool | None


class ContentInAuditDetails(ValueError):
    """A caller tried to put free text (possible content) into an audit entry."""


def _check_details(details: Mapping[str, DetailValue]) -> dict[str, DetailValue]:
    if len(details) > MAX_DETAILS:
        raise ContentInAuditDetails("too many audit details")
    checked: dict[str, DetailValue] = {}
    for key, value in details.items():
        if not _DETAIL_KEY.fullmatch(key):
            raise ContentInAuditDetails(f"audit detail key {key!r} is not an identifier")
        if isinstance(value, str) and not _DETAIL_TEXT.fullmatch(value):
            raise ContentInAuditDetails(f"audit detail {key!r} is not a short identifier")
        if not isinstance(value, str | int | bool) and value is not None:
            raise ContentInAuditDetails(f"audit detail {key!r} has an unsupported type")
        checked[key] = value
    return checked


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_bytes(
    *,
    seq: int,
    recorded_at: datetime,
    actor_id: UUID | None,
    action: str,
    case_id: UUID | None,
    details: Mapping[str, DetailValue],
    prev_hash: bytes,
) -> bytes:
    """The exact bytes an audit entry's hash covers."""
    document: JsonObject = {
        "v": VERSION,
        "seq": seq,
        "at": _timestamp(recorded_at),
        "actor": str(actor_id) if actor_id else None,
        "action": action,
        "case": str(case_id) if case_id else None,
        "details": dict(details),
        "prev": b64encode(prev_hash),
    }
    return canonical_json(document)


@dataclass(frozen=True, slots=True)
class ChainReport:
    entries: int
    head: bytes
    first_broken_seq: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.first_broken_seq is None


class AuditTrail:
    def __init__(self, audit_key: bytes, clock: Clock) -> None:
        self._key = derive_subkey(audit_key, "audit-chain")
        self._clock = clock

    def _hash(self, data: bytes) -> bytes:
        return blake2b(data, size=HASH_BYTES, key=self._key, person=_PERSON)

    async def record(
        self,
        tx: Transaction,
        *,
        action: str,
        actor_id: UUID | None = None,
        case_id: UUID | None = None,
        details: Mapping[str, DetailValue] | None = None,
    ) -> AuditEntry:
        """Append one entry in the caller's unit of work (call it last: see STORAGE.md)."""
        if not _ACTION.fullmatch(action):
            raise ContentInAuditDetails(f"audit action {action!r} is not a dotted identifier")
        checked = _check_details(details or {})
        recorded_at = self._clock.now().astimezone(UTC)

        def seal(link: AuditLink) -> AuditEntry:
            prev = link.prev_hash or GENESIS_PREV
            data = entry_bytes(
                seq=link.seq,
                recorded_at=recorded_at,
                actor_id=actor_id,
                action=action,
                case_id=case_id,
                details=checked,
                prev_hash=prev,
            )
            return AuditEntry(
                seq=link.seq,
                recorded_at=recorded_at,
                actor_id=actor_id,
                action=action,
                case_id=case_id,
                details=dict(checked),
                prev_hash=prev,
                entry_hash=self._hash(data),
            )

        return await tx.audit.append(seal)

    def check_entry(self, entry: AuditEntry, expected_seq: int, expected_prev: bytes) -> str | None:
        """What is wrong with one entry, or None when it links and hashes correctly."""
        if entry.seq != expected_seq:
            return f"expected entry {expected_seq}, found {entry.seq} (an entry is missing)"
        if not equal(entry.prev_hash, expected_prev):
            return "does not link to the previous entry"
        try:
            data = entry_bytes(
                seq=entry.seq,
                recorded_at=entry.recorded_at,
                actor_id=entry.actor_id,
                action=entry.action,
                case_id=entry.case_id,
                details=cast(Mapping[str, DetailValue], entry.details),
                prev_hash=entry.prev_hash,
            )
        except CryptoError:
            return "its details are not what the gateway writes (altered)"
        if not equal(self._hash(data), entry.entry_hash):
            return "its contents do not match its hash (altered, or another audit key)"
        return None

    async def verify(self, database: Database) -> ChainReport:
        """Walk the whole chain from the first entry; name the first broken link."""
        expected_seq, expected_prev, count = 1, GENESIS_PREV, 0
        async with database.transaction(read_only=True) as tx:
            async for entry in tx.audit.iterate():
                problem = self.check_entry(entry, expected_seq, expected_prev)
                if problem is not None:
                    return ChainReport(count, expected_prev, entry.seq, problem)
                count += 1
                expected_seq, expected_prev = entry.seq + 1, entry.entry_hash
        return ChainReport(count, expected_prev)

    async def for_case(self, database: Database, case_id: UUID) -> list[AuditEntry]:
        async with database.transaction(read_only=True) as tx:
            return await tx.audit.for_case(case_id)
