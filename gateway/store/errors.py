"""The store's own error types, so that callers never need to catch SQLAlchemy or driver errors.

The domain layer translates these into its public errors; a conflict error always ends the
transaction it happened in (the unit of work rolls back).
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached (refused, timed out, shut down, locked too long)."""


class RecordNotFound(StoreError):
    """An operation names a row that does not exist."""


class LocatorTaken(StoreError):
    """A case with this locator hash exists already."""


class UsernameTaken(StoreError):
    """An investigator with this username exists already."""


class InviteAlreadyEnrolled(StoreError):
    """The invite has been used for an enrollment already."""


class DirectorySequenceRefused(StoreError):
    """A directory entry does not carry the next sequence number, or its hash is known."""


class AuditChainRefused(StoreError):
    """An audit entry does not link to the current tail of the chain."""


class InvalidCursor(StoreError, ValueError):
    """A pagination cursor is malformed (it came from outside and cannot be trusted)."""
