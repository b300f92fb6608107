"""Retention with a movable clock: each rule purges on time and not before; a purge leaves no
row, blob or broker key of the case (all three scanned), only a content-free audit record; one
runner at a time across processes."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis
from aiohttp import web

from gateway.config import Settings
from gateway.domain.hotline import Hotline
from gateway.domain.retention import RETENTION_LOCK, RetentionRunner, case_key_prefix
from gateway.store.records import CaseStatus, MessageKind, Recipient, RecipientKind
from gateway.web.app import create_app
from gateway.web.keys import HOTLINE
from gateway.web.timers import RETENTION_RUNNER
from tests.api.emergency_support import Client, ManualClock, emergency_settings
from tests.api.investigator_support import OpenCase, bearer, log_in, open_case_for, vetted_person
from tests.fixtures.app import ClientFactory
from tests.fixtures.broker import require_redis
from tests.fixtures.database import postgres_only
from tests.fixtures.organisation import Organisation
from tests.fixtures.services import REDIS_URL
from tests.unit.store.builders import rows_mentioning


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, redis_prefix: str | None, organisation: Organisation
) -> Settings:
    return emergency_settings(tmp_path, database_url, redis_prefix, organisation)


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> web.Application:
    return create_app(settings, clock=clock)


def runner_of(app: web.Application) -> RetentionRunner:
    return app[RETENTION_RUNNER]


async def with_attachment(hotline: Hotline, case: OpenCase) -> str:
    """An uploaded attachment of the case: its row and its encrypted blob."""
    blob_key = secrets.token_hex(16)

    async def chunks() -> AsyncIterator[bytes]:
        yield secrets.token_bytes(4096)

    await hotline.blobs.write(blob_key, chunks(), max_bytes=1 << 20)
    now = hotline.clock.now()
    async with hotline.database.transaction() as tx:
        upload = await tx.attachments.create(
            case.case.id, uploaded_by=None, blob_key=blob_key, at=now
        )
        await tx.attachments.complete(upload.id, size_bytes=4096, at=now)
    return blob_key


async def redis_keys_mentioning(settings: Settings, text: str) -> list[str]:
    """Every Redis key under the gateway's prefix that names `text` (services backend)."""
    await require_redis()
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [
            key.decode()
            async for key in connection.scan_iter(match=f"{settings.redis_key_prefix}*", count=500)
        ]
    finally:
        await connection.aclose()
    return [key for key in keys if text in key]


async def test_a_closed_case_is_purged_after_its_days_and_leaves_only_an_audit_record(
    app: web.Application,
    client: Client,
    *,
    hotline: Hotline,
    organisation: Organisation,
    settings: Settings,
    clock: ManualClock,
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    token = await log_in(client, triage)
    clock.freeze()
    case = await open_case_for(hotline, triage)
    kept = await open_case_for(hotline, triage)
    blob_key = await with_attachment(hotline, case)
    # A case-scoped broker key (none exist today; any that come later are purged with it).
    probe = case_key_prefix(case.case.id) + "probe"
    assert await hotline.broker.remember_once(probe, ttl=10**6)
    closed = await client.patch(
        f"/api/v1/cases/{case.id_text}", json={"status": "closed"}, headers=bearer(token)
    )
    assert closed.status == 200, await closed.text()
    async with hotline.database.transaction(read_only=True) as tx:
        messages = await tx.messages.list_for_case(case.case.id)
    identifiers = [
        case.case.id,
        case.id_text,
        case.case.locator_hash,
        *(message.id for message in messages),
    ]
    assert set(await rows_mentioning(hotline.database, identifiers)) > {"audit_entries.case_id"}

    clock.advance(days=30, seconds=-1)
    too_early = await runner_of(app).run_once()
    clock.advance(seconds=1)
    on_time = await runner_of(app).run_once()

    assert too_early is not None
    assert too_early.cases == 0
    assert on_time is not None
    assert (on_time.cases, on_time.messages, on_time.attachments) == (1, 1, 1)
    # Rows: the only cells naming the case are the audit trail's own.
    assert set(await rows_mentioning(hotline.database, identifiers)) == {"audit_entries.case_id"}
    # Blobs: the file is gone.
    assert not await hotline.blobs.exists(blob_key)
    # Broker keys: the probe is gone (it can be remembered afresh), and on Redis no key at all
    # under the gateway's prefix names the case.
    assert await hotline.broker.remember_once(probe, ttl=1)
    await hotline.broker.delete_prefix(case_key_prefix(case.case.id))
    if settings.redis_url is not None:
        assert await redis_keys_mentioning(settings, case.id_text) == []
    [purge] = [
        e
        for e in await hotline.audit.for_case(hotline.database, case.case.id)
        if e.action == "case.purge"
    ]
    assert purge.actor_id is None
    assert purge.details == {
        "reason": "closed",
        "status": "closed",
        "messages": 1,
        "attachments": 1,
    }
    assert (await hotline.audit.verify(hotline.database)).intact
    async with hotline.database.transaction(read_only=True) as tx:
        assert await tx.cases.get(kept.case.id) is not None
    # Investigators on the case no longer find it, and neither does its trail.
    gone = await client.get(f"/api/v1/cases/{case.id_text}", headers=bearer(token))
    assert gone.status == 404


async def test_an_untouched_case_is_purged_after_the_idle_period_counted_from_its_last_message(
    app: web.Application, hotline: Hotline, organisation: Organisation, clock: ManualClock
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    quiet = await open_case_for(hotline, triage)
    active = await open_case_for(hotline, triage)
    async with hotline.database.transaction() as tx:
        await tx.cases.set_status(active.case.id, CaseStatus.INVESTIGATING, at=clock.now())

    clock.advance(days=60)
    async with hotline.database.transaction() as tx:
        # A message 60 days in moves the case's last activity.
        await tx.messages.append(
            active.case.id,
            kind=MessageKind.REPLY,
            author_id=None,
            visible_to_reporter=True,
            envelope=b"{}",
            recipients=[Recipient(key_id=active.reporter.kid, kind=RecipientKind.REPORTER)],
            at=clock.now(),
        )
    clock.advance(days=30, hours=1)  # the test cases were written on the real clock, a bit later
    at_ninety_days = await runner_of(app).run_once()
    clock.advance(days=60)
    at_one_fifty = await runner_of(app).run_once()

    assert at_ninety_days is not None
    assert at_ninety_days.cases == 1
    async with hotline.database.transaction(read_only=True) as tx:
        assert await tx.cases.get(quiet.case.id) is None
        assert await tx.cases.get(active.case.id) is None
    assert at_one_fifty is not None
    assert at_one_fifty.cases == 1
    [purge] = [
        e
        for e in await hotline.audit.for_case(hotline.database, active.case.id)
        if e.action == "case.purge"
    ]
    assert purge.details["reason"] == "idle"
    assert purge.details["status"] == "investigating"


async def test_a_withdrawn_case_goes_at_the_next_run(
    app: web.Application, hotline: Hotline, organisation: Organisation, clock: ManualClock
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, triage)
    async with hotline.database.transaction() as tx:
        await tx.cases.set_status(case.case.id, CaseStatus.WITHDRAWN, at=clock.now())

    report = await runner_of(app).run_once()

    assert report is not None
    assert report.cases == 1


async def test_a_rule_switched_off_keeps_its_cases(
    aiohttp_client: ClientFactory,
    tmp_path: Path,
    *,
    database_url: str,
    redis_prefix: str | None,
    organisation: Organisation,
    clock: ManualClock,
) -> None:
    settings = emergency_settings(
        tmp_path,
        database_url,
        redis_prefix,
        organisation,
        retention_idle_after_days="off",
        retention_closed_after_days="7",
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    hotline = client.app[HOTLINE]
    triage = await vetted_person(hotline, organisation, "triage")
    idle = await open_case_for(hotline, triage)
    closed = await open_case_for(hotline, triage)
    async with hotline.database.transaction() as tx:
        await tx.cases.set_status(closed.case.id, CaseStatus.CLOSED, at=clock.now())

    clock.advance(days=3650)
    report = await runner_of(client.app).run_once()

    assert report is not None
    assert report.cases == 1
    async with hotline.database.transaction(read_only=True) as tx:
        assert await tx.cases.get(idle.case.id) is not None
        assert await tx.cases.get(closed.case.id) is None


async def test_no_purge_runs_while_another_process_holds_the_lock(
    app: web.Application, hotline: Hotline, organisation: Organisation, clock: ManualClock
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    case = await open_case_for(hotline, triage)
    clock.advance(days=365)

    async with hotline.broker.lock(RETENTION_LOCK, ttl=60) as lease:
        assert lease is not None
        while_held = await runner_of(app).run_once()
    afterwards = await runner_of(app).run_once()

    assert while_held is None
    assert afterwards is not None
    assert afterwards.cases == 1
    async with hotline.database.transaction(read_only=True) as tx:
        assert await tx.cases.get(case.case.id) is None


@postgres_only
async def test_two_gateway_processes_purge_each_case_once(
    aiohttp_client: ClientFactory,
    settings: Settings,
    organisation: Organisation,
    clock: ManualClock,
) -> None:
    one = await aiohttp_client(create_app(settings, clock=clock))
    other = await aiohttp_client(create_app(settings, clock=clock))
    hotline = one.app[HOTLINE]
    triage = await vetted_person(hotline, organisation, "triage")
    cases = [await open_case_for(hotline, triage) for _ in range(5)]
    clock.advance(days=365)

    reports = await asyncio.gather(runner_of(one.app).run_once(), runner_of(other.app).run_once())

    ran = [report for report in reports if report is not None and report.cases]
    assert len(ran) == 1
    assert ran[0].cases == 5
    async with hotline.database.transaction(read_only=True) as tx:
        entries = await tx.audit.list_after(0)
    purged = [entry.case_id for entry in entries if entry.action == "case.purge"]
    assert sorted(map(str, purged)) == sorted(case.id_text for case in cases)
    assert len(set(purged)) == len(purged)
