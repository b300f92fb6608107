"""Alembic's environment: runs migrations on the connection `gateway.store.migrate` hands in.

There is no alembic.ini: `gateway.store.migrate` builds the configuration in code and
opens the connection (one transaction, with the project's SQLite and PostgreSQL set-up).
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from gateway.store.column_types import UTCDateTime
from gateway.store.models import Base


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render project column types as plain SQLAlchemy ones, so revisions stay frozen."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables where it must.
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if _connection is None:
    raise RuntimeError(
        "run migrations through gateway.store.migrate (`tipline db upgrade`), "
        "not the alembic command"
    )
run_migrations(_connection)
