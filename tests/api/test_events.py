"""Live events: committed outbox rows reach the sockets of the investigators on the case, in
any gateway process, content-free; a socket ends when its investigator's access does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from gateway.config import Settings
from gateway.domain.hotline import Hotline
from gateway.domain.vetting import record_entry
from gateway.web.app import create_app
from gateway.web.events import CLOSE_ACCESS_ENDED
from gateway.web.keys import HOTLINE
from tests.api.investigator_support import (
    Client,
    bearer,
    followup,
    log_in,
    open_case_for,
    revoke_entry,
    sessions_of,
    vetted_person,
)
from tests.fixtures.app import ClientFactory
from tests.fixtures.database import postgres_only
from tests.fixtures.organisation import Organisation

EVENT_FIELDS = {"v", "topic", "case_id", "at", "urgent", "kind", "status"}
WAIT = 10.0


async def connect(client: Client, token: str) -> aiohttp.ClientWebSocketResponse:
    socket = await client.ws_connect("/api/v1/events", headers=bearer(token))
    ready = await asyncio.wait_for(socket.receive_json(), WAIT)
    assert ready == {"v": 1, "topic": "ready"}
    return socket


async def next_event(socket: aiohttp.ClientWebSocketResponse, topic: str) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(socket.receive(), WAIT)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        event: dict[str, Any] = json.loads(message.data)
        assert set(event) <= EVENT_FIELDS, event  # ids, flags and times only
        if event["topic"] == topic:
            return event


async def test_a_new_case_reaches_the_investigators_on_it_and_nobody_else(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    on_case = await vetted_person(hotline, organisation, "triage")
    elsewhere = await vetted_person(hotline, organisation, "triage")
    listening = await connect(client, await log_in(client, on_case))
    outsider = await connect(client, await log_in(client, elsewhere))

    case = await open_case_for(hotline, on_case, urgent=True)

    event = await next_event(listening, "case.created")
    assert event["case_id"] == case.id_text
    assert event["urgent"] is True
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(outsider.receive(), 1.5)
    await listening.close()
    await outsider.close()


async def test_several_cases_at_once_reach_the_socket_as_one_event_each(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    """The relay bundles a round's events per listener; the socket still sends each alone."""
    person = await vetted_person(hotline, organisation, "triage")
    socket = await connect(client, await log_in(client, person))

    cases = [await open_case_for(hotline, person) for _ in range(3)]

    heard = [await next_event(socket, "case.created") for _ in cases]
    assert sorted(event["case_id"] for event in heard) == sorted(case.id_text for case in cases)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(socket.receive(), 1.0)
    await socket.close()


@postgres_only
async def test_a_case_created_through_one_gateway_arrives_live_on_another(
    aiohttp_client: ClientFactory, settings: Settings, organisation: Organisation
) -> None:
    """Two app instances, one PostgreSQL and one Redis: the socket is held on the second."""
    first_app, second_app = create_app(settings), create_app(settings)
    first: Client = await aiohttp_client(first_app)
    second: Client = await aiohttp_client(second_app)
    hotline: Hotline = first_app[HOTLINE]
    investigator = await vetted_person(hotline, organisation, "triage")
    socket = await connect(second, await log_in(second, investigator))

    case = await open_case_for(hotline, investigator)
    created = await next_event(socket, "case.created")
    question = followup(investigator, case, [case.reporter.public, investigator.keys.enc.public])
    posted = await first.post(
        f"/api/v1/cases/{case.id_text}/messages",
        json={"envelope": question.to_json()},
        headers=bearer(await log_in(first, investigator)),
    )
    assert posted.status == 201
    message = await next_event(socket, "message.created")

    assert created["case_id"] == message["case_id"] == case.id_text
    assert message["kind"] == "followup"
    assert second_app[HOTLINE] is not hotline
    await socket.close()


async def test_revocation_closes_the_socket_at_once(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    socket = await connect(client, await log_in(client, person))

    await record_entry(
        hotline, sessions_of(hotline), await revoke_entry(hotline, organisation, person)
    )

    closing = await asyncio.wait_for(socket.receive(), 3.0)
    assert closing.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}
    assert socket.close_code == CLOSE_ACCESS_ENDED


async def test_logging_out_closes_the_sessions_socket(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    token = await log_in(client, person)
    socket = await connect(client, token)
    assert (await client.post("/api/v1/auth/logout", headers=bearer(token))).status == 204
    await asyncio.wait_for(socket.receive(), 3.0)
    assert socket.close_code == CLOSE_ACCESS_ENDED


async def test_a_cookie_borne_upgrade_needs_the_gateways_own_origin(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    await log_in(client, person)  # leaves the session cookie in the client
    for origin in ("https://evil.example", None):
        headers = {"Origin": origin} if origin else {}
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/api/v1/events", headers=headers)
        assert refused.value.status == 403
    own = await client.ws_connect(
        "/api/v1/events", headers={"Origin": str(client.make_url("/").origin())}
    )
    assert (await asyncio.wait_for(own.receive_json(), WAIT))["topic"] == "ready"
    await own.close()


async def test_the_socket_needs_a_session(client: Client) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/api/v1/events")
    assert refused.value.status == 401


async def test_shutting_down_closes_the_socket_with_the_reconnect_hint(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    """A restarting gateway tells live sockets to reconnect (1012), within the shutdown bound."""
    person = await vetted_person(hotline, organisation, "triage")
    socket = await connect(client, await log_in(client, person))

    await client.app.shutdown()

    closing = await asyncio.wait_for(socket.receive(), WAIT)
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert closing.data == aiohttp.WSCloseCode.SERVICE_RESTART
