"""Which driver errors mean "the database is not there": raised through SQLAlchemy or, for the
statements the store runs on asyncpg directly, by asyncpg itself."""

from __future__ import annotations

import asyncpg
import pytest

from gateway.store import DatabaseUnavailable
from gateway.store.outage import is_outage, outage_as_unavailable


def postgres_error(sqlstate: str) -> asyncpg.PostgresError:
    error_type = asyncpg.PostgresError.get_message_class_for_sqlstate(sqlstate)
    return error_type("server message")


@pytest.mark.parametrize(
    "error",
    [
        postgres_error("57P01"),  # admin shutdown
        postgres_error("57P03"),  # cannot connect now
        postgres_error("08006"),  # connection failure
        postgres_error("53300"),  # too many connections
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        ConnectionResetError(),
    ],
    ids=["shutdown", "starting", "connection", "too many", "gone", "closed", "reset"],
)
def test_asyncpg_errors_of_an_unreachable_server_are_outages(error: BaseException) -> None:
    assert is_outage(error)
    with pytest.raises(DatabaseUnavailable), outage_as_unavailable():
        raise error


@pytest.mark.parametrize(
    "error",
    [
        postgres_error("23505"),  # unique violation
        postgres_error("42601"),  # syntax error
        asyncpg.InterfaceError("the server expects 3 arguments, 2 were passed"),
    ],
    ids=["unique", "syntax", "arguments"],
)
def test_asyncpg_errors_about_the_statement_are_not_outages(error: BaseException) -> None:
    assert not is_outage(error)
    with pytest.raises(type(error)), outage_as_unavailable():
        raise error
