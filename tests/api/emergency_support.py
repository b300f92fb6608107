"""Steps the emergency, escalation, webhook and retention tests share.

`ManualClock` is the movable clock the app is built with (`create_app(settings, clock=…)`):
deadlines, outbox availability and retention all read it, so a test moves time instead of
waiting. Log people in before moving it: login checks TOTP codes against the same clock.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from gateway.config import Settings
from gateway.domain.hotline import Hotline
from gateway.store.records import AuditEntry, Case
from tests.api.investigator_support import Person, bearer
from tests.api.reporter_support import (
    AnonymousReporter,
    case_id_of,
    sealed,
    submit_headers,
    tip_body,
)
from tests.fixtures.app import make_settings
from tests.fixtures.organisation import Organisation

Client = TestClient[Any, Any]
ACK_SECONDS = 600
INTERVAL_SECONDS = 900


class ManualClock:
    """The domain's clock: real time until the test freezes or moves it, then only moved.

    Following real time at first keeps enrollment and login honest (TOTP codes are checked
    against this clock); freeze it once everyone is logged in.
    """

    def __init__(self) -> None:
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        return self._frozen if self._frozen is not None else datetime.now(UTC)

    def freeze(self) -> datetime:
        self._frozen = self.now()
        return self._frozen

    def advance(self, **delta: float) -> datetime:
        self._frozen = self.now() + timedelta(**delta)
        return self._frozen


def emergency_settings(
    tmp_path: Path,
    database_url: str,
    redis_prefix: str | None,
    organisation: Organisation,
    **overrides: str,
) -> Settings:
    """Test settings with the documented ack and interval; the periodic scan only at start-up
    (the tests fire scans themselves, so nothing races them)."""
    values = {
        "org_public_key": organisation.public_key_text,
        "pow_difficulty": "4",
        "emergency_ack_seconds": str(ACK_SECONDS),
        "escalation_interval_seconds": str(INTERVAL_SECONDS),
        "escalation_scan_seconds": "3600",
        **overrides,
    }
    return make_settings(tmp_path, database_url, redis_prefix=redis_prefix, **values)


async def submit_urgent_tip(
    client: Client, triage: Iterable[Person], *, body: str = "canary-emergency-body"
) -> AnonymousReporter:
    """An emergency as a reporter's client sends it: wrapped for every vetted triage person."""
    reporter = AnonymousReporter()
    recipients = [person.keys.enc.public for person in triage] + [reporter.keys.public]
    envelope = sealed("tip", recipients, body=body)
    response = await client.post(
        "/api/v1/cases",
        json=tip_body(reporter, envelope, urgent=True),
        headers=await submit_headers(client),
    )
    assert response.status == 201, await response.text()
    return reporter


async def urgent_case(client: Client, hotline: Hotline, triage: Iterable[Person]) -> Case:
    reporter = await submit_urgent_tip(client, triage)
    return await stored_case(hotline, await case_id_of(hotline, reporter))


async def stored_case(hotline: Hotline, case_id: uuid.UUID) -> Case:
    async with hotline.database.transaction(read_only=True) as tx:
        case = await tx.cases.get(case_id)
    assert case is not None
    return case


async def set_duty(client: Client, token: str, on_duty: bool) -> dict[str, Any]:
    response = await client.put("/api/v1/me/duty", json={"on_duty": on_duty}, headers=bearer(token))
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def audit_of(hotline: Hotline, case_id: uuid.UUID) -> list[AuditEntry]:
    return await hotline.audit.for_case(hotline.database, case_id)


async def actions_of(hotline: Hotline, case_id: uuid.UUID) -> list[str]:
    return [entry.action for entry in await audit_of(hotline, case_id)]


class LiveEvents:
    """An investigator's open events socket, collecting what arrives."""

    def __init__(self, client: Client, token: str) -> None:
        self._client = client
        self._token = token
        self.received: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveEvents:
        self._socket = await self._client.ws_connect("/api/v1/events", headers=bearer(self._token))
        ready = await self._socket.receive_json(timeout=5)
        assert ready["topic"] == "ready"
        self._task = asyncio.create_task(self._collect())
        return self

    async def _collect(self) -> None:
        async for message in self._socket:
            if message.type is not WSMsgType.TEXT:
                return
            self.received.append(json.loads(message.data))

    def of_topic(self, topic: str) -> list[dict[str, Any]]:
        return [event for event in self.received if event["topic"] == topic]

    async def __aexit__(self, *_: object) -> None:
        await self._socket.close()
        if self._task is not None:
            await self._task


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], *, within: float = 10.0
) -> None:
    """Wait until `check` holds (the relay and dispatcher run on their own schedule)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the expected state did not come about in time")
        await asyncio.sleep(0.05)
