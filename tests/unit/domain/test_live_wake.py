"""A wake that arrives while the relay is busy with a round is not lost: the next round starts
at once instead of after the idle poll (an hour here, so only the wake can deliver)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable

from gateway.broker import Broker
from gateway.domain.clock import SystemClock
from gateway.domain.live import OutboxRelay, channel_for
from gateway.store import Database
from tests.unit.domain.test_live import enqueue_for

WAIT = 10.0


class WokenDuringItsFirstRound(OutboxRelay):
    """A relay whose first round ends with another row committed and a wake (as when a
    request commits while the relay is still publishing)."""

    def __init__(self, *args: object, meanwhile: Callable[[], Awaitable[None]]) -> None:
        super().__init__(*args, idle_poll_seconds=3600.0)  # type: ignore[arg-type]
        self._meanwhile: Callable[[], Awaitable[None]] | None = meanwhile

    async def deliver_due(self) -> int:
        delivered = await super().deliver_due()
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            await meanwhile()
        return delivered


async def test_a_wake_during_a_round_starts_the_next_round_at_once(
    database: Database, broker: Broker
) -> None:
    clock = SystemClock()
    listener = uuid.uuid4()
    await enqueue_for(database, listener, clock.now())
    relay: WokenDuringItsFirstRound

    async def commit_and_wake() -> None:
        await enqueue_for(database, listener, clock.now())
        relay.wake()

    relay = WokenDuringItsFirstRound(database, broker, clock, meanwhile=commit_and_wake)
    async with broker.subscribe(channel_for(listener)) as subscription:
        runner = asyncio.create_task(relay.run())
        try:
            heard = [await asyncio.wait_for(anext(subscription), WAIT) for _ in range(2)]
        finally:
            relay.stop()
            await asyncio.wait_for(runner, WAIT)
    assert [json.loads(message.data)["topic"] for message in heard] == ["case.updated"] * 2
