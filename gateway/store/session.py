"""The session the repositories share inside one unit of work.

It forwards to SQLAlchemy's `AsyncSession` and turns driver outages into
`DatabaseUnavailable` at the one place where statements reach the driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, TypeVar, TypeVarTuple, overload

from sqlalchemy import ColumnElement, Executable, Result, ScalarResult, any_, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.selectable import TypedReturnsRows

from gateway.store.outage import outage_as_unavailable

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

Parameters: TypeAlias = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


class StoreSession:
    """One database session, as the repositories of a unit of work see it.

    Usually SQLAlchemy's `AsyncSession`. In a plain unit (`Database.plain_transaction`, on
    PostgreSQL) it is the driver's connection alone, inside the driver's own transaction:
    only `run_on_postgresql` works there, and the repository methods a plain unit may call
    run their statements through it (`plain` tells them which form to use).
    """

    def __init__(self, session: AsyncSession | None, *, dialect: str, driver: Any = None) -> None:
        if (session is None) == (driver is None):
            raise ValueError("a store session runs on SQLAlchemy's session or on the driver")
        self._orm_session = session
        self._driver = driver
        self.dialect = dialect

    @classmethod
    def on_driver(cls, driver: Any) -> StoreSession:
        """A plain unit's session: an asyncpg connection already inside its transaction."""
        return cls(None, dialect="postgresql", driver=driver)

    @property
    def plain(self) -> bool:
        return self._driver is not None

    @property
    def _session(self) -> AsyncSession:
        if self._orm_session is None:
            # A programming error: a plain unit runs only statements written for the driver.
            raise RuntimeError("this repository method cannot run in a plain unit")
        return self._orm_session

    @property
    def on_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    def one_of(
        self, column: ColumnElement[_T] | QueryableAttribute[_T], values: Sequence[_T]
    ) -> ColumnElement[bool]:
        """`column IN values`; on PostgreSQL `column = ANY(array)`, with the whole list as one
        parameter.

        An `IN (...)` list is rendered with one placeholder per value, so each length is a
        statement text of its own, compiled and prepared on every connection; the relay and
        the tip intake ask for lists of every length from 1 to 64.
        """
        if self.on_postgresql:
            return column == any_(
                bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
            )
        return column.in_(list(values))

    @overload
    async def execute(
        self, statement: TypedReturnsRows[*_Ts], params: Parameters = None
    ) -> Result[*_Ts]: ...

    @overload
    async def execute(
        self, statement: Executable, params: Parameters = None
    ) -> Result[*tuple[Any, ...]]: ...

    async def execute(
        self, statement: Executable, params: Parameters = None
    ) -> Result[*tuple[Any, ...]]:
        with outage_as_unavailable():
            return await self._session.execute(statement, params)

    @overload
    async def scalar(self, statement: TypedReturnsRows[_T]) -> _T | None: ...

    @overload
    async def scalar(self, statement: Executable) -> Any: ...

    async def scalar(self, statement: Executable) -> Any:
        with outage_as_unavailable():
            return await self._session.scalar(statement)

    @overload
    async def scalars(self, statement: TypedReturnsRows[_T]) -> ScalarResult[_T]: ...

    @overload
    async def scalars(self, statement: Executable) -> ScalarResult[Any]: ...

    async def scalars(self, statement: Executable) -> ScalarResult[Any]:
        with outage_as_unavailable():
            return await self._session.scalars(statement)

    async def run_on_postgresql(self, sql: str, *arguments: Any) -> list[Any]:
        """Run one statement on the unit's own asyncpg connection, inside its transaction.

        For the few hot statements SQLAlchemy cannot express cheaply (one statement that
        writes several tables from array parameters); the caller builds `sql` from the
        models. It runs in the unit's transaction (begun first if no statement has begun
        it yet), so it commits or rolls back with the rest of the unit.
        """
        if not self.on_postgresql:
            raise RuntimeError("run_on_postgresql needs PostgreSQL")
        if self._driver is not None:
            with outage_as_unavailable():
                return list(await self._driver.fetch(sql, *arguments))
        with outage_as_unavailable():
            connection = await self._session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
            if driver is None:
                raise RuntimeError("the unit of work has no driver connection")
            if not driver.is_in_transaction():
                # SQLAlchemy begins the driver's transaction with its first statement.
                await self._session.execute(text("SELECT 1"))
            if not driver.is_in_transaction():
                raise RuntimeError("run_on_postgresql runs inside the unit's transaction")
            return list(await driver.fetch(sql, *arguments))

    def add(self, row: object) -> None:
        self._session.add(row)

    async def flush(self) -> None:
        with outage_as_unavailable():
            await self._session.flush()
