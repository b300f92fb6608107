"""The Broker interface: what the gateway keeps outside its database, in the domain's words.

Two implementations honour it (Redis for several processes, in-process memory for the
embedded single-process default) and both pass one contract test suite.
"""

from __future__ import annotations

import contextlib
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from gateway.logs import log_event

logger = logging.getLogger(__name__)


class BrokerError(Exception):
    """Base of every error the broker raises; no backend's own exception leaves the package."""


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached or did not answer in time.

    Callers decide per use whether to fail open or closed: a rate limit may let a
    request through, a single-use check must refuse it.
    """


class SubscriptionOverflow(BrokerError):
    """A subscriber fell too far behind and was dropped; it missed messages and must resync."""


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The answer of a rate limit: may this attempt go ahead, and if not, when."""

    allowed: bool
    remaining: int
    retry_after: float  # seconds until an attempt would be allowed; 0.0 when allowed
    # Which limit refused: its index in the checks given to `throttle_all` (0 for
    # `throttle`); None when allowed. An index, not a key, so it can be logged.
    refused_by: int | None = None

    @property
    def retry_after_header(self) -> int:
        """`retry_after` in the whole seconds of an HTTP `Retry-After` header (≥ 1 when refused)."""
        if self.allowed:
            return 0
        return max(1, math.ceil(self.retry_after))


@dataclass(frozen=True, slots=True)
class Session:
    """A live login session as the broker holds it."""

    owner_id: str
    data: Mapping[str, str]
    expires_in: float  # seconds until the absolute deadline, whatever the idle clock says


@dataclass(frozen=True, slots=True)
class Message:
    """One published message as a subscriber receives it."""

    channel: str
    data: bytes


@dataclass(frozen=True, slots=True)
class DueJob:
    """A timer that has come due and now belongs to the caller that claimed it."""

    job_id: str
    due_at: float  # the wall-clock time (seconds since the epoch) it was scheduled for
    payload: bytes


@dataclass(frozen=True, slots=True)
class Lease:
    """Proof of holding a lock: only the holder's token can extend or release it."""

    name: str
    token: str


class Subscription(ABC):
    """An async iterator of the messages published on some channels since subscribing.

    Iteration ends when the subscription is left or the broker closes; it raises
    `BrokerUnavailable` when the connection to the broker is lost and
    `SubscriptionOverflow` when the subscriber fell too far behind. In both cases
    messages were missed and the subscriber must resync from the database.
    """

    @property
    @abstractmethod
    def channels(self) -> frozenset[str]:
        """The channels this subscription receives."""

    def __aiter__(self) -> Subscription:
        return self

    @abstractmethod
    async def __anext__(self) -> Message:
        """The next message, waiting for one to arrive."""


class Broker(ABC):
    """Rate limits, single-use tokens, sessions, publish/subscribe, timers and locks.

    Durations are seconds (floats). Keys, channels, queues and lock names are the
    caller's own names; the implementation adds its namespace and prefix. Every
    operation raises `BrokerUnavailable` when the broker cannot be reached.
    """

    # ------------------------------------------------------------------ lifecycle

    @abstractmethod
    async def ping(self) -> None:
        """Return when the broker answers; raise `BrokerUnavailable` otherwise."""

    @abstractmethod
    async def close(self) -> None:
        """End every subscription and release connections; later calls raise `BrokerUnavailable`."""

    # ------------------------------------------------------------------ rate limits

    async def throttle(self, key: str, *, limit: int, window: float) -> RateDecision:
        """Count one attempt against at most `limit` attempts in any sliding `window`.

        Refused attempts are not counted, so someone hammering a key cannot extend the
        lock-out of the person it belongs to beyond one window. (`throttle_all` with one limit.)
        """
        return await self.throttle_all([(key, limit, window)])

    @abstractmethod
    async def throttle_all(self, checks: Sequence[tuple[str, int, float]]) -> RateDecision:
        """Count one attempt against several `(key, limit, window)` limits in one atomic step.

        Each allows at most `limit` attempts under `key` in any sliding `window`, as in
        `throttle`, and is checked every time (no short cut at the first refusal); the
        attempt is counted in every log only when all of them allow it, and when any
        refuses it is counted in none. Refused attempts never count, so hammering cannot
        extend a lock-out beyond one window, and an attempt one limit refuses does not
        use up the allowance of the others.

        A refusal carries the refusing limit's `retry_after` (the longest, if several
        refuse) and its index in `checks` as `refused_by`; an allowance's `remaining` is
        the fewest left under any limit. A bad key, limit or window, an empty `checks`
        and a key given twice are refused (`ValueError`, `TypeError`) before anything is touched.
        """

    @abstractmethod
    async def reset_throttle(self, key: str) -> None:
        """Forget every attempt counted for `key` (for example after a successful login)."""

    # ------------------------------------------------------------------ single-use values

    @abstractmethod
    async def put_token(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds, replacing any earlier value."""

    @abstractmethod
    async def take_token(self, key: str) -> bytes | None:
        """Atomically read and delete: of several concurrent takers exactly one gets the value."""

    @abstractmethod
    async def remember_once(self, key: str, *, ttl: float) -> bool:
        """True only the first time `key` is remembered within `ttl` (a spent proof of work)."""

    @abstractmethod
    async def throttle_all_then_remember_once(
        self,
        checks: Sequence[tuple[str, int, float]],
        *,
        key: str,
        ttl: float,
        counter: str,
        window: float,
    ) -> tuple[RateDecision, bool, int]:
        """`throttle_all(checks)`, then, only if every limit allows, `remember_once(key)` and
        `increment(counter)`, in one atomic step (one round trip): an anonymous request's
        rate limits and the proof of work it pays with (spending a proof is load too).

        Returns (the decision, first time?, the counter's new count); the counter counts
        every allowed call, first or not. When a limit refuses, nothing is remembered or
        counted: (the refusal, False, 0). Arguments are checked as those methods check
        them, before anything is touched.
        """

    @abstractmethod
    async def increment(self, key: str, *, window: float) -> int:
        """Count one more; a counter starts at zero and vanishes `window` after its first count."""

    # ------------------------------------------------------------------ sessions

    @abstractmethod
    async def create_session(
        self,
        session_id: str,
        *,
        owner_id: str,
        data: Mapping[str, str],
        idle_ttl: float,
        absolute_ttl: float,
    ) -> None:
        """Start a session that ends after `idle_ttl` without use or `absolute_ttl` after now.

        Raises `ValueError` if `session_id` is already in use: ids are never reused.
        """

    @abstractmethod
    async def get_session(self, session_id: str, *, touch: bool = True) -> Session | None:
        """The live session, or None if missing or expired by either clock.

        With `touch`, a hit restarts the idle clock, never past the absolute deadline.
        """

    @abstractmethod
    async def delete_session(self, session_id: str) -> bool:
        """End one session (logout); True if it existed."""

    @abstractmethod
    async def delete_owner_sessions(self, owner_id: str) -> int:
        """End every session of `owner_id` at once (revocation); returns how many ended."""

    # ------------------------------------------------------------------ publish / subscribe

    @abstractmethod
    async def publish(self, channel: str, data: bytes) -> None:
        """Send `data` to every current subscriber of `channel`, in every process."""

    @abstractmethod
    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publish each `(channel, data)` in order, as `publish` would, in one round trip.

        Every message is checked before any is sent; an empty sequence does nothing. It is
        not atomic: after `BrokerUnavailable` any of the messages may have gone out, so a
        caller treats all of them as unsent and its subscribers tolerate a second copy.
        """

    @abstractmethod
    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]:
        """Receive what is published on `channels` from entry until exit.

        On entry the subscription is active: anything published afterwards arrives.
        """

    # ------------------------------------------------------------------ timers

    @abstractmethod
    async def schedule(self, queue: str, job_id: str, *, due_at: float, payload: bytes) -> None:
        """Make `job_id` due at wall-clock time `due_at`; rescheduling replaces the earlier time."""

    @abstractmethod
    async def cancel(self, queue: str, job_id: str) -> bool:
        """Remove a scheduled job; True if it was there."""

    @abstractmethod
    async def claim_due(
        self,
        queue: str,
        *,
        now: float,
        limit: int = 100,
        redeliver_after: float | None = None,
    ) -> list[DueJob]:
        """Claim up to `limit` jobs due at `now`, earliest first; each goes to one caller only.

        Without `redeliver_after` a claimed job is removed (at most once). With it, the
        job is pushed `redeliver_after` seconds past `now` instead, so it comes due again
        unless the claimer cancels or reschedules it when done (at least once).
        """

    # ------------------------------------------------------------------ locks

    @abstractmethod
    async def acquire_lock(self, name: str, *, ttl: float) -> Lease | None:
        """Take the lock if free, for `ttl` seconds; None if someone else holds it."""

    @abstractmethod
    async def extend_lock(self, lease: Lease, *, ttl: float) -> bool:
        """Push the lock's expiry to `ttl` seconds from now; False if the lease was lost."""

    @abstractmethod
    async def release_lock(self, lease: Lease) -> bool:
        """Release the lock if this lease still holds it; False otherwise (nothing changes)."""

    @contextlib.asynccontextmanager
    async def lock(self, name: str, *, ttl: float) -> AsyncIterator[Lease | None]:
        """Hold `name` for the block if it is free (yields None if not), releasing it afterwards."""
        lease = await self.acquire_lock(name, ttl=ttl)
        try:
            yield lease
        finally:
            if lease is not None:
                try:
                    await self.release_lock(lease)
                except BrokerUnavailable:
                    # The lease expires on its own after its ttl; raising here would hide
                    # whatever the block itself raised.
                    log_event(logger, "broker_lock_release_failed", logging.WARNING, lock=name)

    # ------------------------------------------------------------------ retention

    @abstractmethod
    async def delete_prefix(self, key_prefix: str) -> int:
        """Delete rate limits, tokens, remembered keys, counters and locks whose key starts so.

        Retention uses it with a case's own prefix (for example `case:<id>:`); returns how
        many were deleted. An empty prefix is refused: it would wipe the whole broker.
        """
