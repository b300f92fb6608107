"""Retention: cases whose time has come are purged — rows, blobs and broker keys — leaving a
content-free audit record (`case.purge`: why, which status, how many messages and files).

Rules per status (configurable, a rule can be off): closed cases some days after closing,
withdrawn cases (a reporter's withdrawal already purges at once; this catches leftovers), and
cases of any status without activity for long. One process purges at a time, under the broker
lock `retention-purge`, extended between cases; a process that loses the lock stops. Each case
is purged in its own unit of work with its row locked and its rule checked again, so a message
that arrives meanwhile either lands before (and the case is kept) or finds the case gone. Blobs
are deleted after that unit commits: a failed unit never loses a file its rows still name.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

from gateway.blobs import BlobStore
from gateway.blobs.interface import BlobError
from gateway.broker import Broker, BrokerUnavailable, Lease
from gateway.domain.audit import AuditTrail
from gateway.domain.clock import Clock
from gateway.store import Database, DatabaseUnavailable
from gateway.store.records import Case, CaseStatus

logger = logging.getLogger("gateway.domain.retention")

RETENTION_LOCK: Final = "retention-purge"
LOCK_TTL_SECONDS: Final = 300.0
BATCH: Final = 100


def case_key_prefix(case_id: UUID) -> str:
    """The broker key prefix of everything tied to one case; a purge deletes it all."""
    return f"case:{case_id}:"


@dataclass(frozen=True, slots=True)
class RetentionRules:
    """How long cases are kept; None switches a rule off, zero means at the next run."""

    closed_after: timedelta | None = timedelta(days=30)
    idle_after: timedelta | None = timedelta(days=90)
    withdrawn_after: timedelta | None = timedelta(0)

    @classmethod
    def from_days(
        cls, *, closed: int | None, idle: int | None, withdrawn: int | None
    ) -> RetentionRules:
        def days(value: int | None) -> timedelta | None:
            return None if value is None else timedelta(days=value)

        return cls(
            closed_after=days(closed), idle_after=days(idle), withdrawn_after=days(withdrawn)
        )

    def reason(self, case: Case, now: datetime) -> str | None:
        """Which rule makes the case due now ("closed", "withdrawn", "idle"), or None."""
        ended = case.closed_at
        ended_rules = {
            CaseStatus.CLOSED: self.closed_after,
            CaseStatus.WITHDRAWN: self.withdrawn_after,
        }
        keep_for = ended_rules.get(case.status)
        if keep_for is not None and ended is not None and ended <= now - keep_for:
            return case.status.value
        if self.idle_after is not None and case.last_activity_at <= now - self.idle_after:
            return "idle"
        return None


@dataclass(frozen=True, slots=True)
class PurgeReport:
    cases: int
    messages: int
    attachments: int
    # The lock was lost half-way (another process may go on); the next run finishes.
    interrupted: bool = False


class RetentionRunner:
    def __init__(
        self,
        *,
        database: Database,
        broker: Broker,
        blobs: BlobStore,
        audit: AuditTrail,
        clock: Clock,
        rules: RetentionRules,
        batch: int = BATCH,
        lock_ttl: float = LOCK_TTL_SECONDS,
    ) -> None:
        self._database = database
        self._broker = broker
        self._blobs = blobs
        self._audit = audit
        self._clock = clock
        self._rules = rules
        self._batch = batch
        self._lock_ttl = lock_ttl

    async def due(self, now: datetime) -> list[Case]:
        rules = self._rules
        # A hair in the future, so that "0 days" includes a case ended this very moment.
        edge = now + timedelta(microseconds=1)
        async with self._database.transaction(read_only=True) as tx:
            return await tx.cases.due_for_retention(
                closed_before=None if rules.closed_after is None else edge - rules.closed_after,
                withdrawn_before=(
                    None if rules.withdrawn_after is None else edge - rules.withdrawn_after
                ),
                idle_before=None if rules.idle_after is None else edge - rules.idle_after,
                limit=self._batch,
            )

    async def run_once(self) -> PurgeReport | None:
        """Purge everything due; None when another process holds the purge lock."""
        lease = await self._broker.acquire_lock(RETENTION_LOCK, ttl=self._lock_ttl)
        if lease is None:
            return None
        try:
            return await self._purge_due(lease)
        finally:
            try:
                await self._broker.release_lock(lease)
            except BrokerUnavailable:
                logger.warning("retention_lock_not_released")  # it expires on its own

    async def _purge_due(self, lease: Lease) -> PurgeReport:
        cases = messages = attachments = 0
        skipped: set[UUID] = set()
        while True:
            now = self._clock.now()
            batch = [case for case in await self.due(now) if case.id not in skipped]
            if not batch:
                break
            for case in batch:
                if not await self._broker.extend_lock(lease, ttl=self._lock_ttl):
                    logger.warning("retention_lock_lost")
                    return PurgeReport(cases, messages, attachments, interrupted=True)
                purged = await self.purge(case.id, now=now)
                if purged is None:
                    skipped.add(case.id)  # no longer due (a message arrived) or gone
                    continue
                cases += 1
                messages += purged[0]
                attachments += purged[1]
        if cases:
            logger.info(
                "retention_purged",
                extra={"cases": cases, "messages": messages, "attachments": attachments},
            )
        return PurgeReport(cases, messages, attachments)

    async def purge(self, case_id: UUID, *, now: datetime) -> tuple[int, int] | None:
        """Purge one case if a rule still applies; (messages, attachments) removed, or None."""
        async with self._database.transaction() as tx:
            case = await tx.cases.lock(case_id)
            reason = None if case is None else self._rules.reason(case, now)
            if case is None or reason is None:
                return None
            purged = await tx.cases.purge(case_id)
            if purged is None:
                return None
            await self._audit.record(
                tx,
                action="case.purge",
                case_id=case_id,
                details={
                    "reason": reason,
                    "status": case.status.value,
                    "messages": purged.messages,
                    "attachments": purged.attachments,
                },
            )
        await self._delete_blobs_and_broker_keys(case_id, purged.blob_keys)
        return purged.messages, purged.attachments

    async def _delete_blobs_and_broker_keys(
        self, case_id: UUID, blob_keys: tuple[str, ...]
    ) -> None:
        failed = 0
        for blob_key in blob_keys:
            try:
                await self._blobs.delete(blob_key)
            except (BlobError, OSError):
                failed += 1
        if failed:
            # The rows are gone, so nothing names these files any more; the operator must
            # remove them (counts only in the log, never names).
            logger.error("retention_blobs_not_deleted", extra={"count": failed})
        try:
            await self._broker.delete_prefix(case_key_prefix(case_id))
        except BrokerUnavailable:
            logger.error("retention_broker_keys_not_deleted", extra={"case_id": str(case_id)})

    async def run(self, interval_seconds: float) -> None:
        """Purge every interval until cancelled; the first run waits one interval, so that a
        restarting fleet does not purge in a burst (retention is never urgent)."""
        while True:
            await asyncio.sleep(interval_seconds * random.uniform(0.9, 1.1))  # noqa: S311
            try:
                await self.run_once()
            except (DatabaseUnavailable, BrokerUnavailable) as outage:
                logger.warning("retention_waiting", extra={"dependency": type(outage).__name__})
            except Exception:  # One bad case must not stop retention for good; it is logged.
                logger.exception("retention_failed")
