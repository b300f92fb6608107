"""`tipline retention run`: an operator purges what is due now, or counts it with --dry-run."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.blobs import FolderBlobStore
from gateway.broker import open_broker
from gateway.cli import main
from gateway.config import load_settings
from gateway.domain.retention import RETENTION_LOCK
from gateway.store import Database
from gateway.store.records import CaseStatus
from tests.fixtures import services
from tests.fixtures.database import postgres_only
from tests.unit.store.builders import add_case


@pytest.fixture
def environment(
    database_url: str, redis_prefix: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TIPLINE_DATABASE_URL", database_url)
    if redis_prefix is not None:
        monkeypatch.setenv("TIPLINE_REDIS_URL", services.REDIS_URL)
        monkeypatch.setenv("TIPLINE_REDIS_KEY_PREFIX", redis_prefix)
    return tmp_path


async def _cases(database_url: str, blob_dir: Path) -> tuple[str, str, str]:
    """A case closed 40 days ago with an attachment blob, and one closed yesterday."""
    database = Database.from_url(database_url)
    blobs = FolderBlobStore(blob_dir)
    blob_key = secrets.token_hex(16)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"\x00" * 100

    await blobs.write(blob_key, chunks(), max_bytes=1000)
    now = datetime.now(UTC)
    try:
        async with database.transaction() as tx:
            old, _ = await add_case(tx, when=now - timedelta(days=50))
            recent, _ = await add_case(tx, when=now - timedelta(days=2))
            await tx.cases.set_status(old.id, CaseStatus.CLOSED, at=now - timedelta(days=40))
            await tx.cases.set_status(recent.id, CaseStatus.CLOSED, at=now - timedelta(days=1))
            upload = await tx.attachments.create(
                old.id, uploaded_by=None, blob_key=blob_key, at=now
            )
            await tx.attachments.complete(upload.id, size_bytes=100, at=now)
    finally:
        await database.close()
    return str(old.id), str(recent.id), blob_key


async def _remaining(database_url: str, *case_ids: str) -> list[str]:
    database = Database.from_url(database_url)
    try:
        async with database.transaction(read_only=True) as tx:
            return [
                case_id
                for case_id in case_ids
                if await tx.cases.get(__import__("uuid").UUID(case_id))
            ]
    finally:
        await database.close()


async def test_a_dry_run_counts_and_a_run_purges_what_is_due(
    environment: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(None)
    old, recent, blob_key = await _cases(database_url, settings.blob_dir)

    dry = await asyncio.to_thread(main, ["retention", "run", "--dry-run"])
    dry_out = capsys.readouterr().out
    still_there = await _remaining(database_url, old, recent)
    run = await asyncio.to_thread(main, ["retention", "run"])
    run_out = capsys.readouterr().out

    assert dry == 0
    assert "due for purging: 1 cases (closed: 1)" in dry_out
    assert still_there == [old, recent]
    assert run == 0
    assert "purged 1 cases (1 messages, 1 attachments)" in run_out
    assert await _remaining(database_url, old, recent) == [recent]
    assert not await FolderBlobStore(settings.blob_dir).exists(blob_key)


@postgres_only  # with Redis: the lock is shared with the gateways
async def test_a_run_while_a_gateway_purges_says_so_and_changes_nothing(
    environment: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(None)
    assert settings.redis_url is not None
    old, recent, _ = await _cases(database_url, settings.blob_dir)
    broker = open_broker(settings.redis_url, key_prefix=settings.redis_key_prefix)
    try:
        async with broker.lock(RETENTION_LOCK, ttl=30) as lease:
            assert lease is not None
            exit_code = await asyncio.to_thread(main, ["retention", "run"])
    finally:
        await broker.close()

    assert exit_code == 4
    assert "another process is purging" in capsys.readouterr().err
    assert await _remaining(database_url, old, recent) == [old, recent]
