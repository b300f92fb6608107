"""Redis killed and started again (empty: it keeps nothing on disk) while reporters keep
submitting and an investigator watches the live events.

What the threat model decides for each limiter while Redis is away (domain/limits.py,
domain/proof_of_work.py): everything anonymous fails **closed**, so a submission is either
accepted or answered at once with `503 unavailable` and `Retry-After`. The investigator's
socket is closed with 1013 (reconnect), their session is gone with Redis (401, log in
again). Events produced meanwhile, here the escalation of two emergencies whose deadline
passed during the outage (the scanner needs only the database), wait in the outbox and are
relayed once Redis is back, and no socket receives any event twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio
from aiohttp.test_utils import TestServer
from sqlalchemy import update

from gateway.config import load_settings
from gateway.domain.events import CASE_CREATED, EMERGENCY, ESCALATION
from gateway.store import Database
from gateway.store.models import CaseRow
from gateway.web.app import create_app
from tests.fault.checks import live_outbox, read_back, wall
from tests.fault.deployment import Deployment
from tests.fault.investigators import EventSocket, log_in
from tests.fault.traffic import Accepted, Reporters, TipPlan, wait_for
from tests.fixtures.broker import RedisProxy

pytestmark = pytest.mark.slow  # real processes, outages of seconds

ServerFactory = Callable[..., Awaitable[TestServer]]

OUTAGE_SECONDS = 5.0
FAIL_FAST_SECONDS = 2.5  # the broker's socket timeout is 2 s; a refused connection is instant
RESYNC_CLOSE = 1013
# A row is published a moment before its delivery is recorded: events recorded later than
# this after a socket was ready must have reached it.
PUBLISH_MARGIN_SECONDS = 0.5


async def escalate_now(database: Database, *, expected: int) -> None:
    """Let the emergencies' acknowledgement deadline pass now; wait for the scanner (which
    needs only the database) to record `expected` escalations in all."""
    async with database.engine.begin() as connection:
        await connection.execute(
            update(CaseRow)
            .where(CaseRow.urgent.is_(True), CaseRow.next_escalation_at.is_not(None))
            .values(next_escalation_at=datetime.now(UTC))
        )

    async def escalated() -> bool:
        return sum(r.topic == ESCALATION for r in await live_outbox(database)) == expected

    await wait_for(f"{expected} escalations recorded", escalated, within=10)


async def relayed_everything(database: Database) -> bool:
    return all(r.delivered_at is not None for r in await live_outbox(database))


async def test_a_redis_restart_fails_closed_fast_and_relays_what_happened_meanwhile_once(
    deployment: Deployment, tmp_path: Path
) -> None:
    gateway = deployment.gateway()
    await deployment.start(gateway)
    person = deployment.person
    reporters = Reporters(
        [gateway.url],
        deployment.organisation.public_key,
        concurrency=2,
        plan=TipPlan(attach_every=3, attachment_bytes=80_000),
    )
    session = reporters.observer.session
    database = await deployment.database()
    stop = asyncio.Event()
    sockets: list[EventSocket] = []
    traffic: asyncio.Task[None] | None = None
    try:
        status, first_token = await log_in(session, gateway.url, person)
        assert status == 200, first_token
        before = await EventSocket.open(session, gateway.url, first_token)
        sockets.append(before)
        emergencies = [await reporters.submit_one(gateway.url, urgent=True) for _ in range(2)]
        assert all(isinstance(tip, Accepted) for tip in emergencies), emergencies
        await wait_for(
            "both emergencies announced live",
            lambda: len(before.received(EMERGENCY)) == 2,
            within=10,
        )

        traffic = asyncio.create_task(reporters.run(stop))
        await wait_for("three more tips", lambda: len(reporters.accepted) >= 5, within=60)
        down_at = time.time()
        await asyncio.to_thread(deployment.redis.kill)
        await asyncio.wait_for(before.closed.wait(), 10)
        await escalate_now(database, expected=2)
        await asyncio.sleep(max(0.0, down_at + OUTAGE_SECONDS - time.time()))
        restart_at = time.time()
        await asyncio.to_thread(deployment.redis.start)
        up_at = time.time()

        async with session.get(
            gateway.url + "/api/v1/me", headers={"Authorization": f"Session {first_token}"}
        ) as response:
            old_session_status = response.status
        status, second_token = await log_in(session, gateway.url, person)
        assert status == 200, second_token
        after = await EventSocket.open(session, gateway.url, second_token)
        sockets.append(after)
        assert after.ready_at is not None
        await wait_for(
            "three tips accepted after Redis came back",
            lambda: sum(t.at > up_at for t in reporters.accepted) >= 3,
            within=30,
        )
        stop.set()
        await asyncio.wait_for(traffic, 30)

        await wait_for(
            "every live event relayed", lambda: relayed_everything(database), within=45, poll=0.2
        )
        rows = await live_outbox(database)
        expected_after = [
            r
            for r in rows
            if wall(r.delivered_at or r.created_at) > after.ready_at + PUBLISH_MARGIN_SECONDS
        ]

        def arrived() -> bool:
            got = {(str(e["topic"]), str(e["case_id"])) for e in after.events}
            return all((r.topic, r.case_id) in got for r in expected_after)

        with contextlib.suppress(AssertionError):
            await wait_for("the relayed events on the new socket", arrived, within=5)

        # Fail closed, fast, clearly: 201 or 503 with Retry-After, nothing else.
        during = reporters.observer.between(down_at, restart_at)
        assert {e.status for e in during} <= {200, 503}, during
        slowest = max(e.seconds for e in during)
        assert slowest < FAIL_FAST_SECONDS, f"a request took {slowest:.2f} s during the outage"
        unavailable = [e for e in during if e.status == 503]
        assert len(unavailable) >= 3, "the outage was not felt"
        assert [e for e in unavailable if not (e.retry_after and int(e.retry_after) >= 1)] == []
        assert {(o.status, o.code) for o in reporters.refused} <= {(503, "unavailable")}
        assert not reporters.broken, reporters.broken

        # The socket open during the outage was told to reconnect; its session went with Redis.
        assert before.close_code == RESYNC_CLOSE
        assert old_session_status == 401

        # Every event produced during the outage was relayed after Redis came back.
        meanwhile = [r for r in rows if down_at <= wall(r.created_at) < up_at]
        assert sum(r.topic == ESCALATION for r in meanwhile) == 2
        assert [r for r in meanwhile if wall(r.delivered_at or r.created_at) < up_at] == []
        # ... and reached the new socket once, like everything relayed after it was ready.
        assert [s.duplicates() for s in sockets] == [[], []]
        received_after = [(str(e["topic"]), str(e["case_id"])) for e in after.events]
        missing = [r for r in expected_after if (r.topic, r.case_id) not in received_after]
        assert missing == [], missing
        escalations_seen = len(after.received(ESCALATION))
        # The relay retries a row a second or more after a failed publish; the new socket
        # was ready well before, so the escalations must have reached it.
        assert escalations_seen == 2
        relay_lag = min(wall(r.delivered_at or r.created_at) for r in meanwhile) - up_at
        assert (
            before.received(CASE_CREATED)[:2]
            == [str(r.case_id) for r in rows if r.topic == CASE_CREATED][:2]
        )

        problems = await read_back(
            gateway.url,
            deployment.organisation.public_key,
            reporters.accepted,
            tmp_path / "read-back",
            session=session,
        )
        assert problems == [], problems
        print(
            f"\nRedis restart: {reporters.counts()}; during the {OUTAGE_SECONDS:.0f} s outage "
            f"{len(during)} requests, {len(unavailable)} answered 503, slowest "
            f"{slowest * 1000:.0f} ms; {len(meanwhile)} events produced meanwhile, all relayed "
            f"after Redis returned (the first {relay_lag:.2f} s after); new socket ready "
            f"{after.ready_at - up_at:.2f} s after it, "
            f"received {len(after.events)} events ({escalations_seen} escalations), "
            f"no duplicates; {len(expected_after)} expected there"
        )
    finally:
        stop.set()
        if traffic is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(traffic, 30)
        for socket in sockets:
            await socket.close()
        await reporters.close()
        await database.close()


STALL_SECONDS = 6.0
# A stalled Redis answers nothing: a request waits for the broker's 2 s socket timeout.
STALL_FAIL_SECONDS = 3.5


async def test_a_stalled_redis_fails_requests_within_the_timeout_and_no_event_arrives_twice(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Redis stopped with SIGSTOP (a stalled host, a VM paused, a network that swallows
    packets) for less than the subscription's silence check, then resumed with its data."""
    gateway = deployment.gateway()
    await deployment.start(gateway)
    reporters = Reporters(
        [gateway.url],
        deployment.organisation.public_key,
        concurrency=2,
        plan=TipPlan(attach_every=3, attachment_bytes=80_000),
    )
    session = reporters.observer.session
    database = await deployment.database()
    stop = asyncio.Event()
    socket: EventSocket | None = None
    traffic: asyncio.Task[None] | None = None
    try:
        status, token = await log_in(session, gateway.url, deployment.person)
        assert status == 200, token
        socket = await EventSocket.open(session, gateway.url, token)
        emergencies = [await reporters.submit_one(gateway.url, urgent=True) for _ in range(2)]
        assert all(isinstance(tip, Accepted) for tip in emergencies), emergencies
        traffic = asyncio.create_task(reporters.run(stop))
        await wait_for("three more tips", lambda: len(reporters.accepted) >= 5, within=60)

        stalled_at = time.time()
        deployment.redis.pause()
        try:
            # Events produced while Redis hangs: the relay's publish hangs with it.
            await escalate_now(database, expected=2)
            await asyncio.sleep(max(0.0, stalled_at + STALL_SECONDS - time.time()))
        finally:
            deployment.redis.resume()
        resumed_at = time.time()
        await wait_for(
            "three tips accepted after Redis resumed",
            lambda: sum(t.at > resumed_at for t in reporters.accepted) >= 3,
            within=30,
        )
        stop.set()
        await asyncio.wait_for(traffic, 30)
        await wait_for(
            "every live event relayed", lambda: relayed_everything(database), within=45, poll=0.2
        )
        rows = await live_outbox(database)
        expected = {(r.topic, str(r.case_id)) for r in rows}

        def arrived() -> bool:
            assert socket is not None
            return {(str(e["topic"]), str(e["case_id"])) for e in socket.events} >= expected

        await wait_for("every event on the socket", arrived, within=10)
        await asyncio.sleep(1.5)  # a late second copy would arrive by now

        during = reporters.observer.between(stalled_at, resumed_at)
        assert {e.status for e in during} <= {200, 201, 503}, during
        slowest = max(e.seconds for e in during)
        assert slowest < STALL_FAIL_SECONDS, f"a request took {slowest:.2f} s during the stall"
        unavailable = [e for e in during if e.status == 503]
        assert len(unavailable) >= 3, "the stall was not felt"
        assert [e for e in unavailable if not (e.retry_after and int(e.retry_after) >= 1)] == []
        assert {(o.status, o.code) for o in reporters.refused} <= {(503, "unavailable")}
        assert not reporters.broken, reporters.broken
        # The socket lived through the stall and got every event exactly once.
        assert not socket.closed.is_set()
        assert socket.duplicates() == []
        assert len(socket.events) == len(expected)

        problems = await read_back(
            gateway.url,
            deployment.organisation.public_key,
            reporters.accepted,
            tmp_path / "read-back",
            session=session,
        )
        assert problems == [], problems
        print(
            f"\nRedis stall: {reporters.counts()}; during the {STALL_SECONDS:.0f} s stall "
            f"{len(during)} requests, {len(unavailable)} answered 503, slowest "
            f"{slowest * 1000:.0f} ms; the socket stayed open and received {len(socket.events)} "
            f"events, each once"
        )
    finally:
        stop.set()
        if traffic is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(traffic, 30)
        if socket is not None:
            await socket.close()
        await reporters.close()
        await database.close()


# Longer than the broker's 2 s socket timeout: every answer arrives after the gateway gave up.
SLOW_REDIS_SECONDS = 3.0


async def publish_calls(redis_url: str) -> int:
    """How many PUBLISH commands Redis has executed (INFO commandstats)."""
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


async def test_a_publish_whose_answer_was_lost_reaches_a_socket_once(
    deployment: Deployment, aiohttp_server: ServerFactory
) -> None:
    """Redis executed the relay's PUBLISH but the answer came too late: the relay counts it
    as failed and publishes the event again (at least once, by design). The socket that
    received the first copy must not forward the second.

    The gateway runs in this process behind a relay to the private Redis that can slow
    every byte down: slower than the broker's timeout, so the answer is lost while the
    command itself still reaches Redis (as with a stalled network or a paused Redis).
    """
    proxy = RedisProxy(deployment.redis.url)
    await proxy.start()
    settings = load_settings(None, deployment.env | {"TIPLINE_REDIS_URL": proxy.url})
    server = await aiohttp_server(create_app(settings))
    url = str(server.make_url("")).rstrip("/")
    reporters = Reporters([url], deployment.organisation.public_key, concurrency=1)
    session = reporters.observer.session
    database = await deployment.database()
    socket: EventSocket | None = None
    try:
        status, token = await log_in(session, url, deployment.person)
        assert status == 200, token
        socket = await EventSocket.open(session, url, token)
        tip = await reporters.submit_one(url, urgent=True)
        assert isinstance(tip, Accepted), tip
        await wait_for(
            "the emergency announced",
            lambda: bool(socket and socket.received(EMERGENCY)),
            within=10,
        )
        await wait_for("the relay idle", lambda: relayed_everything(database), within=10)
        publishes_before = await publish_calls(deployment.redis.url)

        proxy.latency = SLOW_REDIS_SECONDS
        try:
            await escalate_now(database, expected=1)

            async def publish_failed() -> bool:
                rows = await live_outbox(database)
                return any(
                    r.topic == ESCALATION
                    and r.attempts >= 1
                    and r.delivered_at is None
                    and r.last_error == "broker_unavailable"
                    for r in rows
                )

            await wait_for("the relay's publish to time out", publish_failed, within=10)
        finally:
            proxy.latency = 0.0
        await wait_for("the escalation relayed", lambda: relayed_everything(database), within=20)
        await wait_for(
            "the escalation on the socket",
            lambda: bool(socket and socket.received(ESCALATION)),
            within=10,
        )
        await asyncio.sleep(SLOW_REDIS_SECONDS + 1)  # the late copy has arrived by now
        publishes = await publish_calls(deployment.redis.url) - publishes_before

        assert publishes == 2, "Redis should have executed the lost PUBLISH and the retry"
        assert not socket.closed.is_set()
        assert socket.received(ESCALATION) == [socket.received(EMERGENCY)[0]]
        assert socket.duplicates() == []
    finally:
        if socket is not None:
            await socket.close()
        await reporters.close()
        await database.close()
        await server.close()  # before the relay to Redis it speaks through
        await proxy.close()
