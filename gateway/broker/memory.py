"""The in-process broker for the embedded single-process default.

Everything lives in this process's memory and ends with it. Each operation runs
without awaiting, so it is atomic with respect to other tasks on the event loop; the
broker belongs to one event loop and is not thread-safe.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from gateway.broker.fanout import Fanout, QueueSubscription
from gateway.broker.interface import (
    Broker,
    BrokerUnavailable,
    DueJob,
    Lease,
    RateDecision,
    Session,
    Subscription,
)
from gateway.broker.keys import (
    check_instant,
    check_limit,
    check_message,
    check_name,
    check_rate_limits,
    check_remember_counting,
    check_seconds,
    check_session_data,
    session_digest,
)

_T = TypeVar("_T")


@dataclass(slots=True)
class _Entry(Generic[_T]):
    value: _T
    expires_at: float


class _ExpiringMap(Generic[_T]):
    """A dict whose entries vanish at their expiry time on the injected clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry[_T]] = {}

    def entry(self, key: str) -> _Entry[_T] | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found.expires_at <= self._clock():
            del self._entries[key]
            return None
        return found

    def get(self, key: str) -> _T | None:
        found = self.entry(key)
        return None if found is None else found.value

    def set(self, key: str, value: _T, *, ttl: float) -> None:
        self._entries[key] = _Entry(value, self._clock() + ttl)

    def pop(self, key: str) -> _T | None:
        found = self.entry(key)
        if found is None:
            return None
        del self._entries[key]
        return found.value

    def delete_prefix(self, key_prefix: str) -> int:
        doomed = [key for key in self._entries if key.startswith(key_prefix)]
        live = sum(1 for key in doomed if self.entry(key) is not None)
        for key in doomed:
            self._entries.pop(key, None)
        return live

    def sweep(self) -> None:
        now = self._clock()
        for key in [key for key, found in self._entries.items() if found.expires_at <= now]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class _StoredSession:
    owner_id: str
    data: Mapping[str, str]
    deadline: float
    idle_ttl: float


class MemoryBroker(Broker):
    """The Broker for one process; `clock` is a monotonic clock in seconds that tests may drive."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        subscriber_max_pending: int = 1000,
        sweep_interval: float = 60.0,
    ) -> None:
        self._clock = clock
        self._max_pending = check_limit("subscriber_max_pending", subscriber_max_pending)
        self._sweep_interval = check_seconds("sweep_interval", sweep_interval)
        self._last_sweep = clock()
        self._closed = False
        self._rates: _ExpiringMap[deque[float]] = _ExpiringMap(clock)
        self._tokens: _ExpiringMap[bytes] = _ExpiringMap(clock)
        self._remembered: _ExpiringMap[bool] = _ExpiringMap(clock)
        self._counters: _ExpiringMap[int] = _ExpiringMap(clock)
        self._locks: _ExpiringMap[str] = _ExpiringMap(clock)
        self._sessions: _ExpiringMap[_StoredSession] = _ExpiringMap(clock)
        self._owner_sessions: dict[str, set[str]] = {}
        self._timers: dict[str, dict[str, tuple[float, bytes]]] = {}
        self._fanout = Fanout()

    def _expiring(self) -> tuple[_ExpiringMap[Any], ...]:
        return (
            self._rates,
            self._tokens,
            self._remembered,
            self._counters,
            self._locks,
            self._sessions,
        )

    def entry_count(self) -> int:
        """How many entries are held, expired ones not yet swept included (memory use)."""
        return (
            sum(len(each) for each in self._expiring())
            + sum(len(digests) for digests in self._owner_sessions.values())
            + sum(len(jobs) for jobs in self._timers.values())
        )

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerUnavailable("the broker is closed")
        now = self._clock()
        # Expired entries are dropped lazily on access; the periodic sweep bounds the
        # memory held by keys nobody asks about again (one-off rate-limit keys).
        if now - self._last_sweep >= self._sweep_interval:
            self._last_sweep = now
            self._sweep()

    def _sweep(self) -> None:
        for expiring in self._expiring():
            expiring.sweep()
        for owner_id in list(self._owner_sessions):
            self._prune_owner(owner_id)

    def _prune_owner(self, owner_id: str) -> None:
        digests = self._owner_sessions.get(owner_id, set())
        digests.difference_update(
            [digest for digest in digests if self._sessions.entry(digest) is None]
        )
        if not digests:
            self._owner_sessions.pop(owner_id, None)

    # ------------------------------------------------------------------ lifecycle

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._fanout.end_all()
        for expiring in self._expiring():
            expiring.clear()
        self._owner_sessions.clear()
        self._timers.clear()

    # ------------------------------------------------------------------ rate limits

    async def throttle_all(self, checks: Sequence[tuple[str, int, float]]) -> RateDecision:
        checked = check_rate_limits(checks)
        self._check_open()
        return self._throttle(checked)

    def _throttle(self, checked: Sequence[tuple[str, int, float]]) -> RateDecision:
        now = self._clock()
        logs = [self._recent_attempts(key, window, now) for key, _, window in checked]
        refused_by, retry_after = None, 0.0
        for index, ((_, limit, window), attempts) in enumerate(zip(checked, logs, strict=True)):
            if len(attempts) >= limit:
                wait = attempts[0] + window - now
                if refused_by is None or wait > retry_after:
                    refused_by, retry_after = index, wait
        if refused_by is not None:
            return RateDecision(
                allowed=False, remaining=0, retry_after=retry_after, refused_by=refused_by
            )
        for (key, _, window), attempts in zip(checked, logs, strict=True):
            attempts.append(now)
            self._rates.set(key, attempts, ttl=window)
        remaining = min(
            limit - len(attempts) for (_, limit, _), attempts in zip(checked, logs, strict=True)
        )
        return RateDecision(allowed=True, remaining=remaining, retry_after=0.0)

    def _recent_attempts(self, key: str, window: float, now: float) -> deque[float]:
        """The attempts logged under `key` within `window` before `now`, older ones dropped."""
        found = self._rates.get(key)
        attempts: deque[float] = found if found is not None else deque()
        while attempts and attempts[0] <= now - window:
            attempts.popleft()
        return attempts

    async def reset_throttle(self, key: str) -> None:
        check_name("key", key)
        self._check_open()
        self._rates.pop(key)

    # ------------------------------------------------------------------ single-use values

    async def put_token(self, key: str, value: bytes, *, ttl: float) -> None:
        check_name("key", key)
        check_seconds("ttl", ttl)
        if not isinstance(value, bytes):
            raise TypeError("a token value must be bytes")
        self._check_open()
        self._tokens.set(key, value, ttl=ttl)

    async def take_token(self, key: str) -> bytes | None:
        check_name("key", key)
        self._check_open()
        return self._tokens.pop(key)

    async def remember_once(self, key: str, *, ttl: float) -> bool:
        check_name("key", key)
        check_seconds("ttl", ttl)
        self._check_open()
        return self._remember(key, ttl)

    def _remember(self, key: str, ttl: float) -> bool:
        if self._remembered.get(key) is not None:
            return False
        self._remembered.set(key, True, ttl=ttl)
        return True

    async def throttle_all_then_remember_once(
        self,
        checks: Sequence[tuple[str, int, float]],
        *,
        key: str,
        ttl: float,
        counter: str,
        window: float,
    ) -> tuple[RateDecision, bool, int]:
        checked = check_rate_limits(checks)
        check_remember_counting(key, ttl, counter, window)
        self._check_open()
        # No await in between: atomic on the event loop, as the Redis script is.
        decision = self._throttle(checked)
        if not decision.allowed:
            return decision, False, 0
        return decision, self._remember(key, ttl), self._count(counter, window)

    async def increment(self, key: str, *, window: float) -> int:
        check_name("key", key)
        check_seconds("window", window)
        self._check_open()
        return self._count(key, window)

    def _count(self, key: str, window: float) -> int:
        found = self._counters.entry(key)
        if found is None:
            self._counters.set(key, 1, ttl=window)
            return 1
        found.value += 1
        return found.value

    # ------------------------------------------------------------------ sessions

    async def create_session(
        self,
        session_id: str,
        *,
        owner_id: str,
        data: Mapping[str, str],
        idle_ttl: float,
        absolute_ttl: float,
    ) -> None:
        digest = session_digest(session_id)
        check_name("owner_id", owner_id)
        copied = check_session_data(data)
        check_seconds("idle_ttl", idle_ttl)
        check_seconds("absolute_ttl", absolute_ttl)
        self._check_open()
        if self._sessions.entry(digest) is not None:
            raise ValueError("session id already in use")
        self._prune_owner(owner_id)
        stored = _StoredSession(
            owner_id=owner_id,
            data=MappingProxyType(copied),
            deadline=self._clock() + absolute_ttl,
            idle_ttl=idle_ttl,
        )
        self._sessions.set(digest, stored, ttl=min(idle_ttl, absolute_ttl))
        self._owner_sessions.setdefault(owner_id, set()).add(digest)

    async def get_session(self, session_id: str, *, touch: bool = True) -> Session | None:
        digest = session_digest(session_id)
        self._check_open()
        found = self._sessions.entry(digest)
        if found is None:
            return None
        now = self._clock()
        stored = found.value
        if stored.deadline <= now:
            self._sessions.pop(digest)
            return None
        if touch:
            found.expires_at = min(now + stored.idle_ttl, stored.deadline)
        return Session(owner_id=stored.owner_id, data=stored.data, expires_in=stored.deadline - now)

    async def delete_session(self, session_id: str) -> bool:
        digest = session_digest(session_id)
        self._check_open()
        stored = self._sessions.pop(digest)
        if stored is None:
            return False
        self._owner_sessions.get(stored.owner_id, set()).discard(digest)
        self._prune_owner(stored.owner_id)
        return True

    async def delete_owner_sessions(self, owner_id: str) -> int:
        check_name("owner_id", owner_id)
        self._check_open()
        digests = self._owner_sessions.pop(owner_id, set())
        return sum(1 for digest in digests if self._sessions.pop(digest) is not None)

    # ------------------------------------------------------------------ publish / subscribe

    async def publish(self, channel: str, data: bytes) -> None:
        check_message(channel, data)
        self._check_open()
        self._fanout.deliver(channel, data)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        for channel, data in messages:
            check_message(channel, data)
        if not messages:
            return
        self._check_open()
        for channel, data in messages:
            self._fanout.deliver(channel, data)

    def subscribe(self, *channels: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._subscription(channels)

    @contextlib.asynccontextmanager
    async def _subscription(self, channels: Iterable[str]) -> AsyncIterator[Subscription]:
        names = [check_name("channel", channel) for channel in channels]
        if not names:
            raise ValueError("subscribe to at least one channel")
        self._check_open()
        subscription = QueueSubscription(names, max_pending=self._max_pending)
        self._fanout.add(subscription)
        try:
            yield subscription
        finally:
            self._fanout.remove(subscription)
            subscription.discard()

    # ------------------------------------------------------------------ timers

    async def schedule(self, queue: str, job_id: str, *, due_at: float, payload: bytes) -> None:
        check_name("queue", queue)
        check_name("job_id", job_id)
        check_instant("due_at", due_at)
        if not isinstance(payload, bytes):
            raise TypeError("a job payload must be bytes")
        self._check_open()
        self._timers.setdefault(queue, {})[job_id] = (float(due_at), payload)

    async def cancel(self, queue: str, job_id: str) -> bool:
        check_name("queue", queue)
        check_name("job_id", job_id)
        self._check_open()
        jobs = self._timers.get(queue, {})
        removed = jobs.pop(job_id, None) is not None
        if not jobs:
            self._timers.pop(queue, None)
        return removed

    async def claim_due(
        self,
        queue: str,
        *,
        now: float,
        limit: int = 100,
        redeliver_after: float | None = None,
    ) -> list[DueJob]:
        check_name("queue", queue)
        check_instant("now", now)
        check_limit("limit", limit)
        if redeliver_after is not None:
            check_seconds("redeliver_after", redeliver_after)
        self._check_open()
        jobs = self._timers.get(queue, {})
        due = sorted((due_at, job_id) for job_id, (due_at, _) in jobs.items() if due_at <= now)[
            :limit
        ]
        claimed = []
        for due_at, job_id in due:
            payload = jobs[job_id][1]
            if redeliver_after is None:
                del jobs[job_id]
            else:
                jobs[job_id] = (now + redeliver_after, payload)
            claimed.append(DueJob(job_id=job_id, due_at=due_at, payload=payload))
        if not jobs:
            self._timers.pop(queue, None)
        return claimed

    # ------------------------------------------------------------------ locks

    async def acquire_lock(self, name: str, *, ttl: float) -> Lease | None:
        check_name("lock name", name)
        check_seconds("ttl", ttl)
        self._check_open()
        if self._locks.get(name) is not None:
            return None
        token = secrets.token_hex(16)
        self._locks.set(name, token, ttl=ttl)
        return Lease(name=name, token=token)

    async def extend_lock(self, lease: Lease, *, ttl: float) -> bool:
        check_seconds("ttl", ttl)
        self._check_open()
        if self._locks.get(lease.name) != lease.token:
            return False
        self._locks.set(lease.name, lease.token, ttl=ttl)
        return True

    async def release_lock(self, lease: Lease) -> bool:
        self._check_open()
        # Compare-and-delete: a holder whose lease expired must not free the next holder's lock.
        if self._locks.get(lease.name) != lease.token:
            return False
        self._locks.pop(lease.name)
        return True

    # ------------------------------------------------------------------ retention

    async def delete_prefix(self, key_prefix: str) -> int:
        check_name("key_prefix", key_prefix)
        self._check_open()
        return sum(
            expiring.delete_prefix(key_prefix)
            for expiring in (
                self._rates,
                self._tokens,
                self._remembered,
                self._counters,
                self._locks,
            )
        )
