"""The database handle: engine set-up for SQLite and PostgreSQL, and the unit of work.

`async with database.transaction() as tx:` gives repositories that share one session
and commit together; an exception rolls everything back.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

from gateway.store.errors import DatabaseUnavailable
from gateway.store.outage import outage_as_unavailable
from gateway.store.repositories.attachments import AttachmentRepository
from gateway.store.repositories.audit import AuditRepository
from gateway.store.repositories.cases import CaseRepository
from gateway.store.repositories.directory import DirectoryRepository
from gateway.store.repositories.enrollments import EnrollmentRepository
from gateway.store.repositories.inbox import InboxRepository
from gateway.store.repositories.investigators import InvestigatorRepository
from gateway.store.repositories.invites import InviteRepository
from gateway.store.repositories.messages import MessageRepository
from gateway.store.repositories.new_cases import NewCaseRepository
from gateway.store.repositories.outbox import OutboxRepository
from gateway.store.session import StoreSession

logger = logging.getLogger(__name__)

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")

# Marks the engine used for read-only units of work.
_READ_ONLY = "tipline_read_only"


class Transaction:
    """One unit of work: every repository here writes through the same session."""

    def __init__(self, session: StoreSession) -> None:
        self.cases = CaseRepository(session)
        self.new_cases = NewCaseRepository(session)
        self.messages = MessageRepository(session)
        self.inbox = InboxRepository(session)
        self.attachments = AttachmentRepository(session)
        self.investigators = InvestigatorRepository(session)
        self.enrollments = EnrollmentRepository(session)
        self.invites = InviteRepository(session)
        self.directory = DirectoryRepository(session)
        self.audit = AuditRepository(session)
        self.outbox = OutboxRepository(session)


class Database:
    """An open connection pool to the gateway's database, SQLite or PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name
        read_engine = engine.execution_options(**{_READ_ONLY: True})
        if self.dialect == "postgresql":
            read_engine = read_engine.execution_options(postgresql_readonly=True)
        self._writers = async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
        self._readers = async_sessionmaker(read_engine, expire_on_commit=False, autoflush=True)

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        connect_timeout: float = 5.0,
        command_timeout: float = 30.0,
        busy_timeout: float = 30.0,
    ) -> Database:
        """Build the engine for a `sqlite+aiosqlite://` or `postgresql+asyncpg://` URL.

        Nothing connects yet; `ping()` checks that the database answers.
        """
        return cls(
            create_engine(
                url,
                pool_size=pool_size,
                max_overflow=max_overflow,
                connect_timeout=connect_timeout,
                command_timeout=command_timeout,
                busy_timeout=busy_timeout,
            )
        )

    @property
    def engine(self) -> AsyncEngine:
        """The engine, for the migration runner and the test fixtures (not for queries)."""
        return self._engine

    @property
    def url(self) -> str:
        """The URL with any password masked, safe to log."""
        return self._engine.url.render_as_string(hide_password=True)

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[Transaction]:
        """A unit of work that commits when the block ends and rolls back on any exception.

        A read-only unit takes no write lock and is refused writes, on both databases.
        """
        maker = self._readers if read_only else self._writers
        session: AsyncSession = maker()
        try:
            yield Transaction(StoreSession(session, dialect=self.dialect))
            with outage_as_unavailable():
                await session.commit()
        except BaseException:
            await _rollback_quietly(session)
            raise
        finally:
            await session.close()

    @asynccontextmanager
    async def plain_transaction(self) -> AsyncIterator[Transaction]:
        """A unit of work for the hot paths, whose statements are all written for the driver:
        on PostgreSQL straight on a pooled asyncpg connection, in the driver's own
        transaction, without SQLAlchemy's session (its unit of work costs 0.8-1.2 ms of CPU
        around two small statements, against 0.45 ms this way: docs/PERFORMANCE.md). It
        commits when the block ends and rolls back on any exception, as `transaction()`
        does; a repository method that needs the session refuses to run in it. On SQLite it
        is `transaction()`.
        """
        if self.dialect != "postgresql":
            async with self.transaction() as tx:
                yield tx
            return
        with outage_as_unavailable():
            async with self._engine.connect() as connection:
                driver = (await connection.get_raw_connection()).driver_connection
                if driver is None:
                    raise RuntimeError("the pooled connection has no driver connection")
                try:
                    async with driver.transaction():
                        yield Transaction(StoreSession.on_driver(driver))
                finally:
                    if driver.is_in_transaction():
                        # Interrupted before its COMMIT or ROLLBACK completed (cancelled):
                        # SQLAlchemy does not know of this transaction and would hand the
                        # connection on as it is, so the pool must discard it.
                        await connection.invalidate()

    async def ping(self, *, within: float = 2.0) -> None:
        """Raise `DatabaseUnavailable` unless the database answers within `within` seconds."""
        try:
            async with asyncio.timeout(within):
                with outage_as_unavailable():
                    async with self._engine.connect() as connection:
                        await connection.execute(text("SELECT 1"))
        except TimeoutError as error:
            raise DatabaseUnavailable("the database did not answer in time") from error

    async def close(self) -> None:
        await self._engine.dispose()


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    connect_timeout: float = 5.0,
    command_timeout: float = 30.0,
    busy_timeout: float = 30.0,
) -> AsyncEngine:
    """An async engine set up for this project on either supported database."""
    parsed = make_url(url)
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ValueError(
            "the database URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    if parsed.drivername.startswith("sqlite"):
        return _sqlite_engine(parsed, busy_timeout=busy_timeout)
    engine = create_async_engine(
        parsed,
        # Statement errors must never carry locator hashes or ciphertext into a log line.
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # Connections are checked before use by `_ping_on_checkout`, not by SQLAlchemy's
        # pre-ping, which costs three round trips (BEGIN, the ping, ROLLBACK) instead of one.
        pool_pre_ping=False,
        pool_timeout=connect_timeout,
        pool_recycle=1800,
        connect_args={
            # Fail fast during an outage instead of hanging requests.
            "timeout": connect_timeout,
            "command_timeout": command_timeout,
            "server_settings": {"application_name": "tipline-gateway"},
        },
    )
    event.listen(engine.sync_engine.pool, "checkout", _ping_on_checkout)
    return engine


def _ping_on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Check a pooled PostgreSQL connection before a unit uses it: one round trip.

    A restarted server costs a reconnect, not an error: a connection that does not answer
    raises `DisconnectionError`, on which the pool discards it and checks out another (a
    new one, if need be). SQLAlchemy's own pre-ping wraps its ping in a transaction for
    PgBouncer's transaction mode, which the gateway does not use (docs/STORAGE.md).
    """
    driver = record.driver_connection
    if driver is None:
        return
    try:
        await_only(driver.fetchrow(";"))
    except Exception as error:
        raise exc.DisconnectionError("the pooled connection did not answer") from error


def _sqlite_engine(url: URL, *, busy_timeout: float) -> AsyncEngine:
    database = url.database or ""
    if database in {"", ":memory:"} or database.startswith("file:"):
        raise ValueError("the embedded database needs a file path (sqlite+aiosqlite:///path)")
    # The embedded default points at a data folder that may not exist yet; keep it private.
    Path(database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = create_async_engine(url, hide_parameters=True, connect_args={"timeout": busy_timeout})
    busy_ms = int(busy_timeout * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (below), so the driver must not start transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            _use_write_ahead_log(cursor)
            # FULL sync in WAL mode: a commit that returned survives a power cut (a 201
            # must mean durable).
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Purged rows are overwritten on disk, not just unlinked from the b-tree.
            cursor.execute("PRAGMA secure_delete=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A write unit takes the write lock up front: concurrent writers wait for it
        # (busy_timeout) instead of failing with "database is locked" when a read lock
        # cannot be upgraded half-way through a transaction.
        # query_only makes a read-only unit refuse writes, as PostgreSQL's READ ONLY does.
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("PRAGMA query_only=ON")
            connection.exec_driver_sql("BEGIN DEFERRED")
        else:
            connection.exec_driver_sql("PRAGMA query_only=OFF")
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _use_write_ahead_log(cursor: Any) -> None:
    """Switch the file to WAL (readers never block the writer); it stays so once switched.

    Switching needs the file to itself; a connection that finds it busy (a fresh file
    opened by several connections at once) leaves the switch to the next one.
    """
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as error:
        if "locked" not in str(error):
            raise
        logger.info("sqlite_wal_switch_deferred")


async def _rollback_quietly(session: AsyncSession) -> None:
    """Roll back after a failure; a dead connection cannot roll back and need not."""
    try:
        await session.rollback()
    except (OSError, exc.SQLAlchemyError) as error:
        logger.warning("database_rollback_failed", extra={"error_type": type(error).__name__})
