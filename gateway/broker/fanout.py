"""In-process fan-out of published messages to subscriber queues.

The memory broker delivers with it directly; the Redis broker feeds it from its one
pub/sub connection, so a process holds one Redis subscription however many
WebSockets listen.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable

from gateway.broker.interface import Message, Subscription, SubscriptionOverflow


class QueueSubscription(Subscription):
    """A subscriber's bounded queue: it ends (with an error) rather than grow without limit."""

    def __init__(self, channels: Iterable[str], *, max_pending: int) -> None:
        self._channels = frozenset(channels)
        self._max_pending = max_pending
        self._pending: deque[Message] = deque()
        self._wakeup = asyncio.Event()
        self._ended = False
        self._error: BaseException | None = None

    @property
    def channels(self) -> frozenset[str]:
        return self._channels

    @property
    def ended(self) -> bool:
        return self._ended

    def deliver(self, message: Message) -> None:
        if self._ended:
            return
        if len(self._pending) >= self._max_pending:
            # Dropping silently would leave a gap nobody notices; ending the subscription
            # tells the subscriber to resync.
            self.end(
                SubscriptionOverflow(
                    f"subscriber fell {self._max_pending} messages behind and was dropped"
                )
            )
            return
        self._pending.append(message)
        self._wakeup.set()

    def end(self, error: BaseException | None = None) -> None:
        """Stop receiving; messages already queued are still handed out, then `error` (if any)."""
        if self._ended:
            return
        self._ended = True
        self._error = error
        self._wakeup.set()

    def discard(self) -> None:
        """End without handing out what is queued: the subscriber has left."""
        self._pending.clear()
        self.end()

    async def __anext__(self) -> Message:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()


class Fanout:
    """Which queue subscribes to which channel, and delivery to all of them."""

    def __init__(self) -> None:
        self._by_channel: dict[str, set[QueueSubscription]] = {}

    def channels(self) -> frozenset[str]:
        return frozenset(self._by_channel)

    def add(self, subscription: QueueSubscription) -> list[str]:
        """Register `subscription`; returns the channels nobody subscribed to before."""
        fresh = []
        for channel in subscription.channels:
            listeners = self._by_channel.setdefault(channel, set())
            if not listeners:
                fresh.append(channel)
            listeners.add(subscription)
        return fresh

    def remove(self, subscription: QueueSubscription) -> list[str]:
        """Unregister `subscription`; returns the channels nobody subscribes to any more."""
        vacated = []
        for channel in subscription.channels:
            listeners = self._by_channel.get(channel)
            if listeners is None or subscription not in listeners:
                continue
            listeners.discard(subscription)
            if not listeners:
                del self._by_channel[channel]
                vacated.append(channel)
        return vacated

    def deliver(self, channel: str, data: bytes) -> None:
        message = Message(channel=channel, data=data)
        for subscription in list(self._by_channel.get(channel, ())):
            subscription.deliver(message)

    def end_all(self, error: Callable[[], BaseException] | None = None) -> None:
        """End every subscription (each with a fresh `error()`, if given) and forget them all."""
        subscriptions = {sub for listeners in self._by_channel.values() for sub in listeners}
        self._by_channel.clear()
        for subscription in subscriptions:
            subscription.end(None if error is None else error())
