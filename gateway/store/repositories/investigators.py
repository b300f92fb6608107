"""Investigator accounts: public keys, the sealed secrets the server keeps, status and duty."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError

from gateway.store.errors import UsernameTaken
from gateway.store.models import InvestigatorRow
from gateway.store.records import AccountStatus, Investigator, InvestigatorStatus, JSONValue
from gateway.store.session import StoreSession


def investigator_record(row: InvestigatorRow) -> Investigator:
    return Investigator(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        status=InvestigatorStatus(row.status),
        roles=tuple(row.roles),
        enc_public_key=row.enc_public_key,
        sig_public_key=row.sig_public_key,
        auth_salt=row.auth_salt,
        kdf_params=dict(row.kdf_params),
        auth_key_hash=row.auth_key_hash,
        key_bundle=row.key_bundle,
        totp_secret_sealed=row.totp_secret_sealed,
        on_duty=row.on_duty,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


class InvestigatorRepository:
    def __init__(self, session: StoreSession) -> None:
        self._session = session

    async def create(
        self,
        *,
        username: str,
        display_name: str,
        roles: Sequence[str],
        enc_public_key: bytes,
        sig_public_key: bytes,
        auth_salt: bytes,
        kdf_params: Mapping[str, JSONValue],
        auth_key_hash: bytes,
        key_bundle: bytes,
        totp_secret_sealed: bytes,
        at: datetime,
        status: InvestigatorStatus = InvestigatorStatus.PENDING,
        investigator_id: UUID | None = None,
    ) -> Investigator:
        row = InvestigatorRow(
            id=investigator_id or uuid.uuid4(),
            username=username,
            display_name=display_name,
            status=status,
            roles=list(roles),
            enc_public_key=enc_public_key,
            sig_public_key=sig_public_key,
            auth_salt=auth_salt,
            kdf_params=dict(kdf_params),
            auth_key_hash=auth_key_hash,
            key_bundle=key_bundle,
            totp_secret_sealed=totp_secret_sealed,
            on_duty=False,
            created_at=at,
        )
        self._session.add(row)
        try:
            await self._session.flush()
        except IntegrityError as error:
            raise UsernameTaken("this username is taken") from error
        return investigator_record(row)

    async def get(self, investigator_id: UUID) -> Investigator | None:
        row = await self._session.scalar(
            select(InvestigatorRow).where(InvestigatorRow.id == investigator_id)
        )
        return investigator_record(row) if row is not None else None

    async def find_by_username(self, username: str) -> Investigator | None:
        row = await self._session.scalar(
            select(InvestigatorRow).where(InvestigatorRow.username == username)
        )
        return investigator_record(row) if row is not None else None

    async def find_by_username_or(self, username: str, fallback: str) -> Investigator | None:
        """The account called `username`, else the one called `fallback`, in one query.

        Login uses it with a stand-in account as the fallback, so that the database does the
        same work (and returns a row of the same shape) whether or not a username exists.
        """
        row = await self._session.scalar(
            select(InvestigatorRow)
            .where(InvestigatorRow.username.in_([username, fallback]))
            .order_by(case((InvestigatorRow.username == username, 0), else_=1))
            .limit(1)
        )
        return investigator_record(row) if row is not None else None

    async def statuses(self, investigator_ids: Collection[UUID]) -> list[AccountStatus]:
        """Which of these ids have an account, and its state: two columns, not the row."""
        if not investigator_ids:
            return []
        if self._session.plain:
            return [
                AccountStatus(id=UUID(str(record[0])), status=InvestigatorStatus(record[1]))
                for record in await self._session.run_on_postgresql(
                    "SELECT id, status FROM investigators WHERE id = ANY($1::uuid[])",
                    list(investigator_ids),
                )
            ]
        result = await self._session.execute(
            select(InvestigatorRow.id, InvestigatorRow.status).where(
                self._session.one_of(InvestigatorRow.id, list(investigator_ids))
            )
        )
        return [
            AccountStatus(id=account_id, status=InvestigatorStatus(status))
            for account_id, status in result
        ]

    async def get_many(self, investigator_ids: Collection[UUID]) -> list[Investigator]:
        if not investigator_ids:
            return []
        rows = await self._session.scalars(
            select(InvestigatorRow)
            .where(self._session.one_of(InvestigatorRow.id, list(investigator_ids)))
            .order_by(InvestigatorRow.username)
        )
        return [investigator_record(row) for row in rows]

    async def list_all(
        self, *, statuses: Collection[InvestigatorStatus] | None = None
    ) -> list[Investigator]:
        """Every investigator (the team is small), by username; roles are filtered by callers."""
        query = select(InvestigatorRow)
        if statuses is not None:
            query = query.where(InvestigatorRow.status.in_(list(statuses)))
        rows = await self._session.scalars(query.order_by(InvestigatorRow.username))
        return [investigator_record(row) for row in rows]

    async def set_status(
        self, investigator_id: UUID, status: InvestigatorStatus
    ) -> Investigator | None:
        values: dict[str, Any] = {"status": status}
        if status is not InvestigatorStatus.ACTIVE:
            # Nobody who cannot log in is counted on duty for emergencies.
            values["on_duty"] = False
        return await self._update(investigator_id, values)

    async def set_roles(self, investigator_id: UUID, roles: Sequence[str]) -> Investigator | None:
        return await self._update(investigator_id, {"roles": list(roles)})

    async def set_on_duty(self, investigator_id: UUID, on_duty: bool) -> Investigator | None:
        return await self._update(investigator_id, {"on_duty": on_duty})

    async def record_login(self, investigator_id: UUID, *, at: datetime) -> Investigator | None:
        return await self._update(investigator_id, {"last_login_at": at})

    async def replace_credentials(
        self,
        investigator_id: UUID,
        *,
        auth_salt: bytes,
        kdf_params: Mapping[str, JSONValue],
        auth_key_hash: bytes,
        key_bundle: bytes,
    ) -> Investigator | None:
        """A passphrase change: new salt, parameters, auth hash and re-wrapped key bundle."""
        return await self._update(
            investigator_id,
            {
                "auth_salt": auth_salt,
                "kdf_params": dict(kdf_params),
                "auth_key_hash": auth_key_hash,
                "key_bundle": key_bundle,
            },
        )

    async def _update(self, investigator_id: UUID, values: dict[str, Any]) -> Investigator | None:
        row = await self._session.scalar(
            update(InvestigatorRow)
            .where(InvestigatorRow.id == investigator_id)
            .values(**values)
            .returning(InvestigatorRow)
            .execution_options(synchronize_session="fetch")
        )
        return investigator_record(row) if row is not None else None
