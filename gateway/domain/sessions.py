"""Investigator sessions: random bearer tokens held in the broker with an idle and an absolute
deadline, resolved to a vetted caller on every request, and ended all at once on revocation.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

from gateway.broker import Broker
from gateway.domain.accounts import Caller, vetted_member
from gateway.domain.directory import DirectoryBook
from gateway.domain.errors import Unauthenticated
from gateway.store import Database

# 256 bits from the OS CSPRNG: unguessable, and the broker keeps only its SHA-256.
TOKEN_BYTES: Final = 32
_TOKEN_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class IssuedSession:
    token: str = field(repr=False)
    investigator_id: UUID
    expires_in: float


class SessionBook:
    def __init__(
        self,
        broker: Broker,
        database: Database,
        directory: DirectoryBook,
        *,
        idle_seconds: float,
        absolute_seconds: float,
    ) -> None:
        self._broker = broker
        self._database = database
        self._directory = directory
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds

    async def open(self, investigator_id: UUID) -> IssuedSession:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        await self._broker.create_session(
            token,
            owner_id=str(investigator_id),
            data={},
            idle_ttl=self.idle_seconds,
            absolute_ttl=self.absolute_seconds,
        )
        return IssuedSession(
            token=token, investigator_id=investigator_id, expires_in=self.absolute_seconds
        )

    async def owner(self, token: str, *, touch: bool = True) -> UUID | None:
        """The investigator a live session belongs to, or None (missing, expired, malformed)."""
        if _TOKEN_SHAPE.fullmatch(token) is None:
            return None
        session = await self._broker.get_session(token, touch=touch)
        if session is None:
            return None
        return UUID(session.owner_id)

    async def caller(self, token: str, *, touch: bool = True) -> Caller:
        """The vetted investigator behind a session; `Unauthenticated` for anything else.

        The account's status and the directory are read again on every call: a session
        outlives nothing that ended the investigator's vetting.
        """
        investigator_id = await self.owner(token, touch=touch)
        if investigator_id is None:
            raise Unauthenticated("No live session; log in again.")
        async with self._database.transaction(read_only=True) as tx:
            account = await tx.investigators.get(investigator_id)
            vetted = await self._directory.vetted(tx)
        member = vetted_member(account, vetted)
        if account is None or member is None:
            # No longer vetted: the session is worthless, so it goes now.
            await self._broker.delete_session(token)
            raise Unauthenticated("No live session; log in again.")
        return Caller(account=account, member=member)

    async def close(self, token: str) -> None:
        if _TOKEN_SHAPE.fullmatch(token) is not None:
            await self._broker.delete_session(token)

    async def close_all(self, investigator_id: UUID) -> int:
        return await self._broker.delete_owner_sessions(str(investigator_id))
