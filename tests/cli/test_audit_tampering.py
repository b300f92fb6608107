"""`tipline audit verify` detects a changed, deleted, reordered or forged audit row, on both
databases, and names the first broken link."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from gateway.cli import main
from gateway.config import load_settings
from gateway.domain.audit import AuditTrail
from gateway.domain.clock import SystemClock
from gateway.store import Database
from gateway.store.models import AuditEntryRow

ENTRIES = 5


async def _record_chain(database_url: str, audit_key: bytes) -> Database:
    database = Database.from_url(database_url)
    trail = AuditTrail(audit_key, SystemClock())
    case_id = uuid.uuid4()
    for number in range(ENTRIES):
        async with database.transaction() as tx:
            await trail.record(
                tx,
                action="case.status",
                actor_id=uuid.uuid4(),
                case_id=case_id,
                details={"from": "new", "to": "triage", "step": number},
            )
    return database


async def _tamper(database: Database, how: str) -> None:
    async with database.engine.begin() as connection:
        rows = AuditEntryRow.__table__
        if how == "details":
            await connection.execute(
                update(rows).where(rows.c.seq == 3).values(details={"from": "new", "to": "closed"})
            )
        elif how == "time":
            entry = (await connection.execute(rows.select().where(rows.c.seq == 2))).one()
            await connection.execute(
                update(rows)
                .where(rows.c.seq == 2)
                .values(recorded_at=entry.recorded_at.replace(year=entry.recorded_at.year - 1))
            )
        elif how == "delete":
            await connection.execute(delete(rows).where(rows.c.seq == 3))
        elif how == "reorder":
            await connection.execute(update(rows).where(rows.c.seq == 2).values(seq=-2))
            await connection.execute(update(rows).where(rows.c.seq == 3).values(seq=2))
            await connection.execute(update(rows).where(rows.c.seq == -2).values(seq=3))
        elif how == "actor":
            await connection.execute(
                update(rows).where(rows.c.seq == 4).values(actor_id=uuid.uuid4())
            )


@pytest.mark.parametrize(
    ("how", "broken_at", "problem"),
    [
        ("nothing", None, None),
        ("details", 3, "do not match its hash"),
        ("time", 2, "do not match its hash"),
        ("actor", 4, "do not match its hash"),
        ("delete", 4, "an entry is missing"),
        ("reorder", 2, "does not link"),
    ],
)
async def test_audit_verify_names_the_first_broken_link(
    database_url: str,
    tmp_path: Path,
    *,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
    broken_at: int | None,
    problem: str | None,
) -> None:
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TIPLINE_DATABASE_URL", database_url)
    settings = load_settings(None)
    database = await _record_chain(database_url, settings.audit_key.reveal())
    try:
        await _tamper(database, how)
    finally:
        await database.close()

    exit_code = await asyncio.to_thread(main, ["audit", "verify"])

    out, err = capsys.readouterr()
    if broken_at is None:
        assert exit_code == 0
        assert f"audit chain intact: {ENTRIES} entries" in out
    else:
        assert exit_code == 3
        assert f"broken at entry {broken_at}:" in err
        assert problem is not None
        assert problem in err


async def test_a_chain_checked_with_another_audit_key_does_not_verify(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TIPLINE_DATABASE_URL", database_url)
    database = await _record_chain(database_url, b"k" * 32)
    await database.close()

    # The embedded profile made its own audit key: someone without the real key cannot
    # produce entries that verify, and a verifier with the wrong key says so.
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 3
