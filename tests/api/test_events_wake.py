"""Reporters' writes wake the outbox relay: investigators hear of a tip or a reply at once,
not at the relay's next poll (which the test sets to an hour, so only a wake can deliver)."""

from __future__ import annotations

import asyncio

from gateway.domain.hotline import Hotline
from gateway.web.events import RELAY
from tests.api.investigator_support import Client, log_in, vetted_person
from tests.api.reporter_support import reply_headers, reporter_case, sealed, submit_tip
from tests.api.test_events import connect, next_event
from tests.fixtures.organisation import Organisation


async def _only_a_wake_delivers(client: Client) -> None:
    relay = client.app[RELAY]
    relay._idle_poll = 3600.0  # the test's lever: no poll within the test
    # Let the relay's current short pause run out, so that it waits the hour from now on.
    await asyncio.sleep(1.0)


async def test_a_tip_reaches_an_open_socket_without_waiting_for_the_relays_poll(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    socket = await connect(client, await log_in(client, person))
    await _only_a_wake_delivers(client)

    await submit_tip(client, [person])

    event = await next_event(socket, "case.created")
    assert event["urgent"] is False
    await socket.close()


async def test_a_reply_reaches_an_open_socket_without_waiting_for_the_relays_poll(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    socket = await connect(client, await log_in(client, person))
    reporter = await submit_tip(client, [person])
    case_id = (await reporter_case(client, reporter))["case"]
    await next_event(socket, "case.created")
    await _only_a_wake_delivers(client)

    envelope = sealed("reply", [person.keys.enc.public, reporter.keys.public], case=case_id)
    response = await client.post(
        "/api/v1/reporter/messages",
        json={"v": 1, "envelope": envelope.to_json()},
        headers=await reply_headers(client, reporter),
    )
    assert response.status == 201, await response.text()

    event = await next_event(socket, "message.created")
    assert event["case_id"] == case_id
    await socket.close()
