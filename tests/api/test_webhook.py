"""The emergency webhook against a real receiver on 127.0.0.1: signed, content-free bodies;
a failing receiver is retried with backoff and nothing is lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from gateway.config import Settings, new_secret_text
from gateway.domain.clock import unix_seconds
from gateway.domain.hotline import Hotline
from gateway.domain.webhooks import (
    BODY_FIELDS,
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WEBHOOK_TOPIC,
    signature_is_valid,
)
from gateway.store.models import OutboxRow
from gateway.web.app import create_app
from gateway.web.timers import ESCALATION_SCANNER, WEBHOOK_DISPATCHER
from tests.api.emergency_support import (
    ACK_SECONDS,
    Client,
    ManualClock,
    emergency_settings,
    eventually,
    set_duty,
    urgent_case,
)
from tests.api.investigator_support import bearer, log_in, vetted_person
from tests.fixtures.organisation import Organisation

ServerFactory = Callable[..., Awaitable[TestServer]]


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver that answers from a script: a status, or "hang" to time out."""

    script: list[int | str] = field(default_factory=list)
    attempts: list[Delivery] = field(default_factory=list)
    accepted: list[Delivery] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        delivery = Delivery(dict(request.headers), await request.read())
        self.attempts.append(delivery)
        answer = self.script.pop(0) if self.script else 204
        if answer == "hang":
            await asyncio.sleep(2)  # past the gateway's 1 s timeout
            answer = 204
        if isinstance(answer, int) and 200 <= answer < 300:
            self.accepted.append(delivery)
        return web.Response(status=int(answer), text="receiver text must never be stored")


@pytest.fixture
async def receiver(aiohttp_server: ServerFactory) -> Receiver:
    found = Receiver()
    application = web.Application()
    application.router.add_post("/hook", found.handle)
    server = await aiohttp_server(application, host="127.0.0.1")
    found.url = str(server.make_url("/hook"))
    return found


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "webhook.secret"
    path.write_text(new_secret_text() + "\n", encoding="ascii")
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    *,
    redis_prefix: str | None,
    organisation: Organisation,
    receiver: Receiver,
    secret_file: Path,
) -> Settings:
    return emergency_settings(
        tmp_path,
        database_url,
        redis_prefix,
        organisation,
        webhook_url=receiver.url,
        webhook_secret_file=str(secret_file),
        webhook_timeout_seconds="1",
    )


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> web.Application:
    return create_app(settings, clock=clock)


def _secret(settings: Settings) -> bytes:
    assert settings.webhook_secret is not None
    return settings.webhook_secret.reveal()


async def _webhook_rows(hotline: Hotline) -> list[tuple[int, str | None, bool, int]]:
    async with hotline.database.engine.connect() as connection:
        result = await connection.execute(
            select(OutboxRow.id, OutboxRow.last_error, OutboxRow.delivered_at, OutboxRow.attempts)
            .where(OutboxRow.topic == WEBHOOK_TOPIC)
            .order_by(OutboxRow.id)
        )
        return [
            (row_id, error, delivered is not None, tries)
            for row_id, error, delivered, tries in result
        ]


async def test_an_emergency_posts_a_signed_content_free_alarm(
    client: Client,
    hotline: Hotline,
    *,
    organisation: Organisation,
    receiver: Receiver,
    settings: Settings,
    clock: ManualClock,
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    await set_duty(client, await log_in(client, triage), True)

    case = await urgent_case(client, hotline, [triage])
    await eventually(lambda: len(receiver.accepted) == 1)

    [delivery] = receiver.accepted
    body = json.loads(delivery.body)
    assert set(body) == BODY_FIELDS
    assert body["event"] == "case.emergency"
    assert body["case_id"] == str(case.id)
    assert body["urgency"] == "emergency"
    assert body["level"] == 0
    assert body["next_escalation_at"] is not None
    assert b"canary" not in delivery.body
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers[DELIVERY_HEADER].isdigit()
    assert signature_is_valid(
        _secret(settings),
        delivery.body,
        delivery.headers[SIGNATURE_HEADER],
        now=unix_seconds(clock.now()),
    )
    # Nothing about the gateway's users travels along: no cookie, a generic agent.
    assert "Cookie" not in delivery.headers
    assert delivery.headers["User-Agent"].startswith("tipline-gateway/")
    await eventually(lambda: _all_delivered(hotline), within=5)


async def _all_delivered(hotline: Hotline) -> bool:
    return all(delivered for _, _, delivered, _ in await _webhook_rows(hotline))


async def test_a_failing_receiver_is_retried_with_backoff_and_nothing_is_lost(
    app: web.Application,
    client: Client,
    *,
    hotline: Hotline,
    organisation: Organisation,
    receiver: Receiver,
    settings: Settings,
    clock: ManualClock,
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    await vetted_person(hotline, organisation, "liaison")
    token = await log_in(client, triage)
    await set_duty(client, token, True)
    receiver.script = [503, "hang", 500]
    clock.freeze()

    case = await urgent_case(client, hotline, [triage])
    await eventually(lambda: len(receiver.attempts) == 1)
    await eventually(lambda: _has_error(hotline, "http_503"))
    dispatcher = app[WEBHOOK_DISPATCHER]
    clock.advance(seconds=4)  # the first retry waits 5 s: still too early
    early = await dispatcher.deliver_due()
    early_attempts = len(receiver.attempts)
    clock.advance(seconds=1)
    dispatcher.wake()
    await eventually(lambda: len(receiver.attempts) == 2)
    await eventually(lambda: _has_error(hotline, "timeout"))
    clock.advance(seconds=10)
    dispatcher.wake()
    await eventually(lambda: len(receiver.attempts) == 3)
    await eventually(lambda: _has_error(hotline, "http_500"))
    # Meanwhile the emergency escalates and is acknowledged: two more alarms queue up.
    clock.advance(seconds=ACK_SECONDS)
    assert await app[ESCALATION_SCANNER].scan_once() == 1
    ack = await client.post(f"/api/v1/cases/{case.id}/ack", headers=bearer(token))
    assert ack.status == 200
    clock.advance(seconds=20)
    dispatcher.wake()
    await eventually(lambda: _all_delivered(hotline))

    assert (early, early_attempts) == (0, 1)
    events = [json.loads(d.body)["event"] for d in receiver.accepted]
    assert sorted(events) == ["case.acknowledged", "case.emergency", "case.escalated"]
    ids = [d.headers[DELIVERY_HEADER] for d in receiver.attempts]
    # Every attempt of the first alarm carries one delivery id, so a receiver can drop repeats.
    assert len(set(ids[:3])) == 1
    rows = await _webhook_rows(hotline)
    assert len(rows) == 3
    assert rows[0][1] == "http_500"  # a code, never the receiver's text
    assert rows[0][3] == 4
    for delivery in receiver.accepted:
        assert signature_is_valid(
            _secret(settings),
            delivery.body,
            delivery.headers[SIGNATURE_HEADER],
            now=unix_seconds(clock.now()),
        )


async def _has_error(hotline: Hotline, code: str) -> bool:
    return any(error == code for _, error, _, _ in await _webhook_rows(hotline))


async def test_the_live_relay_leaves_webhook_alarms_to_the_webhook(
    client: Client,
    hotline: Hotline,
    organisation: Organisation,
    receiver: Receiver,
) -> None:
    triage = await vetted_person(hotline, organisation, "triage")
    receiver.script = [503] * 50

    await urgent_case(client, hotline, [triage])

    async def live_rows_delivered() -> bool:
        async with hotline.database.transaction(read_only=True) as tx:
            return await tx.outbox.pending_count() == 1

    # Everything but the webhook alarm goes out; the alarm stays pending, not lost.
    await eventually(live_rows_delivered)
    await eventually(lambda: _has_error(hotline, "http_503"))
    [(_, error, delivered, _)] = await _webhook_rows(hotline)
    assert (error, delivered) == ("http_503", False)
