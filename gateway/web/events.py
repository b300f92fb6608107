"""Live events over a WebSocket (`GET /api/v1/events`), and the outbox relay that feeds them.

A socket listens on its investigator's own broker channel, so it only ever hears of cases
that investigator is on; the relay (one per process, started with the app) publishes each
committed outbox row there. Messages are content-free JSON: a topic, ids, flags and times.
The session and the vetting are checked again for every event, on every nudge (revocation,
logout) and every `RECHECK_SECONDS`; when they end the socket closes with code 4001.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import WSCloseCode, WSMsgType, web

from gateway.broker import BrokerUnavailable, Subscription, SubscriptionOverflow
from gateway.domain.errors import GatewayError
from gateway.domain.live import (
    ACCESS_CHANGED,
    EVENT_VERSION,
    OutboxRelay,
    channel_for,
    events_in,
)
from gateway.domain.sessions import SessionBook
from gateway.web.auth import presented_token, require_caller, session_book
from gateway.web.keys import HOTLINE
from gateway.web.openapi import Endpoint, Reply
from gateway.web.shutdown import OPEN_SOCKETS

logger = logging.getLogger("gateway.web.events")

RECHECK_SECONDS: Final = 15.0
HEARTBEAT_SECONDS: Final = 30.0
RELAY_STOP_SECONDS: Final = 10.0
# Close codes a client acts on: 4001 log in again; 1013 reconnect and re-read the inbox.
CLOSE_ACCESS_ENDED: Final = 4001
CLOSE_RESYNC: Final = WSCloseCode.TRY_AGAIN_LATER

# The relay publishes at least once: a publish whose answer was lost (a stalled Redis that
# executes it later, a process killed before recording it) is published again. A socket
# remembers this many of the events it sent, so it forwards each of them once.
REMEMBERED_EVENTS: Final = 256

RELAY = web.AppKey("outbox_relay", OutboxRelay)


async def live_events(app: web.Application) -> AsyncIterator[None]:
    """The process's outbox relay, running while the app serves."""
    hotline = app[HOTLINE]
    relay = OutboxRelay(hotline.database, hotline.broker, hotline.clock)
    app[RELAY] = relay
    task = asyncio.create_task(relay.run(), name="outbox-relay")
    try:
        yield
    finally:
        # Let a round in progress commit or roll back: a task cancelled inside a database
        # transaction can leave its connection (and its row locks) behind.
        relay.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), RELAY_STOP_SECONDS)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def wake_relay(request: web.Request) -> None:
    """After this process committed an outbox row: publish it now rather than at the next poll."""
    relay = request.app.get(RELAY)
    if relay is not None:
        relay.wake()


async def _still_allowed(book: SessionBook, token: str) -> bool:
    try:
        # touch=False: a socket left open is not use; the idle clock keeps running.
        await book.caller(token, touch=False)
    except GatewayError:
        return False
    return True


class SentEvents:
    """Digests of the last events a socket sent: a republished event has the same bytes
    (topic, case, time and flags of one outbox row), so its copy is recognised and dropped."""

    def __init__(self, size: int = REMEMBERED_EVENTS) -> None:
        self._order: deque[bytes] = deque(maxlen=size)
        self._seen: set[bytes] = set()

    def first_time(self, data: bytes) -> bool:
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if digest in self._seen:
            return False
        if len(self._order) == self._order.maxlen:
            self._seen.discard(self._order[0])
        self._order.append(digest)
        self._seen.add(digest)
        return True


async def _pump(
    socket: web.WebSocketResponse, subscription: Subscription, book: SessionBook, token: str
) -> int:
    sent = SentEvents()
    async for message in subscription:
        if not await _still_allowed(book, token):
            return CLOSE_ACCESS_ENDED
        for event in events_in(message.data):
            if json.loads(event).get("topic") == ACCESS_CHANGED:
                continue
            if sent.first_time(event):
                await socket.send_str(event.decode())
    return WSCloseCode.OK


async def _watch(book: SessionBook, token: str) -> int:
    while True:
        await asyncio.sleep(RECHECK_SECONDS)
        if not await _still_allowed(book, token):
            return CLOSE_ACCESS_ENDED


async def _drain(socket: web.WebSocketResponse) -> int:
    """Clients send nothing; reading keeps pings answered and notices the client leaving."""
    async for message in socket:
        if message.type is WSMsgType.ERROR:
            break
    return WSCloseCode.OK


async def events_handler(request: web.Request) -> web.StreamResponse:
    caller = await require_caller(request)  # cookie-borne upgrades need our Origin
    presented = presented_token(request)
    assert presented is not None
    token = presented[0]
    book = session_book(request)
    # Before the upgrade: 429 when the session holds as many sockets as it may (all
    # processes together), 503 without the broker (domain/limits.py).
    slot = await request.app[HOTLINE].abuse.sockets.claim(token)
    try:
        socket = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=4096)
        await socket.prepare(request)
    except BaseException:
        await slot.release()
        raise
    code: int = WSCloseCode.OK
    try:
        async with (
            request.app[OPEN_SOCKETS].holding(socket),
            request.app[HOTLINE].broker.subscribe(channel_for(caller.id)) as subscription,
        ):
            await socket.send_json({"v": EVENT_VERSION, "topic": "ready"})
            tasks = {
                asyncio.create_task(_pump(socket, subscription, book, token)),
                asyncio.create_task(_watch(book, token)),
                asyncio.create_task(_drain(socket)),
            }
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                code = next(iter(done)).result()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    except (BrokerUnavailable, SubscriptionOverflow) as trouble:
        # Events may have been missed: the client reconnects and re-reads its inbox.
        logger.warning("event_socket_resync", extra={"reason": type(trouble).__name__})
        code = CLOSE_RESYNC
    finally:
        if not socket.closed:
            await socket.close(code=code)
        await slot.release()
    return socket


ENDPOINTS: Final = (
    Endpoint(
        "GET",
        "/api/v1/events",
        events_handler,
        "getEvents",
        "WebSocket of content-free live events for the caller's cases",
        "investigators",
        {
            101: Reply("Switching to the WebSocket protocol.", content_type="text/plain"),
            400: Reply("Not a WebSocket upgrade request."),
            401: Reply("No live session of a vetted investigator."),
            403: Reply("A cookie-borne upgrade without this gateway's Origin."),
            429: Reply("too_many_sockets: this session holds as many sockets as it may."),
            503: Reply("The broker is unavailable."),
        },
    ),
)
