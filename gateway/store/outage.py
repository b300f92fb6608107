"""Recognising a database outage among driver errors, so callers see one `DatabaseUnavailable`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy import exc

from gateway.store.errors import DatabaseUnavailable

# SQLSTATE classes and codes that mean "the server is not there for us right now":
# connection exceptions, shutdown or start-up in progress, too many connections, out of
# disk, the database or the login missing.
_POSTGRES_OUTAGE_CLASSES = ("08", "53", "28")
_POSTGRES_OUTAGE_CODES = frozenset({"57P01", "57P02", "57P03", "3D000"})

# Primary SQLite result codes for a file that cannot be used: busy and locked (after the
# busy timeout), I/O error, disk full, cannot open, lock protocol error.
_SQLITE_OUTAGE_CODES = frozenset({5, 6, 10, 13, 14, 15})


def is_outage(error: BaseException) -> bool:
    """Whether an error raised by the driver means the database cannot be used at all."""
    if isinstance(error, OSError | exc.TimeoutError | asyncpg.ConnectionDoesNotExistError):
        return True
    if isinstance(error, asyncpg.PostgresError | asyncpg.InterfaceError):
        return _is_asyncpg_outage(error)
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    original = error.orig
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_OUTAGE_CODES
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return _is_postgres_outage(sqlstate) or isinstance(
        getattr(original, "__cause__", None), OSError
    )


def _is_asyncpg_outage(error: asyncpg.PostgresError | asyncpg.InterfaceError) -> bool:
    """Raised by asyncpg itself, for the statements the store runs on it directly."""
    if isinstance(error, asyncpg.InterfaceError):
        return "connection is closed" in str(error)
    return _is_postgres_outage(error.sqlstate)


def _is_postgres_outage(sqlstate: object) -> bool:
    if not isinstance(sqlstate, str):
        return False
    return sqlstate in _POSTGRES_OUTAGE_CODES or sqlstate[:2] in _POSTGRES_OUTAGE_CLASSES


@contextmanager
def outage_as_unavailable() -> Iterator[None]:
    """Turn an outage raised inside the block into `DatabaseUnavailable`; let the rest pass."""
    try:
        yield
    except (OSError, exc.SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        if is_outage(error):
            raise DatabaseUnavailable("the database cannot be reached") from error
        raise
