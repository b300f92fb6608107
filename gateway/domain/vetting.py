"""Vetting: recording a directory entry signed with the offline organisation key, and what it
does to the account it names.

The server accepts only entries that extend the verified chain (`DirectoryBook.append`). In
the same unit of work an `add` activates the enrolled account (with the entry's roles) and
marks its enrollment vetted; a `revoke` marks the account revoked and empties its inbox. After
the commit a revocation ends every session of the account and nudges its open sockets.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from uuid import UUID

from gateway.broker import BrokerUnavailable
from gateway.crypto.directory import ADD, Directory, SignedEntry
from gateway.crypto.directory import DirectoryEntry as SignedDirectoryEntry
from gateway.crypto.keys import fingerprint
from gateway.domain.errors import Conflict, NotFound
from gateway.domain.hotline import Hotline
from gateway.domain.live import nudge
from gateway.domain.sessions import SessionBook
from gateway.store import Transaction
from gateway.store.records import Enrollment, EnrollmentStatus, Investigator, InvestigatorStatus

logger = logging.getLogger("gateway.domain.vetting")


class EntryDoesNotMatchAccount(Conflict):
    code = "entry_does_not_match_account"
    default_message = (
        "The entry names an enrolled account but lists other keys than it enrolled with; "
        "sign an entry built from the enrollment."
    )


@dataclass(frozen=True, slots=True)
class PendingEnrollment:
    """An enrollment as an admin checks it: who, which roles they asked for, which keys."""

    enrollment: Enrollment
    investigator: Investigator

    @property
    def enc_fingerprint(self) -> str:
        return fingerprint(self.investigator.enc_public_key)

    @property
    def sig_fingerprint(self) -> str:
        return fingerprint(self.investigator.sig_public_key)


async def pending_enrollments(hotline: Hotline) -> list[PendingEnrollment]:
    async with hotline.database.transaction(read_only=True) as tx:
        pending = await tx.enrollments.list_pending()
        accounts = {
            account.id: account
            for account in await tx.investigators.get_many(
                [enrollment.investigator_id for enrollment in pending]
            )
        }
    return [
        PendingEnrollment(enrollment, accounts[enrollment.investigator_id])
        for enrollment in pending
        if enrollment.investigator_id in accounts
    ]


async def enrollment(hotline: Hotline, enrollment_id: UUID) -> PendingEnrollment:
    async with hotline.database.transaction(read_only=True) as tx:
        found = await tx.enrollments.get(enrollment_id)
        account = await tx.investigators.get(found.investigator_id) if found else None
    if found is None or account is None:
        raise NotFound("No such enrollment.")
    return PendingEnrollment(found, account)


async def _apply(tx: Transaction, entry: SignedDirectoryEntry, effects: _Effects) -> None:
    try:
        account_id = uuid.UUID(entry.investigator_id)
    except ValueError:
        return  # DirectoryBook.append refuses these before the hook runs
    account = await tx.investigators.get(account_id)
    if account is None:
        # A member without an account: the recovery key, or people vetted before enrolling.
        return
    if entry.kind == ADD:
        if (entry.enc_pk, entry.sig_pk) != (account.enc_public_key, account.sig_public_key):
            raise EntryDoesNotMatchAccount
        if account.status is InvestigatorStatus.REVOKED:
            raise Conflict("This account was revoked; the person must enroll again.")
        await tx.investigators.set_status(account_id, InvestigatorStatus.ACTIVE)
        await tx.investigators.set_roles(account_id, entry.roles)
        decision = EnrollmentStatus.VETTED
    else:
        await tx.investigators.set_status(account_id, InvestigatorStatus.REVOKED)
        removed = await tx.inbox.remove_investigator(account_id)
        effects.revoked.append(account_id)
        logger.info(
            "investigator_revoked",
            extra={"investigator_id": str(account_id), "inbox_rows_removed": removed},
        )
        decision = EnrollmentStatus.REJECTED
    latest = await tx.enrollments.latest_for_investigator(account_id)
    if latest is not None and latest.status is EnrollmentStatus.PENDING:
        await tx.enrollments.decide(latest.id, decision, at=effects.now)


class _Effects:
    """What one `record_entry` call and its hook share: the time, and whom to cut off after."""

    def __init__(self, hotline: Hotline) -> None:
        self.now = hotline.clock.now()
        self.revoked: list[UUID] = []


async def record_entry(
    hotline: Hotline,
    sessions: SessionBook,
    signed: SignedEntry,
    *,
    actor_id: UUID | None = None,
) -> Directory:
    """Verify and store one signed entry with its effects; revocations take effect at once.

    `actor_id` is the admin who submitted it (None: a request signed with the organisation key).
    """
    effects = _Effects(hotline)

    async def hook(tx: Transaction, entry: SignedDirectoryEntry) -> None:
        await _apply(tx, entry, effects)
        await hotline.audit.record(
            tx,
            action=f"directory.{entry.kind}",
            actor_id=actor_id,
            details={
                "seq": entry.seq,
                "investigator": entry.investigator_id,
                "roles": ":".join(sorted(entry.roles)),
            },
        )

    directory = await hotline.directory.append(signed, hook=hook)
    logger.info(
        "directory_entry_recorded", extra={"seq": signed.entry.seq, "kind": signed.entry.kind}
    )
    for account_id in effects.revoked:
        try:
            ended = await sessions.close_all(account_id)
            await nudge(hotline.broker, [account_id])
        except BrokerUnavailable:
            # Every request re-checks the directory, so the sessions are already worthless;
            # they also expire on their own. The entry itself is committed.
            logger.warning(
                "revocation_sessions_not_ended", extra={"investigator_id": str(account_id)}
            )
            continue
        logger.info(
            "revocation_sessions_ended",
            extra={"investigator_id": str(account_id), "sessions": ended},
        )
    return directory
