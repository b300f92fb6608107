"""Persistence: SQLAlchemy models, repositories and migrations; the only package that speaks SQL.

Callers open a `Database`, work in `async with database.transaction() as tx:` and get
plain records from `gateway.store.records` back.
"""

from gateway.store.database import Database, Transaction
from gateway.store.errors import (
    AuditChainRefused,
    DatabaseUnavailable,
    DirectorySequenceRefused,
    InvalidCursor,
    InviteAlreadyEnrolled,
    LocatorTaken,
    RecordNotFound,
    StoreError,
    UsernameTaken,
)

__all__ = [
    "AuditChainRefused",
    "Database",
    "DatabaseUnavailable",
    "DirectorySequenceRefused",
    "InvalidCursor",
    "InviteAlreadyEnrolled",
    "LocatorTaken",
    "RecordNotFound",
    "StoreError",
    "Transaction",
    "UsernameTaken",
]
