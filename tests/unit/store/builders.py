"""Small builders for store tests: realistic rows with random keys and fixed times."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from sqlalchemy import func, select

from gateway.store import Database, Transaction
from gateway.store.models import Base
from gateway.store.records import (
    Case,
    DirectoryEntry,
    DirectoryEntryKind,
    Investigator,
    InvestigatorStatus,
    Message,
    MessageKind,
    Recipient,
    RecipientKind,
)

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """A moment `minutes` after the tests' fixed starting time."""
    return T0 + timedelta(minutes=minutes)


def key_id() -> bytes:
    return os.urandom(16)


def envelope(size: int = 300) -> bytes:
    # Stands in for client ciphertext: the store never looks inside.
    return os.urandom(size)


async def add_investigator(
    tx: Transaction,
    username: str | None = None,
    *,
    roles: Sequence[str] = ("investigator", "triage"),
    status: InvestigatorStatus = InvestigatorStatus.ACTIVE,
) -> Investigator:
    return await tx.investigators.create(
        username=username or f"inv-{os.urandom(4).hex()}",
        display_name="Test Investigator",
        roles=roles,
        enc_public_key=os.urandom(32),
        sig_public_key=os.urandom(32),
        auth_salt=os.urandom(16),
        kdf_params={"alg": "argon2id", "ops": 3, "mem": 67108864},
        auth_key_hash=os.urandom(32),
        key_bundle=os.urandom(200),
        totp_secret_sealed=os.urandom(60),
        at=T0,
        status=status,
    )


async def add_case(
    tx: Transaction,
    *,
    investigators: Sequence[UUID] = (),
    urgent: bool = False,
    when: datetime = T0,
    locator_hash: bytes | None = None,
) -> tuple[Case, Message]:
    """A case with its tip, recipients, inbox rows and outbox row, as the submit flow writes."""
    case = await tx.cases.create(
        locator_hash=locator_hash or os.urandom(32),
        reporter_public_key=os.urandom(32),
        urgent=urgent,
        at=when,
    )
    recipients = [Recipient(key_id=key_id(), kind=RecipientKind.REPORTER)] + [
        Recipient(key_id=key_id(), kind=RecipientKind.INVESTIGATOR, investigator_id=person)
        for person in investigators
    ]
    tip = await tx.messages.append(
        case.id,
        kind=MessageKind.TIP,
        author_id=None,
        visible_to_reporter=True,
        envelope=envelope(),
        recipients=recipients,
        at=when,
    )
    await tx.inbox.add(case.id, investigators, at=when)
    await tx.outbox.enqueue("case.created", {"case_id": str(case.id)}, at=when, case_id=case.id)
    stored = await tx.cases.get(case.id)
    assert stored is not None
    return stored, tip


def locator_hash_of(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=32).digest()


async def count_rows(database: Database) -> dict[str, int]:
    """How many rows every table of the schema holds."""
    counts: dict[str, int] = {}
    async with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = int(
                await connection.scalar(select(func.count()).select_from(table)) or 0
            )
    return counts


async def rows_mentioning(database: Database, values: Sequence[object]) -> list[str]:
    """`table.column` for every cell, anywhere in the schema, that holds one of `values`.

    JSON cells count when their text contains a value's text (an id inside a payload).
    """
    wanted = set(values)
    texts = [str(value) for value in values]
    found: list[str] = []
    async with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in await connection.execute(select(table)):
                for column, value in row._mapping.items():
                    if isinstance(value, dict | list):
                        dumped = json.dumps(value)
                        hit = any(text in dumped for text in texts)
                    else:
                        hit = value in wanted
                    if hit:
                        found.append(f"{table.name}.{column}")
    return found


async def append_directory_entry(
    tx: Transaction, seq: int, *, entry_bytes: bytes | None = None, minute: float = 1
) -> DirectoryEntry:
    """Entry `seq` of the stored directory: random bytes unless given, hashed as signed."""
    body = entry_bytes or f'{{"seq":{seq},"nonce":"{os.urandom(8).hex()}"}}'.encode()
    return await tx.directory.append(
        seq=seq,
        entry_bytes=body,
        signature=os.urandom(64),
        entry_hash=hashlib.blake2b(body, digest_size=32).digest(),
        kind=DirectoryEntryKind.ADD,
        investigator_id=uuid4(),
        at=at(minute),
    )
