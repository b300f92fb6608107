"""`tipline audit verify` as an operator runs it: exit 0 when intact, 3 naming the break."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import update

from gateway.cli import main
from gateway.config import load_settings
from gateway.domain.audit import AuditTrail
from gateway.domain.clock import SystemClock
from gateway.store import Database, migrate
from gateway.store.models import AuditEntryRow


async def record_three(database_url: str, audit_key: bytes, *, tamper: bool) -> None:
    await migrate.upgrade(database_url)
    database = Database.from_url(database_url)
    trail = AuditTrail(audit_key, SystemClock())
    try:
        for _ in range(3):
            async with database.transaction() as tx:
                await trail.record(tx, action="case.open", actor_id=uuid.uuid4())
        if tamper:
            async with database.engine.begin() as connection:
                await connection.execute(
                    update(AuditEntryRow).where(AuditEntryRow.seq == 2).values(action="case.purge")
                )
    finally:
        await database.close()


@pytest.mark.parametrize("tamper", [False, True])
def test_audit_verify_reports_the_chain(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tamper: bool,
) -> None:
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(tmp_path))
    settings = load_settings(None)
    asyncio.run(record_three(settings.database_url, settings.audit_key.reveal(), tamper=tamper))

    exit_code = main(["audit", "verify"])

    out, err = capsys.readouterr()
    if tamper:
        assert exit_code == 3
        assert "broken at entry 2" in err
    else:
        assert exit_code == 0
        assert "audit chain intact: 3 entries" in out
