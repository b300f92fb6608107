"""What must hold after a fault: accepted tips read back by their codes, no half-written case,
no orphan blob, every live event relayed. Each check returns the problems it found (empty
when all is well), so a failing test names every broken tip or row at once."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from gateway.client.reporter import ReporterClient
from gateway.client.transport import ApiError, Transport
from gateway.config import Settings
from gateway.domain.attachments import SweepResult, sweep_abandoned_uploads
from gateway.domain.events import CASE_CREATED, TOPICS
from gateway.store import Database
from gateway.store.models import AttachmentRow, CaseRow, InboxEntryRow, MessageRow, OutboxRow
from gateway.store.records import AttachmentState, MessageKind
from tests.fault.deployment import ShiftedClock, hotline_of
from tests.fault.traffic import Accepted

PARTIAL_PREFIX = ".partial-"
A_DAY_AND_AN_HOUR = timedelta(hours=25)


async def read_back(
    url: str,
    org_public_key: bytes,
    accepted: list[Accepted],
    folder: Path,
    *,
    session: aiohttp.ClientSession,
    parallel: int = 2,
) -> list[str]:
    """Open every accepted tip by its pickup code, as its reporter would, and compare."""
    gate = asyncio.Semaphore(parallel)
    problems: list[str] = []

    async def one(index: int, tip: Accepted) -> None:
        async with gate:
            client = ReporterClient(Transport(url, session=session), org_public_key)
            try:
                thread = await client.open_case(tip.code)
            except ApiError as refusal:
                problems.append(f"tip {index}: {refusal.status} {refusal.code} by its code")
                return
            tips = [m for m in thread.messages if m.kind == "tip"]
            if len(tips) != 1 or tips[0].content.body != tip.body:
                problems.append(f"tip {index}: its text did not come back")
            refs = {ref.name: ref for ref in thread.attachments}
            if set(refs) != set(tip.attachments):
                problems.append(f"tip {index}: attachments {sorted(refs)} != sent")
                return
            into = folder / str(index)
            into.mkdir(parents=True, exist_ok=True)
            for name, ref in refs.items():
                saved = await client.download_attachment(thread, ref, into)
                if saved.read_bytes() != tip.attachments[name]:
                    problems.append(f"tip {index}: attachment {name} differs")

    await asyncio.gather(*(one(i, tip) for i, tip in enumerate(accepted)))
    return problems


async def half_written_cases(database: Database) -> list[str]:
    """Cases without their tip (seq 1), an inbox row or their `case.created` outbox row."""
    problems = []
    async with database.engine.connect() as connection:
        cases = list(await connection.scalars(select(CaseRow.id)))
        with_tip = set(
            await connection.scalars(
                select(MessageRow.case_id).where(
                    MessageRow.seq == 1, MessageRow.kind == MessageKind.TIP
                )
            )
        )
        in_inbox = set(await connection.scalars(select(InboxEntryRow.case_id)))
        announced = set(
            await connection.scalars(
                select(OutboxRow.case_id).where(OutboxRow.topic == CASE_CREATED)
            )
        )
    for case_id in cases:
        missing = [
            what
            for what, present in (
                ("its tip", with_tip),
                ("an inbox row", in_inbox),
                ("its case.created event", announced),
            )
            if case_id not in present
        ]
        if missing:
            problems.append(f"case {case_id} lacks {', '.join(missing)}")
    return problems


async def case_count(database: Database) -> int:
    async with database.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(CaseRow)) or 0)


def blob_files(blob_dir: Path) -> list[Path]:
    return sorted(p for p in blob_dir.rglob("*") if p.is_file()) if blob_dir.exists() else []


@dataclass(frozen=True)
class UploadState:
    partial_files: int
    uploading_rows: int
    unclaimed_rows: int
    claimed_rows: int


async def upload_state(database: Database, blob_dir: Path) -> UploadState:
    async with database.engine.connect() as connection:
        rows = (await connection.execute(select(AttachmentRow.state, AttachmentRow.case_id))).all()
    return UploadState(
        partial_files=sum(p.name.startswith(PARTIAL_PREFIX) for p in blob_files(blob_dir)),
        uploading_rows=sum(state is AttachmentState.UPLOADING for state, _ in rows),
        unclaimed_rows=sum(
            state is AttachmentState.COMPLETE and case is None for state, case in rows
        ),
        claimed_rows=sum(case is not None for _, case in rows),
    )


async def orphan_blobs(database: Database, blob_dir: Path) -> list[str]:
    """Blob files no attachment row names, rows whose file is missing, and rows or files
    that belong to no message (unfinished or unclaimed uploads)."""
    async with database.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(AttachmentRow.blob_key, AttachmentRow.state, AttachmentRow.case_id)
            )
        ).all()
    names = [p.name for p in blob_files(blob_dir)]
    files = {name for name in names if not name.startswith(PARTIAL_PREFIX)}
    keys = {key for key, _, _ in rows}
    return [
        *(f"partial upload file {name}" for name in names if name.startswith(PARTIAL_PREFIX)),
        *(f"blob file {name} belongs to no attachment row" for name in sorted(files - keys)),
        *(f"attachment row {key} has no blob file" for key in sorted(keys - files)),
        *(
            f"attachment {key} is {state.value}{'' if case else ', claimed by no case'}"
            for key, state, case in rows
            if state is not AttachmentState.COMPLETE or case is None
        ),
    ]


async def sweep_a_day_later(settings: Settings) -> SweepResult:
    """Run the gateway's own upload sweep as it would run a day from now.

    The sweep reads the database's times through the domain clock (moved 25 hours on) and
    the partial files' ages from their modification times (moved 25 hours back).
    """
    past = time.time() - A_DAY_AND_AN_HOUR.total_seconds()
    for path in blob_files(settings.blob_dir):
        if path.name.startswith(PARTIAL_PREFIX):
            os.utime(path, (past, past))
    totals = SweepResult(unclaimed=0, stalled=0, partial_files=0)
    async with hotline_of(settings, clock=ShiftedClock(A_DAY_AND_AN_HOUR)) as hotline:
        while True:
            swept = await sweep_abandoned_uploads(hotline)
            totals = SweepResult(
                unclaimed=totals.unclaimed + swept.unclaimed,
                stalled=totals.stalled + swept.stalled,
                partial_files=totals.partial_files + swept.partial_files,
            )
            if not (swept.unclaimed or swept.stalled or swept.partial_files):
                return totals


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    topic: str
    case_id: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempts: int
    last_error: str | None


async def live_outbox(database: Database) -> list[OutboxRecord]:
    """Every outbox row of a live-event topic, oldest first."""
    async with database.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(
                    OutboxRow.id,
                    OutboxRow.topic,
                    OutboxRow.case_id,
                    OutboxRow.created_at,
                    OutboxRow.delivered_at,
                    OutboxRow.attempts,
                    OutboxRow.last_error,
                )
                .where(OutboxRow.topic.in_(TOPICS))
                .order_by(OutboxRow.id)
            )
        ).all()
    return [
        OutboxRecord(
            id=row.id,
            topic=row.topic,
            case_id=None if row.case_id is None else str(row.case_id),
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            attempts=row.attempts,
            last_error=row.last_error,
        )
        for row in rows
    ]


def wall(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp()
