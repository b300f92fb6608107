"""The database handle: units of work, outages, SQLite's single writer, UTC times."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import exc, text

from gateway.store import Database, DatabaseUnavailable
from gateway.store.records import MessageKind, Recipient, RecipientKind
from tests.fixtures.database import postgres_only, postgres_url, sqlite_url
from tests.unit.store.builders import add_case, add_investigator, at, count_rows, key_id


async def test_ping_succeeds_on_a_reachable_database(database: Database) -> None:
    await database.ping()


async def test_an_unreachable_postgresql_raises_database_unavailable_at_once() -> None:
    # Port 1 on the loopback refuses connections: a server that is down.
    database = Database.from_url("postgresql+asyncpg://tipline@127.0.0.1:1/tipline")
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseUnavailable):
            await database.ping()
        with pytest.raises(DatabaseUnavailable):
            async with database.transaction() as tx:
                await tx.cases.get(uuid.uuid4())
    finally:
        await database.close()
    assert time.monotonic() - started < 5


async def test_an_sqlite_file_that_cannot_be_opened_raises_database_unavailable(
    tmp_path: Path,
) -> None:
    database = Database.from_url(sqlite_url(tmp_path))  # a folder is no database file
    try:
        with pytest.raises(DatabaseUnavailable):
            await database.ping()
    finally:
        await database.close()
    await _sqlite_worker_threads_stopped()


async def _sqlite_worker_threads_stopped() -> None:
    # aiosqlite stops the thread of a failed connection without waiting for it; let it
    # finish while this test's event loop still runs, or it reports to a closed loop.
    for _ in range(100):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            return
        await asyncio.sleep(0.01)


async def test_a_unit_of_work_keeps_nothing_when_its_block_raises(database: Database) -> None:
    class Interrupted(Exception):
        pass

    async def write_then_fail() -> None:
        async with database.transaction() as tx:
            person = await add_investigator(tx)
            await add_case(tx, investigators=[person.id])
            raise Interrupted

    with pytest.raises(Interrupted):
        await write_then_fail()
    assert set((await count_rows(database)).values()) == {0}


async def test_a_read_only_unit_refuses_writes(database: Database) -> None:
    with pytest.raises(exc.DBAPIError):
        async with database.transaction(read_only=True) as tx:
            await add_investigator(tx)
    # The connection goes back to the pool writable again.
    async with database.transaction() as tx:
        await add_investigator(tx)
    assert (await count_rows(database))["investigators"] == 1


async def test_concurrent_writers_in_two_processes_queue_up_instead_of_failing(
    database: Database, database_url: str
) -> None:
    """Read-then-write units from two pools at once: none fails with "database is locked"."""
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
    other_process = Database.from_url(database_url)

    async def reply(handle: Database, minute: int) -> int:
        async with handle.transaction() as tx:
            current = await tx.cases.get(case.id)
            assert current is not None
            await asyncio.sleep(0)  # let the other writers interleave between read and write
            message = await tx.messages.append(
                case.id,
                kind=MessageKind.REPLY,
                author_id=None,
                visible_to_reporter=True,
                envelope=b"ciphertext",
                recipients=[Recipient(key_id=key_id(), kind=RecipientKind.REPORTER)],
                at=at(minute),
            )
            return message.seq

    try:
        seqs = await asyncio.gather(
            *(reply(database if n % 2 else other_process, n) for n in range(24))
        )
    finally:
        await other_process.close()
    assert sorted(seqs) == list(range(2, 26))


async def test_times_come_back_as_the_same_instant_in_utc(database: Database) -> None:
    amsterdam_summer = timezone(timedelta(hours=2))
    local = datetime(2026, 7, 1, 14, 0, 0, 123456, tzinfo=amsterdam_summer)
    async with database.transaction() as tx:
        case, _ = await add_case(tx, when=local)
    async with database.transaction(read_only=True) as tx:
        stored = await tx.cases.get(case.id)
    assert stored is not None
    assert stored.created_at == local
    assert stored.created_at.tzinfo == UTC
    assert stored.created_at.hour == 12


async def test_naive_times_are_refused(database: Database) -> None:
    with pytest.raises(exc.StatementError, match="naive datetimes are not stored"):
        async with database.transaction() as tx:
            await add_case(tx, when=datetime(2026, 3, 1, 9, 30))  # noqa: DTZ001 - the point


async def test_the_url_shown_for_logs_hides_the_password() -> None:
    database = Database.from_url("postgresql+asyncpg://tipline:s3cret@db.internal/tipline")
    try:
        assert "s3cret" not in database.url
    finally:
        await database.close()


@pytest.mark.parametrize(
    "url",
    [
        "mysql+aiomysql://root@localhost/tipline",
        "postgresql://postgres@localhost/tipline",
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite://",
    ],
)
def test_urls_for_other_drivers_or_in_memory_sqlite_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="database"):
        Database.from_url(url)


async def test_sqlite_runs_with_wal_full_sync_foreign_keys_and_secure_delete(
    tmp_path: Path,
) -> None:
    database = Database.from_url(sqlite_url(tmp_path / "data" / "tipline.sqlite3"))
    try:
        async with database.engine.connect() as connection:
            pragmas = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "secure_delete")
            }
    finally:
        await database.close()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "secure_delete": 1,
    }
    assert (tmp_path / "data").stat().st_mode & 0o077 == 0


async def test_an_sqlite_writer_that_waits_past_the_busy_timeout_gets_database_unavailable(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path / "tipline.sqlite3")
    holder = Database.from_url(url)
    impatient = Database.from_url(url, busy_timeout=0.2)
    try:
        async with holder.engine.connect() as blocking:
            await blocking.execute(text("SELECT 1"))  # a write unit: holds the write lock
            with pytest.raises(DatabaseUnavailable):
                async with impatient.transaction() as tx:
                    await tx.investigators.list_all()
            await blocking.rollback()
    finally:
        await holder.close()
        await impatient.close()


@postgres_only
async def test_a_missing_postgresql_database_raises_database_unavailable(
    database_backend: str,
) -> None:
    database = Database.from_url(postgres_url(f"tipline_test_missing_{uuid.uuid4().hex}"))
    try:
        with pytest.raises(DatabaseUnavailable):
            await database.ping()
    finally:
        await database.close()


@postgres_only
async def test_a_postgresql_restart_costs_no_failed_unit(database: Database) -> None:
    # Two pooled connections, both idle in the pool afterwards.
    async with database.transaction() as tx, database.transaction(read_only=True) as other:
        await add_investigator(tx)
        await other.investigators.list_all()
    # From outside the pool: every connection the gateway holds is ended, as by a restart.
    url = database.engine.url.set(drivername="postgresql")
    outside = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        ended = await outside.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'tipline-gateway'"
        )
    finally:
        await outside.close()
    assert ended == 2
    # The check on checkout finds each dead connection and replaces it transparently.
    for _ in range(3):
        async with database.transaction(read_only=True) as tx:
            assert len(await tx.investigators.list_all()) == 1


async def test_statement_errors_never_show_the_values_they_carried(database: Database) -> None:
    """A failed statement's text may reach an operator; its parameters must not."""
    secret = b"locator-hash-that-must-stay-out-of-logs"
    with pytest.raises(exc.DBAPIError) as failure:
        async with database.engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO cases (id, locator_hash) VALUES (:id, :hash)"),
                {"id": "not-a-uuid", "hash": secret},
            )
    assert secret.decode() not in str(failure.value)
    assert "hidden due to hide_parameters" in str(failure.value)
