"""Schema migrations, run in code: no alembic.ini, usable from the CLI and at start-up.

Every function opens its own short-lived engine and runs Alembic's synchronous API on
that connection through `run_sync`, so it works from inside a running event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from gateway.store.database import create_engine
from gateway.store.outage import outage_as_unavailable

MIGRATIONS = Path(__file__).parent / "migrations"

# Serialises concurrent upgrades on PostgreSQL (several gateways starting at once): the
# second waits, then finds the schema at head and does nothing. ASCII for "tipmigr".
MIGRATION_LOCK = 0x7469706D696772


def alembic_config() -> Config:
    """Alembic's configuration, pointing into this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest revision the code knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise RuntimeError("the migrations folder holds no revision")
    return revision


async def upgrade(url: str | URL, revision: str = "head") -> None:
    """Bring the schema up to `revision` in one transaction (all or nothing)."""
    await _run(url, lambda config: command.upgrade(config, revision))


async def downgrade(url: str | URL, revision: str) -> None:
    """Take the schema down to `revision` ("base" removes every table)."""
    await _run(url, lambda config: command.downgrade(config, revision))


async def current(url: str | URL) -> str | None:
    """The revision the database is at, or None for an empty database."""
    found: list[str | None] = []

    def read(connection: Connection) -> None:
        found.append(MigrationContext.configure(connection).get_current_revision())

    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        with outage_as_unavailable():
            async with engine.connect() as connection:
                await connection.run_sync(read)
    finally:
        await engine.dispose()
    return found[0]


async def _run(url: str | URL, work: Callable[[Config], None]) -> None:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        with outage_as_unavailable():
            async with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    await connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                    )
                await connection.run_sync(_with_connection, work)
    finally:
        await engine.dispose()


def _with_connection(connection: Connection, work: Callable[[Config], None]) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    work(config)
