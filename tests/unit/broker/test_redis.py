"""What only the Redis broker must do: fail fast in outages, isolate prefixes, keep ids hashed."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from gateway.broker import (
    BrokerError,
    BrokerUnavailable,
    RedisBroker,
    open_broker,
)
from tests.fixtures import services
from tests.fixtures.broker import RedisProxy, redis_only

pytestmark = [pytest.mark.redis, redis_only]

MakeRedisBroker = Callable[..., RedisBroker]


@pytest.fixture
async def raw_redis() -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client, to look at what the broker stored."""
    client = redis.asyncio.Redis.from_url(services.REDIS_URL, socket_timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


async def everything_under(client: redis.asyncio.Redis, prefix: str) -> dict[bytes, bytes]:
    """Every key under `prefix` with its whole value rendered as bytes."""
    found: dict[bytes, bytes] = {}
    async for key in client.scan_iter(match=prefix + "*", count=1000):
        kind_reply = await client.type(key)
        kind = kind_reply.decode() if isinstance(kind_reply, bytes) else kind_reply
        value: bytes
        if kind == "string":
            raw = await client.get(key)
            value = raw.encode() if isinstance(raw, str) else raw or b""
        elif kind == "hash":
            value = repr(await client.hgetall(key)).encode()
        elif kind == "set":
            value = repr(await client.smembers(key)).encode()
        elif kind == "zset":
            value = repr(await client.zrange(key, 0, -1, withscores=True)).encode()
        else:
            raise AssertionError(f"unexpected {kind} at {key!r}")
        found[key] = value
    return found


async def store_one_of_everything(broker: RedisBroker, marker: str) -> None:
    await broker.throttle(f"rate-{marker}", limit=5, window=30)
    await broker.put_token(f"token-{marker}", b"v", ttl=30)
    await broker.remember_once(f"once-{marker}", ttl=30)
    await broker.increment(f"counter-{marker}", window=30)
    await broker.acquire_lock(f"lock-{marker}", ttl=30)
    await broker.create_session(
        f"session-{marker}", owner_id=f"owner-{marker}", data={}, idle_ttl=30, absolute_ttl=60
    )
    await broker.schedule(f"queue-{marker}", "job", due_at=1.0, payload=b"p")


# ---------------------------------------------------------------------- outages


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:1/0", "rediss://127.0.0.1:1/0", "unix:///nonexistent/redis.sock"]
)
async def test_an_unreachable_redis_is_reported_as_unavailable_within_a_second(url: str) -> None:
    broker = open_broker(url, key_prefix="tipline-test:unreachable:")
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await broker.ping()
    with pytest.raises(BrokerUnavailable):
        await broker.take_token("pow:x")
    with pytest.raises(BrokerUnavailable):
        await broker.throttle("login:x", limit=5, window=60)
    with pytest.raises(BrokerUnavailable):
        await broker.throttle_all([("limit:network:x", 5, 60), ("limit:all:x", 50, 60)])
    with pytest.raises(BrokerUnavailable):
        async with broker.subscribe("events"):
            pass
    assert time.monotonic() - started < 1.0
    await broker.close()


async def test_a_redis_that_stops_answering_fails_within_the_socket_timeout(
    redis_proxy: RedisProxy, redis_broker_factory: MakeRedisBroker
) -> None:
    proxied = redis_broker_factory(url=redis_proxy.url, socket_timeout=0.3, connect_timeout=0.3)
    await proxied.put_token("t", b"before", ttl=30)
    redis_proxy.freeze()
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await proxied.take_token("t")
    with pytest.raises(BrokerUnavailable):
        async with proxied.subscribe("events"):
            pass
    assert time.monotonic() - started < 1.5
    redis_proxy.thaw()
    await proxied.ping()  # and it answers again once Redis does


async def test_after_an_outage_the_broker_answers_again_without_a_restart(
    redis_proxy: RedisProxy, redis_broker_factory: MakeRedisBroker
) -> None:
    proxied = redis_broker_factory(url=redis_proxy.url, socket_timeout=0.5, connect_timeout=0.5)
    await asyncio.gather(*(proxied.ping() for _ in range(4)))  # several pooled connections
    await redis_proxy.cut()
    with pytest.raises(BrokerUnavailable):
        await proxied.ping()
    await redis_proxy.restore()
    await asyncio.sleep(0.1)  # an outage lasts longer than the kernel takes to report it
    # Every pooled connection died with the outage; none of them may surface as an error.
    await asyncio.gather(*(proxied.put_token(f"t{n}", b"v", ttl=30) for n in range(8)))
    assert await proxied.take_token("t7") == b"v"


async def test_a_lost_subscription_connection_is_reported_not_silently_skipped(
    redis_proxy: RedisProxy, redis_broker_factory: MakeRedisBroker
) -> None:
    direct = redis_broker_factory()
    proxied = redis_broker_factory(direct.key_prefix, url=redis_proxy.url)
    async with proxied.subscribe("events") as subscription:
        await direct.publish("events", b"before")
        assert (await anext(subscription)).data == b"before"
        await redis_proxy.cut()
        with pytest.raises(BrokerUnavailable):
            async with asyncio.timeout(2):
                await anext(subscription)
    await redis_proxy.restore()
    async with proxied.subscribe("events") as again:
        await direct.publish("events", b"after")
        async with asyncio.timeout(2):
            assert (await anext(again)).data == b"after"


async def test_a_silently_dead_subscription_connection_is_noticed_by_its_keepalive(
    redis_proxy: RedisProxy, redis_broker_factory: MakeRedisBroker
) -> None:
    proxied = redis_broker_factory(url=redis_proxy.url, socket_timeout=0.3, pubsub_keepalive=0.2)
    async with proxied.subscribe("events") as subscription:
        redis_proxy.freeze()
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable):
            async with asyncio.timeout(3):
                await anext(subscription)
        assert time.monotonic() - started < 1.5
    redis_proxy.thaw()


async def test_an_idle_but_healthy_subscription_is_kept_alive_by_its_keepalive(
    redis_broker_factory: MakeRedisBroker,
) -> None:
    broker = redis_broker_factory(socket_timeout=0.5, pubsub_keepalive=0.2)
    async with broker.subscribe("events") as subscription:
        # Several keepalive rounds with nothing published: without answered pings the
        # line would be declared dead after about 0.2 + 0.5 s.
        await asyncio.sleep(1.2)
        await broker.publish("events", b"still here")
        async with asyncio.timeout(2):
            assert (await anext(subscription)).data == b"still here"


async def test_a_subscription_is_active_when_subscribe_returns_even_over_a_slow_link(
    redis_proxy: RedisProxy, redis_broker_factory: MakeRedisBroker
) -> None:
    direct = redis_broker_factory()
    slow = redis_broker_factory(direct.key_prefix, url=redis_proxy.url)
    await slow.ping()  # connect before the link slows down
    redis_proxy.latency = 0.15
    async with slow.subscribe("events") as subscription:
        await direct.publish("events", b"published right after subscribing")
        async with asyncio.timeout(2):
            assert (await anext(subscription)).data == b"published right after subscribing"


async def test_publishing_many_to_an_unreachable_redis_is_unavailable_unless_there_is_nothing(
    redis_broker_factory: MakeRedisBroker,
) -> None:
    broker = redis_broker_factory(url="redis://127.0.0.1:1/0")
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await broker.publish_many([("events", b"one"), ("events", b"two")])
    assert time.monotonic() - started < 1.0
    await broker.publish_many([])  # nothing to send: Redis is not even asked


async def test_publishing_many_to_a_redis_that_stops_answering_fails_within_the_socket_timeout(
    redis_proxy: RedisProxy, redis_broker_factory: MakeRedisBroker
) -> None:
    proxied = redis_broker_factory(url=redis_proxy.url, socket_timeout=0.3, connect_timeout=0.3)
    await proxied.ping()
    redis_proxy.freeze()
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await proxied.publish_many([("events", b"one"), ("events", b"two")])
    assert time.monotonic() - started < 1.5
    redis_proxy.thaw()


async def test_publishing_many_works_again_after_an_outage_without_a_restart(
    redis_proxy: RedisProxy, redis_broker_factory: MakeRedisBroker
) -> None:
    direct = redis_broker_factory()
    proxied = redis_broker_factory(
        direct.key_prefix, url=redis_proxy.url, socket_timeout=0.5, connect_timeout=0.5
    )
    await proxied.ping()
    await redis_proxy.cut()
    with pytest.raises(BrokerUnavailable):
        await proxied.publish_many([("events", b"lost")])
    await redis_proxy.restore()
    await asyncio.sleep(0.1)  # an outage lasts longer than the kernel takes to report it
    async with direct.subscribe("events") as subscription:
        await proxied.publish_many([("events", b"one"), ("events", b"two")])
        async with asyncio.timeout(2):
            assert [(await anext(subscription)).data for _ in range(2)] == [b"one", b"two"]


async def test_publishing_many_takes_one_round_trip_however_many_messages(
    redis_proxy: RedisProxy, redis_broker_factory: MakeRedisBroker
) -> None:
    proxied = redis_broker_factory(url=redis_proxy.url)
    await proxied.ping()  # connect before the link slows down
    redis_proxy.latency = 0.1
    started = time.monotonic()
    await proxied.ping()
    one_round_trip = time.monotonic() - started
    started = time.monotonic()
    await proxied.publish_many([(f"investigator:{n}", b"event") for n in range(30)])
    # Thirty round trips would take thirty times as long.
    assert time.monotonic() - started < 5 * one_round_trip


async def test_a_command_redis_refuses_surfaces_as_a_broker_error_not_a_redis_one(
    redis_broker_factory: MakeRedisBroker, raw_redis: redis.asyncio.Redis
) -> None:
    broker = redis_broker_factory()
    await raw_redis.set(broker.key_prefix + "rate:login:x", b"not a sorted set")
    with pytest.raises(BrokerError) as caught:
        await broker.throttle("login:x", limit=5, window=60)
    assert not isinstance(caught.value, BrokerUnavailable)
    assert type(caught.value).__module__.startswith("gateway.")


async def test_limits_checked_together_are_unavailable_while_redis_is_down(
    redis_proxy: RedisProxy, redis_broker_factory: MakeRedisBroker
) -> None:
    direct = redis_broker_factory()
    proxied = redis_broker_factory(
        direct.key_prefix, url=redis_proxy.url, socket_timeout=0.5, connect_timeout=0.5
    )
    checks = [("limit:network:x", 1, 60), ("limit:all:x", 1, 60)]
    await proxied.ping()
    await redis_proxy.cut()
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await proxied.throttle_all(checks)
    assert time.monotonic() - started < 1.0
    await redis_proxy.restore()
    assert (await direct.throttle_all(checks)).allowed  # the failed attempt counted nowhere


async def test_limits_checked_together_cost_one_round_trip_however_many(
    counted_redis_broker: tuple[RedisBroker, list[str]],
) -> None:
    broker, sent = counted_redis_broker
    checks = [("limit:network:x", 300, 60), ("limit:locator:y", 120, 3600), ("limit:all:z", 9, 60)]
    await broker.throttle_all(checks)  # the first call may have to load the script
    sent.clear()
    assert (await broker.throttle_all(checks)).allowed
    assert sent == ["EVALSHA"]
    for _ in range(7):
        await broker.throttle_all(checks)
    sent.clear()
    assert (await broker.throttle_all(checks)).refused_by == 2
    assert sent == ["EVALSHA"]


async def test_limits_with_a_value_to_remember_cost_one_round_trip(
    counted_redis_broker: tuple[RedisBroker, list[str]],
) -> None:
    broker, sent = counted_redis_broker
    checks = [("limit:network:x", 300, 60), ("limit:all:z", 1, 60)]
    spend = {"ttl": 60, "counter": "load:pow:1", "window": 60}
    # The first call may have to load the script.
    await broker.throttle_all_then_remember_once([("warm", 1, 60)], key="pow:spent:w", **spend)
    sent.clear()
    decision, first, count = await broker.throttle_all_then_remember_once(
        checks, key="pow:spent:a", **spend
    )
    assert (decision.allowed, first, count) == (True, True, 2)
    assert sent == ["EVALSHA"]
    sent.clear()
    decision, first, count = await broker.throttle_all_then_remember_once(
        checks, key="pow:spent:b", **spend
    )
    assert (decision.refused_by, first, count) == (1, False, 0)
    assert sent == ["EVALSHA"]


# ---------------------------------------------------------------------- key layout


async def test_two_gateways_with_different_prefixes_share_nothing(
    redis_broker_factory: MakeRedisBroker,
) -> None:
    one, two = redis_broker_factory(), redis_broker_factory()
    await one.put_token("t", b"one", ttl=30)
    assert await two.take_token("t") is None
    assert await one.remember_once("pow", ttl=30)
    assert await two.remember_once("pow", ttl=30)
    assert (await one.throttle("k", limit=1, window=30)).allowed
    assert (await two.throttle("k", limit=1, window=30)).allowed
    assert await one.acquire_lock("purge", ttl=30) is not None
    assert await two.acquire_lock("purge", ttl=30) is not None
    await one.create_session("sid", owner_id="o", data={}, idle_ttl=30, absolute_ttl=30)
    assert await two.get_session("sid") is None
    assert await two.delete_owner_sessions("o") == 0
    assert await one.get_session("sid") is not None
    await one.schedule("q", "job", due_at=1.0, payload=b"p")
    assert await two.claim_due("q", now=2.0) == []
    await two.put_token("case:1:x", b"two", ttl=30)
    await one.put_token("case:1:x", b"one", ttl=30)
    assert await one.delete_prefix("case:") == 1
    assert await two.take_token("case:1:x") == b"two"
    async with one.subscribe("events") as heard_by_one:
        await two.publish("events", b"for two's subscribers only")
        await one.publish("events", b"for one")
        async with asyncio.timeout(2):
            assert (await anext(heard_by_one)).data == b"for one"


async def test_every_key_carries_the_prefix_and_all_but_timer_queues_expire(
    redis_broker_factory: MakeRedisBroker, raw_redis: redis.asyncio.Redis
) -> None:
    broker = redis_broker_factory()
    marker = uuid.uuid4().hex
    await store_one_of_everything(broker, marker)
    anywhere = [key async for key in raw_redis.scan_iter(match=f"*{marker}*", count=1000)]
    assert anywhere
    assert all(key.decode().startswith(broker.key_prefix) for key in anywhere)
    stored = await everything_under(raw_redis, broker.key_prefix)
    namespaces = {key.decode().removeprefix(broker.key_prefix).split(":")[0] for key in stored}
    assert namespaces == {
        "rate",
        "token",
        "once",
        "counter",
        "lock",
        "session",
        "owner-sessions",
        "timers",
        "timer-payloads",
    }
    for key in stored:
        ttl_ms = await raw_redis.pttl(key)
        if key.decode().removeprefix(broker.key_prefix).startswith("timer"):
            assert ttl_ms == -1, key  # jobs stay until claimed or cancelled
        else:
            assert 0 < ttl_ms <= 60_000, key


async def test_a_session_id_never_reaches_redis_in_the_clear(
    redis_broker_factory: MakeRedisBroker, raw_redis: redis.asyncio.Redis
) -> None:
    broker = redis_broker_factory()
    session_id = "bearer-" + uuid.uuid4().hex
    await broker.create_session(
        session_id, owner_id="inv-9", data={"role": "triage"}, idle_ttl=30, absolute_ttl=60
    )
    stored = await everything_under(raw_redis, broker.key_prefix)
    everything = b" ".join(list(stored) + list(stored.values()))
    assert session_id.encode() not in everything
    assert hashlib.sha256(session_id.encode()).hexdigest().encode() in everything


async def test_a_process_holds_one_redis_subscription_however_many_subscribers(
    redis_broker_factory: MakeRedisBroker, raw_redis: redis.asyncio.Redis
) -> None:
    broker = redis_broker_factory()
    wire = broker.key_prefix + "channel:events"

    async def subscribers() -> int:
        counts = dict(await raw_redis.pubsub_numsub(wire))
        return int(counts[wire.encode()])

    async with broker.subscribe("events"), broker.subscribe("events"):
        assert await subscribers() == 1
    for _ in range(20):  # the UNSUBSCRIBE reply is read by the connection's reader
        if await subscribers() == 0:
            break
        await asyncio.sleep(0.05)
    assert await subscribers() == 0


async def test_a_redis_broker_needs_a_key_prefix() -> None:
    with pytest.raises(ValueError, match="key_prefix"):
        open_broker(services.REDIS_URL, key_prefix="")
