"""Escalation: an unacknowledged emergency reaches the liaisons on time, exactly once per
interval, across a restart and with two gateway processes; acknowledging stops it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from gateway.config import Settings
from gateway.domain.escalation import EscalationScanner
from gateway.domain.hotline import Hotline
from gateway.web.app import create_app
from gateway.web.keys import HOTLINE
from gateway.web.timers import ESCALATION_SCANNER
from tests.api.emergency_support import (
    ACK_SECONDS,
    INTERVAL_SECONDS,
    Client,
    LiveEvents,
    ManualClock,
    audit_of,
    emergency_settings,
    eventually,
    set_duty,
    stored_case,
    urgent_case,
)
from tests.api.investigator_support import bearer, log_in, vetted_person
from tests.api.reporter_support import outbox
from tests.fixtures.app import ClientFactory
from tests.fixtures.database import postgres_only
from tests.fixtures.organisation import Organisation


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


def scanner_of(app: web.Application) -> EscalationScanner:
    return app[ESCALATION_SCANNER]


async def escalation_rows(hotline: Hotline) -> list[dict[str, object]]:
    return [
        payload for topic, payload, _ in await outbox(hotline.database) if topic == "case.escalated"
    ]


async def test_an_unacknowledged_emergency_escalates_on_time_once_per_interval(
    app: web.Application,
    client: Client,
    hotline: Hotline,
    organisation: Organisation,
    clock: ManualClock,
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    liaison = await vetted_person(hotline, organisation, "liaison")
    await set_duty(client, await log_in(client, triage), True)
    liaison_token = await log_in(client, liaison)  # TOTP codes follow the real clock
    clock.freeze()
    case = await urgent_case(client, hotline, [triage])
    scanner = scanner_of(app)

    clock.advance(seconds=ACK_SECONDS - 1)
    too_early = await scanner.scan_once()
    clock.advance(seconds=1)
    on_time = await scanner.scan_once()
    same_moment = await scanner.scan_once()
    clock.advance(seconds=INTERVAL_SECONDS - 1)
    within_interval = await scanner.scan_once()
    clock.advance(seconds=1)
    next_interval = await scanner.scan_once()

    assert (too_early, on_time, same_moment, within_interval, next_interval) == (0, 1, 0, 0, 1)
    stored = await stored_case(hotline, case.id)
    assert stored.escalation_level == 2
    assert stored.next_escalation_at == clock.now() + timedelta(seconds=INTERVAL_SECONDS)
    assert [(row["level"], row["audience"]) for row in await escalation_rows(hotline)] == [
        (1, [liaison.id_text]),
        (2, [liaison.id_text]),
    ]
    escalations = [e for e in await audit_of(hotline, case.id) if e.action == "case.escalate"]
    assert [(e.actor_id, e.details) for e in escalations] == [
        (None, {"level": 1, "liaisons": 1}),
        (None, {"level": 2, "liaisons": 1}),
    ]
    # The liaison is on the case now: they can open it and acknowledge it.
    ack = await client.post(f"/api/v1/cases/{case.id}/ack", headers=bearer(liaison_token))
    assert ack.status == 200, await ack.text()
    clock.advance(seconds=INTERVAL_SECONDS * 5)
    assert await scanner.scan_once() == 0
    assert len(await escalation_rows(hotline)) == 2


async def test_a_liaison_hears_of_an_escalation_live(
    app: web.Application,
    client: Client,
    hotline: Hotline,
    organisation: Organisation,
    clock: ManualClock,
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    liaison = await vetted_person(hotline, organisation, "liaison")
    await set_duty(client, await log_in(client, triage), True)

    async with LiveEvents(client, await log_in(client, liaison)) as events:
        case = await urgent_case(client, hotline, [triage])
        clock.advance(seconds=ACK_SECONDS)
        await scanner_of(app).scan_once()
        await eventually(lambda: bool(events.of_topic("case.escalated")))

    [escalated] = events.of_topic("case.escalated")
    assert escalated["case_id"] == str(case.id)
    assert escalated["level"] == 1


async def test_an_escalation_due_while_the_gateway_was_down_fires_after_the_restart(
    aiohttp_client: ClientFactory,
    settings: Settings,
    organisation: Organisation,
    clock: ManualClock,
) -> None:
    first = await aiohttp_client(create_app(settings, clock=clock))
    hotline = first.app[HOTLINE]
    triage = await vetted_person(hotline, organisation, "triage")
    await vetted_person(hotline, organisation, "liaison")
    await set_duty(first, await log_in(first, triage), True)
    case = await urgent_case(first, hotline, [triage])
    await first.close()

    # Down for three whole intervals past the deadline: one step fires, not a burst.
    clock.advance(seconds=ACK_SECONDS + 3 * INTERVAL_SECONDS)
    second = await aiohttp_client(create_app(settings, clock=clock))
    restarted = second.app[HOTLINE]

    async def escalated() -> bool:
        return (await stored_case(restarted, case.id)).escalation_level == 1

    # No scan is called here: the new process's own start-up scan fires the step.
    await eventually(escalated)
    stored = await stored_case(restarted, case.id)
    assert stored.next_escalation_at is not None
    assert (stored.next_escalation_at - clock.now()).total_seconds() == INTERVAL_SECONDS
    assert [
        e.details["level"]
        for e in await audit_of(restarted, case.id)
        if e.action == "case.escalate"
    ] == [1]


@postgres_only
async def test_two_gateway_processes_fire_each_step_exactly_once(
    aiohttp_client: ClientFactory,
    settings: Settings,
    organisation: Organisation,
    clock: ManualClock,
) -> None:
    one = await aiohttp_client(create_app(settings, clock=clock))
    other = await aiohttp_client(create_app(settings, clock=clock))
    hotline = one.app[HOTLINE]
    triage = await vetted_person(hotline, organisation, "triage")
    liaison = await vetted_person(hotline, organisation, "liaison")
    await set_duty(one, await log_in(one, triage), True)
    case = await urgent_case(one, hotline, [triage])
    scanners = [scanner_of(one.app), scanner_of(other.app)]

    async with LiveEvents(other, await log_in(other, liaison)) as events:
        clock.advance(seconds=ACK_SECONDS)
        fired = []
        for _step in range(3):
            # Both processes scan the same due step several times at once.
            rounds = await asyncio.gather(*(s.scan_once() for s in scanners for _ in range(3)))
            fired.append(sum(rounds))
            clock.advance(seconds=INTERVAL_SECONDS)
        await eventually(lambda: len(events.of_topic("case.escalated")) >= 3)
        await asyncio.sleep(0.5)  # a duplicate would arrive within the relay's poll

    assert fired == [1, 1, 1]
    assert [event["level"] for event in events.of_topic("case.escalated")] == [1, 2, 3]
    assert [row["level"] for row in await escalation_rows(hotline)] == [1, 2, 3]
    steps = [
        e.details["level"] for e in await audit_of(hotline, case.id) if e.action == "case.escalate"
    ]
    assert steps == [1, 2, 3]
    assert (await stored_case(other.app[HOTLINE], case.id)).escalation_level == 3
