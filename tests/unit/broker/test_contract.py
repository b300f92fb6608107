"""The broker contract: every test here runs on the in-process broker and on Redis.

Timing tests let time pass with `elapse`: instantly on the in-process broker's manual
clock, really on Redis, so TTLs are short (a few hundred milliseconds) with margins wide
enough for a loaded two-core machine; Redis keeps time in milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gateway.broker import (
    Broker,
    BrokerUnavailable,
    DueJob,
    Lease,
    Message,
    RateDecision,
    Subscription,
    SubscriptionOverflow,
)
from tests.fixtures.broker import BrokerFactory

Elapse = Callable[[float], Awaitable[None]]

# How long to wait for something that should arrive, and for something that should not.
ARRIVES_WITHIN = 2.0
QUIET_FOR = 0.2


async def next_message(subscription: Subscription) -> Message:
    async with asyncio.timeout(ARRIVES_WITHIN):
        return await anext(subscription)


async def assert_nothing_arrives(subscription: Subscription) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(QUIET_FOR):
            await anext(subscription)


# ---------------------------------------------------------------------- lifecycle


async def test_a_broker_answers_ping_until_closed_and_is_unavailable_afterwards(
    make_broker: BrokerFactory,
) -> None:
    broker = make_broker()
    await broker.ping()
    await broker.close()
    with pytest.raises(BrokerUnavailable):
        await broker.ping()
    with pytest.raises(BrokerUnavailable):
        await broker.take_token("anything")
    with pytest.raises(BrokerUnavailable):
        await broker.publish_many([("events", b"after closing")])


async def test_closing_the_broker_ends_open_subscriptions(make_broker: BrokerFactory) -> None:
    broker = make_broker()
    async with broker.subscribe("events") as subscription:
        await broker.close()
        with pytest.raises(StopAsyncIteration):
            await next_message(subscription)


# ---------------------------------------------------------------------- single-use tokens


async def test_a_token_can_be_taken_exactly_once(broker: Broker) -> None:
    await broker.put_token("ws-ticket:1", b"investigator-7", ttl=5)
    assert await broker.take_token("ws-ticket:1") == b"investigator-7"
    assert await broker.take_token("ws-ticket:1") is None


async def test_a_missing_token_is_none(broker: Broker) -> None:
    assert await broker.take_token("never-put") is None


async def test_a_token_is_gone_after_its_ttl(broker: Broker, elapse: Elapse) -> None:
    await broker.put_token("short", b"x", ttl=0.2)
    await elapse(0.35)
    assert await broker.take_token("short") is None


async def test_putting_a_token_again_replaces_its_value(broker: Broker) -> None:
    await broker.put_token("t", b"first", ttl=5)
    await broker.put_token("t", b"second", ttl=5)
    assert await broker.take_token("t") == b"second"


async def test_of_many_concurrent_takers_across_processes_exactly_one_gets_the_token(
    broker: Broker, peer_broker: Broker
) -> None:
    await broker.put_token("contested", b"prize", ttl=5)
    takers = [(broker if i % 2 else peer_broker).take_token("contested") for i in range(40)]
    results = await asyncio.gather(*takers)
    assert [r for r in results if r is not None] == [b"prize"]


async def test_tokens_hold_arbitrary_bytes(broker: Broker) -> None:
    value = bytes(range(256)) * 4
    await broker.put_token("binary", value, ttl=5)
    assert await broker.take_token("binary") == value


# ---------------------------------------------------------------------- remember once


async def test_remember_once_is_true_only_the_first_time(broker: Broker) -> None:
    assert await broker.remember_once("pow:challenge-1", ttl=5) is True
    assert await broker.remember_once("pow:challenge-1", ttl=5) is False
    assert await broker.remember_once("pow:challenge-2", ttl=5) is True


async def test_remember_once_forgets_after_its_ttl(broker: Broker, elapse: Elapse) -> None:
    assert await broker.remember_once("pow:spent", ttl=0.2)
    await elapse(0.35)
    assert await broker.remember_once("pow:spent", ttl=0.2)


async def test_a_spent_challenge_is_refused_to_all_but_one_concurrent_submitter(
    broker: Broker, peer_broker: Broker
) -> None:
    attempts = [
        (broker if i % 2 else peer_broker).remember_once("pow:race", ttl=5) for i in range(40)
    ]
    assert sum(await asyncio.gather(*attempts)) == 1


async def test_throttle_then_remember_counts_and_remembers_only_what_the_limits_allow(
    broker: Broker,
) -> None:
    def attempt(key: str) -> Awaitable[tuple[RateDecision, bool, int]]:
        return broker.throttle_all_then_remember_once(
            [("network", 2, 5), ("all", 10, 5)], key=key, ttl=5, counter="load:w", window=5
        )

    first, again, refused = [await attempt(key) for key in ("pow:a", "pow:a", "pow:b")]
    assert (first[0].allowed, first[0].remaining, first[1:]) == (True, 1, (True, 1))
    # Allowed by the limits, but already remembered: still counted as load.
    assert (again[0].allowed, again[0].remaining, again[1:]) == (True, 0, (False, 2))
    assert (refused[0].allowed, refused[0].refused_by, refused[1:]) == (False, 0, (False, 0))
    assert 0 < refused[0].retry_after <= 5
    # The refused attempt remembered and counted nothing, under no limit either.
    assert await broker.remember_once("pow:b", ttl=5) is True
    assert await broker.increment("load:w", window=5) == 3
    assert (await broker.throttle("all", limit=10, window=5)).remaining == 7


async def test_throttle_then_remember_lets_one_of_many_concurrent_callers_first(
    broker: Broker, peer_broker: Broker
) -> None:
    attempts = [
        (broker if i % 2 else peer_broker).throttle_all_then_remember_once(
            [("all", 100, 5)], key="pow:race", ttl=5, counter="load:race", window=5
        )
        for i in range(40)
    ]
    results = await asyncio.gather(*attempts)
    assert sum(first for _, first, _ in results) == 1
    assert sorted(count for _, _, count in results) == list(range(1, 41))
    assert sorted(decision.remaining for decision, _, _ in results) == list(range(60, 100))


async def test_throttle_then_remember_forgets_and_restarts_the_count_after_their_times(
    broker: Broker, elapse: Elapse
) -> None:
    spend = {"key": "pow:x", "ttl": 0.2, "counter": "c", "window": 0.3}
    first = await broker.throttle_all_then_remember_once([("all", 100, 5)], **spend)
    await elapse(0.45)
    again = await broker.throttle_all_then_remember_once([("all", 100, 5)], **spend)
    assert (first[1:], again[1:]) == ((True, 1), (True, 1))


GOOD_SPEND: dict[str, Any] = {"key": "k", "ttl": 5, "counter": "c", "window": 5}


@pytest.mark.parametrize(
    ("checks", "spend"),
    [
        ([], {}),
        ([("r", 0, 5)], {}),
        ([("r", 1, 5), ("r", 1, 5)], {}),
        ([("r", 1, 5)], {"key": ""}),
        ([("r", 1, 5)], {"ttl": 0}),
        ([("r", 1, 5)], {"counter": "c\n"}),
        ([("r", 1, 5)], {"window": -1}),
    ],
)
async def test_throttle_then_remember_refuses_bad_arguments_before_touching_anything(
    broker: Broker, checks: list[tuple[str, int, float]], spend: dict[str, Any]
) -> None:
    with pytest.raises((ValueError, TypeError)):
        await broker.throttle_all_then_remember_once(checks, **(GOOD_SPEND | spend))
    assert (await broker.throttle("r", limit=5, window=5)).remaining == 4
    assert await broker.increment("c", window=5) == 1
    assert await broker.remember_once("k", ttl=5) is True


# ---------------------------------------------------------------------- rate limits


async def test_throttle_allows_the_limit_then_refuses_with_a_retry_after(broker: Broker) -> None:
    decisions = [await broker.throttle("login:alice", limit=3, window=2) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert [d.refused_by for d in decisions] == [None, None, None, 0]
    assert [d.retry_after for d in decisions[:3]] == [0.0, 0.0, 0.0]
    assert 1.5 < decisions[3].retry_after <= 2.0
    assert decisions[3].retry_after_header == 2
    assert decisions[0].retry_after_header == 0


async def test_the_throttle_window_slides_and_refused_attempts_do_not_count(
    broker: Broker, elapse: Elapse
) -> None:
    window = 0.6
    assert (await broker.throttle("k", limit=2, window=window)).allowed
    await elapse(0.3)
    assert (await broker.throttle("k", limit=2, window=window)).allowed
    refused = await broker.throttle("k", limit=2, window=window)
    assert not refused.allowed
    # The first attempt leaves the window about 0.3 s from now.
    assert 0 < refused.retry_after <= 0.31
    for _ in range(5):  # hammering while refused must not push the retry time out
        assert not (await broker.throttle("k", limit=2, window=window)).allowed
    await elapse(refused.retry_after + 0.05)
    after = await broker.throttle("k", limit=2, window=window)
    assert after.allowed
    assert after.remaining == 0
    # The second attempt is still inside the window: one slot freed, not two.
    assert not (await broker.throttle("k", limit=2, window=window)).allowed


async def test_a_full_window_later_everything_is_allowed_again(
    broker: Broker, elapse: Elapse
) -> None:
    for _ in range(2):
        await broker.throttle("burst", limit=2, window=0.25)
    assert not (await broker.throttle("burst", limit=2, window=0.25)).allowed
    await elapse(0.35)
    assert (await broker.throttle("burst", limit=2, window=0.25)).remaining == 1


async def test_throttle_keys_are_independent(broker: Broker) -> None:
    assert (await broker.throttle("ip:a", limit=1, window=5)).allowed
    assert not (await broker.throttle("ip:a", limit=1, window=5)).allowed
    assert (await broker.throttle("ip:b", limit=1, window=5)).allowed


async def test_resetting_a_throttle_forgets_its_attempts(broker: Broker) -> None:
    await broker.throttle("login:bob", limit=1, window=5)
    assert not (await broker.throttle("login:bob", limit=1, window=5)).allowed
    await broker.reset_throttle("login:bob")
    assert (await broker.throttle("login:bob", limit=1, window=5)).allowed


async def test_concurrent_attempts_across_processes_never_exceed_the_limit(
    broker: Broker, peer_broker: Broker
) -> None:
    attempts = [
        (broker if i % 2 else peer_broker).throttle("flood", limit=5, window=5) for i in range(30)
    ]
    decisions = await asyncio.gather(*attempts)
    assert sum(d.allowed for d in decisions) == 5


async def test_an_attempt_all_limits_allow_is_counted_under_every_one(broker: Broker) -> None:
    decision = await broker.throttle_all([("network", 3, 5), ("code", 2, 5), ("all", 10, 5)])
    assert decision.allowed
    assert decision.refused_by is None
    assert decision.retry_after == 0.0
    assert decision.remaining == 1  # the fewest left: the code's
    # Each log holds exactly that one attempt.
    assert (await broker.throttle("network", limit=2, window=5)).remaining == 0
    assert (await broker.throttle("code", limit=2, window=5)).remaining == 0
    assert (await broker.throttle("all", limit=2, window=5)).remaining == 0


async def test_an_attempt_one_limit_refuses_is_counted_under_none(broker: Broker) -> None:
    assert (await broker.throttle("code", limit=1, window=5)).allowed
    checks = [("network", 2, 5), ("code", 1, 5), ("all", 2, 5)]
    for _ in range(5):  # hammering a refused code spends nothing of the others
        refused = await broker.throttle_all(checks)
        assert not refused.allowed
        assert refused.refused_by == 1
        assert refused.remaining == 0
    # The limits that allowed were not counted: both still take their whole allowance.
    for _ in range(2):
        assert (await broker.throttle_all([("network", 2, 5), ("all", 2, 5)])).allowed
    assert not (await broker.throttle_all([("network", 2, 5), ("all", 2, 5)])).allowed


async def test_a_refusal_carries_the_refusing_limits_retry_after_the_longest_of_several(
    broker: Broker,
) -> None:
    await broker.throttle("short", limit=1, window=1)
    await broker.throttle("long", limit=1, window=4)
    only_short = await broker.throttle_all([("short", 1, 1), ("free", 1, 60)])
    assert only_short.refused_by == 0
    assert 0.5 < only_short.retry_after <= 1.0  # the refusing limit's, not the free one's
    assert only_short.retry_after_header == 1
    for checks, longest in (
        ([("short", 1, 1), ("long", 1, 4)], 1),
        ([("long", 1, 4), ("short", 1, 1)], 0),
    ):
        both = await broker.throttle_all(checks)
        assert not both.allowed
        assert both.refused_by == longest
        assert 3.5 < both.retry_after <= 4.0
        assert both.retry_after_header == 4


async def test_limits_checked_together_slide_like_single_throttles(
    broker: Broker, elapse: Elapse
) -> None:
    checks = [("minute", 2, 0.6), ("hour", 5, 30)]
    assert (await broker.throttle_all(checks)).allowed
    await elapse(0.3)
    assert (await broker.throttle_all(checks)).allowed
    refused = await broker.throttle_all(checks)
    assert refused.refused_by == 0
    assert 0 < refused.retry_after <= 0.31  # the first attempt leaves the window then
    await elapse(refused.retry_after + 0.05)
    after = await broker.throttle_all(checks)
    assert after.allowed
    assert after.remaining == 0  # one slot freed under the short window, not two
    assert not (await broker.throttle_all(checks)).allowed
    # Three attempts were counted under the long window, refused ones not.
    assert (await broker.throttle("hour", limit=5, window=30)).remaining == 1


async def test_concurrent_attempts_against_several_limits_across_processes_never_exceed_any(
    broker: Broker, peer_broker: Broker
) -> None:
    attempts = [
        (broker if i % 2 else peer_broker).throttle_all([("wide", 100, 5), ("narrow", 5, 5)])
        for i in range(30)
    ]
    decisions = await asyncio.gather(*attempts)
    assert sum(d.allowed for d in decisions) == 5
    # Only the five allowed attempts reached the wide limit's log.
    assert (await broker.throttle("wide", limit=6, window=5)).remaining == 0


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        pytest.param([], "at least one", id="no limits"),
        pytest.param([("ok", 1, 5), ("", 1, 5)], "key", id="empty key"),
        pytest.param([("ok", 1, 5), ("bad\nkey", 1, 5)], "key", id="control character"),
        pytest.param([("ok", 1, 5), ("x" * 513, 1, 5)], "key", id="oversized key"),
        pytest.param([("ok", 1, 5), ("k", 0, 5)], "limit", id="zero limit"),
        pytest.param([("ok", 1, 5), ("k", True, 5)], "limit", id="boolean limit"),
        pytest.param([("ok", 1, 5), ("k", 1, 0)], "window", id="zero window"),
        pytest.param([("ok", 1, 5), ("k", 1, float("inf"))], "window", id="infinite window"),
        pytest.param([("ok", 1, 5), ("k", 1, float("nan"))], "window", id="nan window"),
        pytest.param([("ok", 1, 5), ("ok", 2, 5)], "only once", id="key twice"),
    ],
)
async def test_limits_with_a_bad_argument_are_refused_before_anything_is_counted(
    broker: Broker, bad: list[tuple[str, int, float]], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        await broker.throttle_all(bad)
    assert (await broker.throttle("ok", limit=1, window=5)).allowed


# ---------------------------------------------------------------------- counters


async def test_a_counter_counts_and_vanishes_after_its_window(
    broker: Broker, elapse: Elapse
) -> None:
    assert [await broker.increment("pow-requests", window=0.5) for _ in range(3)] == [1, 2, 3]
    await elapse(0.65)
    assert await broker.increment("pow-requests", window=0.5) == 1


# ---------------------------------------------------------------------- sessions

SESSION = "s3ss10n-1d-wh1ch-1s-a-s3cr3t-0f-32-bytes-or-more"


async def test_a_session_gives_back_its_owner_and_data(broker: Broker) -> None:
    await broker.create_session(
        SESSION, owner_id="inv-1", data={"role": "triage", "csrf": "c"}, idle_ttl=5, absolute_ttl=60
    )
    session = await broker.get_session(SESSION)
    assert session is not None
    assert session.owner_id == "inv-1"
    assert dict(session.data) == {"role": "triage", "csrf": "c"}
    assert 59 < session.expires_in <= 60


async def test_an_unknown_session_is_none(broker: Broker) -> None:
    assert await broker.get_session("no-such-session") is None


async def test_a_session_id_cannot_be_created_twice(broker: Broker) -> None:
    await broker.create_session(SESSION, owner_id="a", data={}, idle_ttl=5, absolute_ttl=5)
    with pytest.raises(ValueError, match="already in use"):
        await broker.create_session(SESSION, owner_id="b", data={}, idle_ttl=5, absolute_ttl=5)
    session = await broker.get_session(SESSION)
    assert session is not None
    assert session.owner_id == "a"


async def test_an_idle_session_expires(broker: Broker, elapse: Elapse) -> None:
    await broker.create_session(SESSION, owner_id="o", data={}, idle_ttl=0.25, absolute_ttl=30)
    await elapse(0.4)
    assert await broker.get_session(SESSION) is None


async def test_using_a_session_restarts_its_idle_clock(broker: Broker, elapse: Elapse) -> None:
    await broker.create_session(SESSION, owner_id="o", data={}, idle_ttl=0.5, absolute_ttl=30)
    for _ in range(4):  # 0.8 s in all: well past the idle ttl
        await elapse(0.2)
        assert await broker.get_session(SESSION) is not None
    await elapse(0.65)
    assert await broker.get_session(SESSION) is None


async def test_a_look_without_touch_does_not_restart_the_idle_clock(
    broker: Broker, elapse: Elapse
) -> None:
    await broker.create_session(SESSION, owner_id="o", data={}, idle_ttl=0.5, absolute_ttl=30)
    await elapse(0.2)
    assert await broker.get_session(SESSION, touch=False) is not None
    await elapse(0.4)  # 0.6 s after login; a touch at 0.2 s would have kept it to 0.7 s
    assert await broker.get_session(SESSION, touch=False) is None


async def test_use_never_keeps_a_session_past_its_absolute_deadline(
    broker: Broker, elapse: Elapse
) -> None:
    await broker.create_session(SESSION, owner_id="o", data={}, idle_ttl=0.4, absolute_ttl=0.7)
    remaining = []
    for _ in range(5):  # used every 0.11 s, well within the idle ttl
        session = await broker.get_session(SESSION)
        assert session is not None
        remaining.append(session.expires_in)
        await elapse(0.11)
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[-1] < 0.3
    await elapse(0.25)  # past the deadline, though last used well within the idle ttl
    assert await broker.get_session(SESSION) is None


async def test_deleting_a_session_ends_only_that_session(broker: Broker) -> None:
    for n in (1, 2):
        await broker.create_session(
            f"{SESSION}-{n}", owner_id="o", data={}, idle_ttl=5, absolute_ttl=5
        )
    assert await broker.delete_session(f"{SESSION}-1") is True
    assert await broker.delete_session(f"{SESSION}-1") is False
    assert await broker.get_session(f"{SESSION}-1") is None
    assert await broker.get_session(f"{SESSION}-2") is not None


async def test_revoking_an_owner_ends_all_their_sessions_at_once_in_every_process(
    broker: Broker, peer_broker: Broker
) -> None:
    for n in range(3):
        await broker.create_session(
            f"{SESSION}-{n}", owner_id="revoked", data={}, idle_ttl=5, absolute_ttl=5
        )
    await broker.create_session(
        f"{SESSION}-other", owner_id="colleague", data={}, idle_ttl=5, absolute_ttl=5
    )
    assert await peer_broker.delete_owner_sessions("revoked") == 3
    for n in range(3):
        assert await broker.get_session(f"{SESSION}-{n}") is None
    assert await broker.get_session(f"{SESSION}-other") is not None
    assert await broker.delete_owner_sessions("revoked") == 0


async def test_revocation_counts_only_live_sessions(broker: Broker, elapse: Elapse) -> None:
    await broker.create_session("short", owner_id="o", data={}, idle_ttl=0.2, absolute_ttl=5)
    await broker.create_session("long", owner_id="o", data={}, idle_ttl=5, absolute_ttl=5)
    await elapse(0.35)
    assert await broker.delete_owner_sessions("o") == 1


async def test_a_session_deleted_singly_is_not_counted_again_on_revocation(
    broker: Broker,
) -> None:
    await broker.create_session("one", owner_id="o", data={}, idle_ttl=5, absolute_ttl=5)
    await broker.create_session("two", owner_id="o", data={}, idle_ttl=5, absolute_ttl=5)
    await broker.delete_session("one")
    assert await broker.delete_owner_sessions("o") == 1


# ---------------------------------------------------------------------- publish / subscribe


async def test_every_subscriber_gets_every_message_in_order(broker: Broker) -> None:
    async with broker.subscribe("events") as first, broker.subscribe("events") as second:
        for n in range(5):
            await broker.publish("events", f"m{n}".encode())
        for subscription in (first, second):
            received = [(await next_message(subscription)).data for _ in range(5)]
            assert received == [b"m0", b"m1", b"m2", b"m3", b"m4"]


async def test_messages_cross_processes(broker: Broker, peer_broker: Broker) -> None:
    async with broker.subscribe("events") as subscription:
        await peer_broker.publish("events", b"from another process")
        assert await next_message(subscription) == Message("events", b"from another process")


async def test_a_subscriber_gets_only_its_channels(broker: Broker) -> None:
    async with broker.subscribe("inbox:1", "urgent") as subscription:
        await broker.publish("inbox:2", b"not for us")
        await broker.publish("urgent", b"u")
        await broker.publish("inbox:1", b"i")
        assert await next_message(subscription) == Message("urgent", b"u")
        assert await next_message(subscription) == Message("inbox:1", b"i")
        assert subscription.channels == frozenset({"inbox:1", "urgent"})
        await assert_nothing_arrives(subscription)


async def test_nothing_is_delivered_after_unsubscribing(broker: Broker) -> None:
    async with broker.subscribe("events") as staying:
        async with broker.subscribe("events") as leaving:
            await broker.publish("events", b"both")
            assert (await next_message(leaving)).data == b"both"
        await broker.publish("events", b"after")
        assert (await next_message(staying)).data == b"both"
        assert (await next_message(staying)).data == b"after"
        with pytest.raises(StopAsyncIteration):
            await next_message(leaving)


async def test_messages_published_while_nobody_listens_are_not_kept(broker: Broker) -> None:
    async with broker.subscribe("events"):
        pass
    await broker.publish("events", b"lost")
    async with broker.subscribe("events") as late:
        await broker.publish("events", b"seen")
        assert (await next_message(late)).data == b"seen"
        await assert_nothing_arrives(late)


async def test_a_channel_can_be_subscribed_again_after_everyone_left(broker: Broker) -> None:
    for round_ in range(3):
        async with broker.subscribe("events") as subscription:
            await broker.publish("events", str(round_).encode())
            assert (await next_message(subscription)).data == str(round_).encode()


async def test_a_subscriber_that_falls_behind_is_dropped_loudly(
    make_broker: BrokerFactory,
) -> None:
    broker = make_broker(subscriber_max_pending=3)
    async with broker.subscribe("events") as slow, broker.subscribe("events") as fast:
        for n in range(3):
            await broker.publish("events", str(n).encode())
        assert [(await next_message(fast)).data for _ in range(3)] == [b"0", b"1", b"2"]
        await broker.publish("events", b"3")
        assert (await next_message(fast)).data == b"3"
        # What was queued is handed out, then the gap is reported.
        assert [(await next_message(slow)).data for _ in range(3)] == [b"0", b"1", b"2"]
        with pytest.raises(SubscriptionOverflow):
            await next_message(slow)


async def test_publishing_many_delivers_every_message_in_order_on_each_channel(
    broker: Broker, peer_broker: Broker
) -> None:
    batch = [
        ("investigator:a", b"a0"),
        ("investigator:b", b"b0"),
        ("investigator:a", b"a1"),
        ("nobody", b"unheard"),
        ("investigator:b", b"b1"),
        ("investigator:a", b"a2"),
    ]
    async with (
        broker.subscribe("investigator:a") as a,
        broker.subscribe("investigator:b") as b,
        broker.subscribe("investigator:a", "investigator:b") as both,
    ):
        await peer_broker.publish_many(batch)
        assert [(await next_message(a)).data for _ in range(3)] == [b"a0", b"a1", b"a2"]
        assert [(await next_message(b)).data for _ in range(2)] == [b"b0", b"b1"]
        heard = [await next_message(both) for _ in range(5)]
        assert heard == [Message(channel, data) for channel, data in batch if channel != "nobody"]
        for subscription in (a, b, both):
            await assert_nothing_arrives(subscription)


async def test_publishing_many_of_nothing_does_nothing(broker: Broker) -> None:
    async with broker.subscribe("events") as subscription:
        await broker.publish_many([])
        await assert_nothing_arrives(subscription)


@pytest.mark.parametrize(
    ("bad", "refusal", "reason"),
    [
        (("", b"x"), ValueError, "channel"),
        (("bad\nchannel", b"x"), ValueError, "channel"),
        (("x" * 513, b"x"), ValueError, "channel"),
        (("events", "text"), TypeError, "bytes"),
    ],
)
async def test_publishing_many_refuses_a_bad_message_before_publishing_any(
    broker: Broker, bad: tuple[str, bytes], refusal: type[Exception], reason: str
) -> None:
    async with broker.subscribe("events") as subscription:
        with pytest.raises(refusal, match=reason):
            await broker.publish_many([("events", b"first"), bad, ("events", b"last")])
        await assert_nothing_arrives(subscription)


async def test_subscribing_to_no_channel_is_refused(broker: Broker) -> None:
    with pytest.raises(ValueError, match="at least one channel"):
        async with broker.subscribe():
            pass


# ---------------------------------------------------------------------- timers


async def test_a_job_is_claimed_once_when_due_and_not_before(broker: Broker) -> None:
    now = 1_800_000_000.0
    await broker.schedule("escalation", "case-1", due_at=now + 60, payload=b"level-1")
    assert await broker.claim_due("escalation", now=now) == []
    assert await broker.claim_due("escalation", now=now + 59.999) == []
    assert await broker.claim_due("escalation", now=now + 60) == [
        DueJob(job_id="case-1", due_at=now + 60, payload=b"level-1")
    ]
    assert await broker.claim_due("escalation", now=now + 120) == []


async def test_due_jobs_are_claimed_earliest_first_up_to_the_limit(broker: Broker) -> None:
    for n in (3, 1, 4, 2, 5):
        await broker.schedule("q", f"job-{n}", due_at=1000.0 + n, payload=b"")
    first = await broker.claim_due("q", now=2000.0, limit=2)
    rest = await broker.claim_due("q", now=2000.0, limit=10)
    assert [job.job_id for job in first] == ["job-1", "job-2"]
    assert [job.job_id for job in rest] == ["job-3", "job-4", "job-5"]


async def test_scheduling_a_job_again_replaces_its_time_and_payload(broker: Broker) -> None:
    await broker.schedule("q", "case-1", due_at=100.0, payload=b"old")
    await broker.schedule("q", "case-1", due_at=200.0, payload=b"new")
    assert await broker.claim_due("q", now=150.0) == []
    assert await broker.claim_due("q", now=250.0) == [DueJob("case-1", 200.0, b"new")]


async def test_a_cancelled_job_never_comes_due(broker: Broker) -> None:
    await broker.schedule("q", "case-1", due_at=100.0, payload=b"p")
    assert await broker.cancel("q", "case-1") is True
    assert await broker.cancel("q", "case-1") is False
    assert await broker.claim_due("q", now=1000.0) == []


async def test_queues_are_independent(broker: Broker) -> None:
    await broker.schedule("escalation", "same-id", due_at=1.0, payload=b"e")
    await broker.schedule("webhooks", "same-id", due_at=1.0, payload=b"w")
    assert await broker.claim_due("escalation", now=2.0) == [DueJob("same-id", 1.0, b"e")]
    assert await broker.claim_due("webhooks", now=2.0) == [DueJob("same-id", 1.0, b"w")]


async def test_concurrent_claimers_in_several_processes_claim_each_job_exactly_once(
    broker: Broker, peer_broker: Broker
) -> None:
    for n in range(60):
        await broker.schedule("escalation", f"case-{n}", due_at=float(n), payload=str(n).encode())
    claims = [
        (broker if i % 2 else peer_broker).claim_due("escalation", now=100.0, limit=7)
        for i in range(12)
    ]
    claimed = [job.job_id for batch in await asyncio.gather(*claims) for job in batch]
    assert sorted(claimed) == sorted(f"case-{n}" for n in range(60))


async def test_a_job_claimed_with_redelivery_comes_back_unless_the_claimer_finishes(
    broker: Broker,
) -> None:
    await broker.schedule("escalation", "case-1", due_at=10.0, payload=b"p")
    first = await broker.claim_due("escalation", now=10.0, redeliver_after=30)
    assert first == [DueJob("case-1", 10.0, b"p")]
    # Nobody else gets it while the claimer works on it ...
    assert await broker.claim_due("escalation", now=39.0, redeliver_after=30) == []
    # ... but if the claimer died, it comes due again.
    assert await broker.claim_due("escalation", now=40.0, redeliver_after=30) == [
        DueJob("case-1", 40.0, b"p")
    ]
    assert await broker.cancel("escalation", "case-1") is True
    assert await broker.claim_due("escalation", now=1000.0) == []


# ---------------------------------------------------------------------- locks


async def test_a_lock_has_one_holder_until_released(broker: Broker, peer_broker: Broker) -> None:
    lease = await broker.acquire_lock("purge", ttl=5)
    assert lease is not None
    assert await peer_broker.acquire_lock("purge", ttl=5) is None
    assert await broker.release_lock(lease) is True
    again = await peer_broker.acquire_lock("purge", ttl=5)
    assert again is not None
    assert again.token != lease.token


async def test_only_the_holder_can_release_a_lock(broker: Broker) -> None:
    lease = await broker.acquire_lock("purge", ttl=5)
    assert lease is not None
    forged = Lease(name="purge", token="0" * 32)
    assert await broker.release_lock(forged) is False
    assert await broker.extend_lock(forged, ttl=5) is False
    assert await broker.acquire_lock("purge", ttl=5) is None


async def test_an_expired_lease_cannot_release_the_next_holders_lock(
    broker: Broker, elapse: Elapse
) -> None:
    stale = await broker.acquire_lock("purge", ttl=0.2)
    assert stale is not None
    await elapse(0.35)
    current = await broker.acquire_lock("purge", ttl=5)
    assert current is not None
    assert await broker.release_lock(stale) is False
    assert await broker.extend_lock(stale, ttl=5) is False
    assert await broker.acquire_lock("purge", ttl=5) is None


async def test_extending_a_lock_keeps_it_past_its_first_ttl(broker: Broker, elapse: Elapse) -> None:
    lease = await broker.acquire_lock("purge", ttl=0.4)
    assert lease is not None
    await elapse(0.15)
    assert await broker.extend_lock(lease, ttl=1)
    await elapse(0.35)  # past the first ttl
    assert await broker.acquire_lock("purge", ttl=5) is None
    assert await broker.release_lock(lease)


async def test_of_many_concurrent_contenders_exactly_one_gets_the_lock(
    broker: Broker, peer_broker: Broker
) -> None:
    contenders = [
        (broker if i % 2 else peer_broker).acquire_lock("purge", ttl=5) for i in range(20)
    ]
    leases = [lease for lease in await asyncio.gather(*contenders) if lease is not None]
    assert len(leases) == 1


async def test_the_lock_block_holds_the_lock_and_releases_it_even_on_error(
    broker: Broker,
) -> None:
    async def purge_that_fails() -> None:
        async with broker.lock("purge", ttl=5) as lease:
            assert lease is not None
            async with broker.lock("purge", ttl=5) as second:
                assert second is None
            raise RuntimeError("purge failed")

    with pytest.raises(RuntimeError, match="purge failed"):
        await purge_that_fails()
    async with broker.lock("purge", ttl=5) as after:
        assert after is not None


# ---------------------------------------------------------------------- retention


async def test_deleting_a_prefix_removes_that_cases_keys_of_every_kind_and_nothing_else(
    broker: Broker,
) -> None:
    case, other = "case:0f3a:", "case:0f3b:"
    for prefix in (case, other):
        await broker.put_token(prefix + "consent", b"x", ttl=30)
        assert await broker.remember_once(prefix + "seen", ttl=30)
        await broker.throttle(prefix + "pickup", limit=1, window=30)
        await broker.increment(prefix + "views", window=30)
        assert await broker.acquire_lock(prefix + "export", ttl=30) is not None
    assert await broker.delete_prefix(case) == 5
    assert await broker.take_token(case + "consent") is None
    assert await broker.remember_once(case + "seen", ttl=30)
    assert (await broker.throttle(case + "pickup", limit=1, window=30)).allowed
    assert await broker.increment(case + "views", window=30) == 1
    assert await broker.acquire_lock(case + "export", ttl=30) is not None
    # The neighbouring case, whose id shares all but the last character, is untouched.
    assert await broker.take_token(other + "consent") == b"x"
    assert not await broker.remember_once(other + "seen", ttl=30)
    assert not (await broker.throttle(other + "pickup", limit=1, window=30)).allowed
    assert await broker.increment(other + "views", window=30) == 2
    assert await broker.acquire_lock(other + "export", ttl=30) is None


async def test_deleting_a_prefix_treats_glob_characters_literally(broker: Broker) -> None:
    await broker.put_token("case:*", b"literal", ttl=30)
    await broker.put_token("case:abc", b"other", ttl=30)
    assert await broker.delete_prefix("case:*") == 1
    assert await broker.take_token("case:abc") == b"other"


async def test_an_empty_prefix_is_refused_rather_than_wiping_everything(broker: Broker) -> None:
    await broker.put_token("keep", b"x", ttl=30)
    with pytest.raises(ValueError, match="non-empty"):
        await broker.delete_prefix("")
    assert await broker.take_token("keep") == b"x"


# ---------------------------------------------------------------------- refusals


@pytest.mark.parametrize("ttl", [0, -1, float("inf"), float("nan")])
async def test_a_ttl_that_is_not_a_positive_finite_duration_is_refused(
    broker: Broker, ttl: float
) -> None:
    with pytest.raises(ValueError, match="positive, finite"):
        await broker.put_token("k", b"v", ttl=ttl)
    with pytest.raises(ValueError, match="positive, finite"):
        await broker.acquire_lock("k", ttl=ttl)


@pytest.mark.parametrize("key", ["", "bad\nkey", "x" * 513])
async def test_an_empty_oversized_or_control_character_key_is_refused(
    broker: Broker, key: str
) -> None:
    with pytest.raises(ValueError, match="key"):
        await broker.put_token(key, b"v", ttl=5)


async def test_values_must_be_bytes(broker: Broker) -> None:
    with pytest.raises(TypeError):
        await broker.put_token("k", "text", ttl=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await broker.publish("events", "text")  # type: ignore[arg-type]


async def test_a_rate_limit_needs_a_positive_integer_limit(broker: Broker) -> None:
    with pytest.raises(ValueError, match="limit"):
        await broker.throttle("k", limit=0, window=5)
