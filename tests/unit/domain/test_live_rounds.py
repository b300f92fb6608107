"""A relay round costs the same whatever it claims: one query for who hears of its rows and one
broker call for all its events; when that call fails, every row of the round goes back."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch
from uuid import UUID

import pytest
from sqlalchemy import Row, event, select

from gateway.broker import Broker, BrokerUnavailable, Message, Subscription
from gateway.domain.events import CASE_CREATED, ESCALATION
from gateway.domain.live import AUDIENCE_FIELD, OutboxRelay, channel_for, events_in
from gateway.store import Database
from gateway.store.repositories.outbox import OUTBOX
from gateway.store.session import StoreSession
from tests.unit.domain.test_live import ManualClock
from tests.unit.store.builders import add_case, add_investigator

ARRIVES_WITHIN = 5.0
QUIET_FOR = 0.2


class BrokerCalls:
    """A spy on the real broker: counts the calls that publish, which still go through."""

    def __init__(self, broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: Counter[str] = Counter()
        for name in ("publish", "publish_many"):
            monkeypatch.setattr(broker, name, self._counted(name, getattr(broker, name)))

    def _counted(self, name: str, real: Callable[..., Awaitable[None]]) -> Callable[..., Any]:
        async def counted(*args: Any) -> None:
            self.counts[name] += 1
            await real(*args)

        return counted

    def total(self) -> int:
        return sum(self.counts.values())


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements the real engine sends while the block runs (SQLAlchemy's and those
    the store runs on asyncpg directly)."""
    sent: list[str] = []

    def record(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        # SQLite's per-unit set-up (PRAGMA query_only, BEGIN IMMEDIATE) is not a query.
        if not statement.lstrip().upper().startswith(("PRAGMA", "BEGIN")):
            sent.append(statement)

    # The statements the store runs on asyncpg directly pass by SQLAlchemy's events.
    run_directly = StoreSession.run_on_postgresql

    async def recorded_and_run(session: StoreSession, sql: str, *arguments: Any) -> list[Any]:
        sent.append(sql)
        return await run_directly(session, sql, *arguments)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        with patch.object(StoreSession, "run_on_postgresql", recorded_and_run):
            yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def new_tips(database: Database, clock: ManualClock, teams: Sequence[int]) -> list[UUID]:
    """One new case per team size, each with a fresh team; returns the cases' ids."""
    async with database.transaction() as tx:
        cases = []
        for size in teams:
            team = [(await add_investigator(tx)).id for _ in range(size)]
            case, _ = await add_case(tx, investigators=team, when=clock.now())
            cases.append(case.id)
    return cases


async def heard(subscription: Subscription, count: int) -> list[Message]:
    """The next `count` messages, then proof that nothing else comes."""
    async with asyncio.timeout(ARRIVES_WITHIN):
        messages = [await anext(subscription) for _ in range(count)]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(QUIET_FOR):
            await anext(subscription)
    return messages


def by_channel(messages: Sequence[Message]) -> dict[str, list[tuple[str, str]]]:
    """Each channel's events in arrival order, as (topic, case id)."""
    events: dict[str, list[tuple[str, str]]] = {}
    for message in messages:
        for line in events_in(message.data):
            data = json.loads(line)
            events.setdefault(message.channel, []).append((data["topic"], data["case_id"]))
    return events


async def outbox_rows(database: Database) -> list[Row[Any]]:
    """Every outbox row, oldest first (read past the store, as its own test builders do)."""
    async with database.engine.connect() as connection:
        return list(await connection.execute(select(OUTBOX).order_by(OUTBOX.c.id)))


async def pending(database: Database) -> int:
    async with database.transaction(read_only=True) as tx:
        return await tx.outbox.pending_count()


async def test_a_round_tells_everyone_on_each_case_and_everyone_named_with_one_query_and_one_call(
    database: Database, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock()
    async with database.transaction() as tx:
        ann, bo, cy, di, ed, liaison = [(await add_investigator(tx)).id for _ in range(6)]
        teams = [[ann, bo], [bo, cy, di], [ed]]
        first, second, third = [
            (await add_case(tx, investigators=team, when=clock.now()))[0].id for team in teams
        ]
        # An escalation also names a liaison who is not on the case; a malformed name is skipped.
        await tx.outbox.enqueue(
            ESCALATION,
            {"case_id": str(third), AUDIENCE_FIELD: [str(liaison), "not-an-id"]},
            at=clock.now(),
            case_id=third,
        )
    relay = OutboxRelay(database, broker, clock)
    calls = BrokerCalls(broker, monkeypatch)
    everyone = [ann, bo, cy, di, ed, liaison]

    async with broker.subscribe(*(channel_for(person) for person in everyone)) as subscription:
        with statements(database) as sent:
            assert await relay.deliver_due() == 4
        # One message per listener, holding every event of the round they hear of.
        events = by_channel(await heard(subscription, 6))

    created = {case: (CASE_CREATED, str(case)) for case in (first, second, third)}
    assert events == {
        channel_for(ann): [created[first]],
        channel_for(bo): [created[first], created[second]],
        channel_for(cy): [created[second]],
        channel_for(di): [created[second]],
        channel_for(ed): [created[third], (ESCALATION, str(third))],
        channel_for(liaison): [(ESCALATION, str(third))],
    }
    assert sum("inbox_entries" in statement for statement in sent) == 1  # the audience query
    assert calls.counts == {"publish_many": 1}
    assert await pending(database) == 0


async def test_a_round_of_ten_new_tips_costs_the_statements_and_broker_calls_of_one(
    database: Database, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock()
    relay = OutboxRelay(database, broker, clock)
    calls = BrokerCalls(broker, monkeypatch)
    cost: dict[int, tuple[int, int]] = {}
    for tips in (1, 10):
        await new_tips(database, clock, [4] * tips)
        calls.counts.clear()
        with statements(database) as sent:
            assert await relay.deliver_due() == tips
        cost[tips] = (len(sent), calls.total())
    assert cost[10] == cost[1]
    assert cost[1][1] == 1
    assert await pending(database) == 0


async def test_a_broker_failing_in_the_middle_of_a_round_puts_every_row_back_delivering_none(
    database: Database, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock()
    cases = await new_tips(database, clock, [2, 2, 2, 2])
    real_publish_many = broker.publish_many
    failures = [BrokerUnavailable("the connection dropped half-way through")]

    async def fails_half_way_once(messages: Sequence[tuple[str, bytes]]) -> None:
        if not failures:
            await real_publish_many(messages)
            return
        await real_publish_many(messages[: len(messages) // 2])
        raise failures.pop()

    monkeypatch.setattr(broker, "publish_many", fails_half_way_once)
    relay = OutboxRelay(database, broker, clock)
    async with database.transaction(read_only=True) as tx:
        teams = await tx.inbox.investigators_of_cases(cases)
    everyone = [person for team in teams.values() for person in team]

    async with broker.subscribe(*(channel_for(person) for person in everyone)) as subscription:
        with statements(database) as sent, pytest.raises(BrokerUnavailable):
            await relay.deliver_due()
        first_half = await heard(subscription, 4)
        put_back = await outbox_rows(database)
        assert [row.case_id for row in put_back] == cases
        assert all(row.delivered_at is None for row in put_back)
        assert {row.last_error for row in put_back} == {"broker_unavailable"}
        assert all(row.available_at > clock.now() for row in put_back)
        # One UPDATE claimed the rows and one put them all back.
        assert sum("UPDATE OUTBOX" in " ".join(s.upper().split()) for s in sent) == 2

        assert await relay.deliver_due() == 0  # backing off: not due yet
        clock.advance(5)
        assert await relay.deliver_due() == 4
        again = await heard(subscription, 8)
    assert await pending(database) == 0
    # At least once: the half that went out before the failure is heard twice.
    assert again[:4] == first_half
    assert sorted(json.loads(e)["case_id"] for m in again for e in events_in(m.data)) == sorted(
        str(case) for case in cases for _ in range(2)
    )
