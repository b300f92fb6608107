"""Emergencies: an urgent tip alerts on-duty triage at once and arms escalation; duty; ack."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.config import Settings
from gateway.domain.hotline import Hotline
from gateway.web.app import create_app
from gateway.web.timers import ESCALATION_SCANNER
from tests.api.emergency_support import (
    ACK_SECONDS,
    Client,
    LiveEvents,
    ManualClock,
    actions_of,
    emergency_settings,
    eventually,
    set_duty,
    stored_case,
    urgent_case,
)
from tests.api.investigator_support import bearer, log_in, open_case_for, vetted_person
from tests.api.reporter_support import outbox
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


async def test_an_urgent_tip_alerts_every_on_duty_triage_investigator_at_once(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    on_duty = await vetted_person(hotline, organisation, "triage")
    also_on_duty = await vetted_person(hotline, organisation, "triage", "investigator")
    off_duty = await vetted_person(hotline, organisation, "triage")
    await vetted_person(hotline, organisation, "liaison")
    for person in (on_duty, also_on_duty):
        await set_duty(client, await log_in(client, person), True)

    async with LiveEvents(client, await log_in(client, on_duty)) as events:
        case = await urgent_case(client, hotline, [on_duty, also_on_duty, off_duty])
        await eventually(lambda: bool(events.of_topic("case.emergency")))

    [alarm] = events.of_topic("case.emergency")
    assert alarm["case_id"] == str(case.id)
    assert alarm["urgent"] is True
    assert alarm["level"] == 0
    assert "audience" not in alarm  # who else was alerted is not every socket's business
    emergency_rows = [row for row in await outbox(hotline.database) if row[0] == "case.emergency"]
    assert len(emergency_rows) == 1
    assert sorted(emergency_rows[0][1]["audience"]) == sorted(
        [on_duty.id_text, also_on_duty.id_text]
    )
    assert case.urgent is True
    assert case.escalation_level == 0
    assert case.next_escalation_at == case.created_at + timedelta(seconds=ACK_SECONDS)


async def test_with_nobody_on_duty_the_liaisons_are_alerted_at_the_next_scan(
    app: web.Application, client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    liaison = await vetted_person(hotline, organisation, "liaison")

    case = await urgent_case(client, hotline, [triage])
    fired = await app[ESCALATION_SCANNER].scan_once()

    assert case.next_escalation_at == case.created_at
    assert fired == 1
    async with hotline.database.transaction(read_only=True) as tx:
        assert liaison.investigator_id in await tx.inbox.investigators_of_case(case.id)


async def test_a_tip_that_is_not_urgent_raises_no_alarm(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    await set_duty(client, await log_in(client, triage), True)

    opened = await open_case_for(hotline, triage)

    assert opened.case.next_escalation_at is None
    assert [row[0] for row in await outbox(hotline.database)] == ["case.created"]


async def test_acknowledging_stops_escalation_and_is_recorded_once(
    app: web.Application,
    client: Client,
    hotline: Hotline,
    organisation: Organisation,
    clock: ManualClock,
) -> None:
    first = await vetted_person(hotline, organisation, "triage")
    second = await vetted_person(hotline, organisation, "triage")
    first_token, second_token = await log_in(client, first), await log_in(client, second)
    await set_duty(client, first_token, True)
    case = await urgent_case(client, hotline, [first, second])

    clock.advance(seconds=30)
    response = await client.post(f"/api/v1/cases/{case.id}/ack", headers=bearer(first_token))
    again = await client.post(f"/api/v1/cases/{case.id}/ack", headers=bearer(second_token))
    clock.advance(seconds=ACK_SECONDS * 10)
    fired = await app[ESCALATION_SCANNER].scan_once()

    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["acknowledged_by"] == first.id_text
    assert answer["acknowledged_at"] is not None
    assert answer["escalation_level"] == 0
    assert again.status == 200
    assert (await again.json())["acknowledged_by"] == first.id_text
    assert fired == 0
    stored = await stored_case(hotline, case.id)
    assert stored.next_escalation_at is None
    assert stored.escalation_level == 0
    assert (await actions_of(hotline, case.id)).count("case.acknowledge") == 1


async def test_only_investigators_on_the_case_acknowledge_and_only_emergencies(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    outsider = await vetted_person(hotline, organisation, "investigator")
    triage_token = await log_in(client, triage)
    urgent = await urgent_case(client, hotline, [triage])
    calm = await open_case_for(hotline, triage)

    not_on_case = await client.post(
        f"/api/v1/cases/{urgent.id}/ack", headers=bearer(await log_in(client, outsider))
    )
    missing = await client.post(f"/api/v1/cases/{uuid.uuid4()}/ack", headers=bearer(triage_token))
    not_a_case_id = await client.post("/api/v1/cases/nope/ack", headers=bearer(triage_token))
    not_urgent = await client.post(
        f"/api/v1/cases/{calm.id_text}/ack", headers=bearer(triage_token)
    )
    client.session.cookie_jar.clear()  # log_in left a session cookie behind
    anonymous = await client.post(f"/api/v1/cases/{urgent.id}/ack")

    assert not_on_case.status == 404
    assert missing.status == 404
    assert not_a_case_id.status == 404
    assert (await not_on_case.json()) == (await missing.json())
    assert not_urgent.status == 409
    assert (await not_urgent.json())["error"]["code"] == "not_an_emergency"
    assert anonymous.status == 401
    assert (await stored_case(hotline, urgent.id)).acknowledged_at is None


async def test_investigators_go_on_and_off_duty_and_the_audit_trail_records_it(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    liaison = await vetted_person(hotline, organisation, "liaison")
    token = await log_in(client, triage)

    initially = await client.get("/api/v1/me/duty", headers=bearer(token))
    on = await set_duty(client, token, True)
    liaison_on = await set_duty(client, await log_in(client, liaison), True)
    off = await set_duty(client, token, False)

    assert await initially.json() == {"on_duty": False, "alerted_for_emergencies": False}
    assert on == {"on_duty": True, "alerted_for_emergencies": True}
    # Liaisons hear of escalations whether on duty or not; duty is about the first alarm.
    assert liaison_on == {"on_duty": True, "alerted_for_emergencies": False}
    assert off == {"on_duty": False, "alerted_for_emergencies": False}
    async with hotline.database.transaction(read_only=True) as tx:
        entries = await tx.audit.list_after(0)
    duty = [(e.actor_id, e.details) for e in entries if e.action == "investigator.duty"]
    assert duty == [
        (triage.investigator_id, {"on_duty": True}),
        (liaison.investigator_id, {"on_duty": True}),
        (triage.investigator_id, {"on_duty": False}),
    ]


@pytest.mark.parametrize(
    "body", [{}, {"on_duty": "yes"}, {"on_duty": True, "role": "triage"}, {"on_duty": None}]
)
async def test_a_duty_change_is_exactly_one_boolean(
    client: Client, hotline: Hotline, organisation: Organisation, body: dict[str, Any]
) -> None:
    token = await log_in(client, await vetted_person(hotline, organisation, "triage"))

    response = await client.put("/api/v1/me/duty", json=body, headers=bearer(token))

    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_input"
