"""What only the in-process broker must do: keep time on its clock and not grow without bound."""

from __future__ import annotations

import asyncio

from gateway.broker import Broker, MemoryBroker, open_broker
from tests.fixtures.broker import ManualClock

HOUR = 3600.0


def test_without_a_redis_url_the_broker_is_the_in_process_one() -> None:
    assert isinstance(open_broker(None, key_prefix="tipline:"), MemoryBroker)


async def test_by_default_the_in_process_broker_keeps_real_monotonic_time() -> None:
    broker: Broker = MemoryBroker()
    await broker.put_token("t", b"v", ttl=0.05)
    await asyncio.sleep(0.1)
    assert await broker.take_token("t") is None


async def test_a_working_day_session_lives_eight_hours_with_use_and_not_a_minute_more() -> None:
    clock = ManualClock()
    broker = MemoryBroker(clock=clock)
    await broker.create_session(
        "sid", owner_id="o", data={}, idle_ttl=0.5 * HOUR, absolute_ttl=8 * HOUR
    )
    for _ in range(15):  # used every 29 minutes
        clock.now += 29 * 60
        assert await broker.get_session("sid") is not None
    clock.now += 0.5 * HOUR + 60  # 8 h 1 min after login, 31 min after last use
    assert await broker.get_session("sid") is None


async def test_expired_entries_nobody_asks_about_again_are_swept() -> None:
    clock = ManualClock()
    broker = MemoryBroker(clock=clock, sweep_interval=60)
    for n in range(200):
        await broker.throttle(f"ip-hash:{n}", limit=5, window=30)
        await broker.remember_once(f"pow:{n}", ttl=30)
        await broker.create_session(f"sid-{n}", owner_id="o", data={}, idle_ttl=30, absolute_ttl=30)
    assert broker.entry_count() == 800  # with the owner's index of 200 sessions
    clock.now += 61
    await broker.ping()
    assert broker.entry_count() == 0


async def test_a_spent_challenge_is_remembered_until_its_ttl_on_the_injected_clock() -> None:
    clock = ManualClock()
    broker = MemoryBroker(clock=clock)
    assert await broker.remember_once("pow:c", ttl=600)
    clock.now += 599.9
    assert not await broker.remember_once("pow:c", ttl=600)
    clock.now += 0.1
    assert await broker.remember_once("pow:c", ttl=600)
