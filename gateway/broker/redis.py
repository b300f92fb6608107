"""The Redis broker: the Broker interface for several gateway processes sharing one Redis.

Every key and channel carries the configured prefix. Compound operations are Lua
scripts (gateway/broker/scripts.py), so they are atomic across processes. Every
connection failure or timeout surfaces as `BrokerUnavailable`, quickly: sockets carry
explicit timeouts and commands are not retried behind the caller's back, because a
retried `take_token` or `claim_due` whose first reply was lost would consume twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from types import MappingProxyType
from typing import Any, Final

import redis.asyncio
import redis.exceptions
from redis.asyncio.client import PubSub
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

from gateway.broker import scripts
from gateway.broker.fanout import Fanout, QueueSubscription
from gateway.broker.interface import (
    Broker,
    BrokerError,
    BrokerUnavailable,
    DueJob,
    Lease,
    RateDecision,
    Session,
    Subscription,
)
from gateway.broker.keys import (
    PURGEABLE,
    Namespace,
    check_instant,
    check_limit,
    check_message,
    check_name,
    check_rate_limits,
    check_remember_counting,
    check_seconds,
    check_session_data,
    milliseconds,
    session_digest,
)
from gateway.broker.pipelining import ScriptPipeline
from gateway.logs import log_event

logger = logging.getLogger(__name__)

# Failures that mean "Redis cannot serve us right now", as opposed to a bug in a command.
# ReadOnly and MasterDown happen during a Sentinel failover; OutOfMemory when Redis is
# full and refuses writes.
_UNAVAILABLE: Final = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.OutOfMemoryError,
    OSError,
    TimeoutError,
)

_SCAN_BATCH: Final = 500


@contextlib.contextmanager
def _translated_errors() -> Iterator[None]:
    """Turn redis-py's exceptions into ours, keeping the original as the cause for debugging."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise BrokerUnavailable(f"Redis is unavailable ({type(exc).__name__})") from exc
    except redis.exceptions.RedisError as exc:
        raise BrokerError(f"Redis refused a command ({type(exc).__name__})") from exc


def _glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so a prefix matches only itself in SCAN MATCH."""
    return "".join("\\" + char if char in "*?[]\\^" else char for char in text)


def check_key_prefix(key_prefix: str) -> str:
    """A broker prefix must be non-empty: without one, two gateways on a Redis would share keys."""
    check_name("key_prefix", key_prefix)
    return key_prefix


class RedisBroker(Broker):
    """The Broker over a redis-py asyncio client; build it with `RedisBroker.from_url`."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        key_prefix: str,
        reply_timeout: float = 2.0,
        subscriber_max_pending: int = 1000,
        pubsub_keepalive: float = 15.0,
    ) -> None:
        self._client = client
        self._prefix = check_key_prefix(key_prefix)
        self._closed = False
        self._scripts = ScriptPipeline(
            client, reply_timeout=check_seconds("reply_timeout", reply_timeout)
        )
        self._throttle_all = client.register_script(scripts.THROTTLE_ALL)
        self._increment = client.register_script(scripts.INCREMENT)
        self._throttle_then_remember = client.register_script(
            scripts.THROTTLE_ALL_THEN_REMEMBER_ONCE_COUNTING
        )
        self._create_session = client.register_script(scripts.CREATE_SESSION)
        self._get_session = client.register_script(scripts.GET_SESSION)
        self._delete_session = client.register_script(scripts.DELETE_SESSION)
        self._delete_owner_sessions = client.register_script(scripts.DELETE_OWNER_SESSIONS)
        self._schedule = client.register_script(scripts.SCHEDULE)
        self._cancel = client.register_script(scripts.CANCEL)
        self._claim_due = client.register_script(scripts.CLAIM_DUE)
        self._release_lock = client.register_script(scripts.RELEASE_LOCK)
        self._extend_lock = client.register_script(scripts.EXTEND_LOCK)
        self._line = _PubSubLine(
            client,
            channel_prefix=self._key(Namespace.CHANNEL, ""),
            reply_timeout=check_seconds("reply_timeout", reply_timeout),
            keepalive=check_seconds("pubsub_keepalive", pubsub_keepalive),
            max_pending=check_limit("subscriber_max_pending", subscriber_max_pending),
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        key_prefix: str,
        socket_timeout: float = 2.0,
        connect_timeout: float = 2.0,
        max_connections: int = 64,
        subscriber_max_pending: int = 1000,
        pubsub_keepalive: float = 15.0,
        client_name: str | None = None,
    ) -> RedisBroker:
        """Connect lazily to the Redis at `url` (redis://, rediss:// or unix://).

        `socket_timeout` bounds every reply and the wait for a free pooled connection;
        `connect_timeout` bounds opening a connection. Nothing connects until first use.
        `client_name` names the connections in Redis's CLIENT LIST, for operators.
        """
        check_seconds("socket_timeout", socket_timeout)
        check_seconds("connect_timeout", connect_timeout)
        check_limit("max_connections", max_connections)
        # A bounded, blocking pool: a flood of requests waits for a connection (up to
        # the socket timeout) instead of opening thousands against Redis's maxclients.
        # TCP keepalive lets the kernel notice a peer that vanished; unix sockets have none.
        tcp_only = {} if url.startswith("unix:") else {"socket_keepalive": True}
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            client_name=client_name,
            # Maintenance notifications ("auto" by default) relax socket timeouts to 10 s
            # during a server's maintenance and skip the pool's check for connections
            # the server closed; we want fast failure and that check.
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
            **tcp_only,
        )
        return cls(
            redis.asyncio.Redis.from_pool(pool),
            key_prefix=key_prefix,
            reply_timeout=socket_timeout,
            subscriber_max_pending=subscriber_max_pending,
            pubsub_keepalive=pubsub_keepalive,
        )

    @property
    def key_prefix(self) -> str:
        return self._prefix

    def _key(self, namespace: Namespace, name: str) -> str:
        return f"{self._prefix}{namespace}:{name}"

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerUnavailable("the broker is closed")

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        self._check_open()
        with _translated_errors():
            return await self._scripts.run(script, keys, args)

    async def _call(self, command: Callable[[], Awaitable[Any]]) -> Any:
        self._check_open()
        with _translated_errors():
            return await command()

    # ------------------------------------------------------------------ lifecycle

    async def ping(self) -> None:
        await self._call(self._client.ping)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._scripts.close()
        await self._line.close()
        with contextlib.suppress(*_UNAVAILABLE, redis.exceptions.RedisError):
            await self._client.aclose()

    # ------------------------------------------------------------------ rate limits

    async def throttle_all(self, checks: Sequence[tuple[str, int, float]]) -> RateDecision:
        checked = check_rate_limits(checks)
        limits = [part for _, limit, window in checked for part in (limit, milliseconds(window))]
        allowed, remaining, retry_ms, refused = await self._run(
            self._throttle_all,
            [self._key(Namespace.RATE, key) for key, _, _ in checked],
            [secrets.token_hex(8), *limits],
        )
        return _rate_decision(allowed, remaining, retry_ms, refused)

    async def reset_throttle(self, key: str) -> None:
        check_name("key", key)
        await self._call(lambda: self._client.delete(self._key(Namespace.RATE, key)))

    # ------------------------------------------------------------------ single-use values

    async def put_token(self, key: str, value: bytes, *, ttl: float) -> None:
        check_name("key", key)
        check_seconds("ttl", ttl)
        if not isinstance(value, bytes):
            raise TypeError("a token value must be bytes")
        await self._call(
            lambda: self._client.set(self._key(Namespace.TOKEN, key), value, px=milliseconds(ttl))
        )

    async def take_token(self, key: str) -> bytes | None:
        check_name("key", key)
        value = await self._call(lambda: self._client.getdel(self._key(Namespace.TOKEN, key)))
        return None if value is None else bytes(value)

    async def remember_once(self, key: str, *, ttl: float) -> bool:
        check_name("key", key)
        check_seconds("ttl", ttl)
        stored = await self._call(
            lambda: self._client.set(
                self._key(Namespace.ONCE, key), b"1", nx=True, px=milliseconds(ttl)
            )
        )
        return bool(stored)

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
        limits = [part for _, limit, span in checked for part in (limit, milliseconds(span))]
        allowed, remaining, retry_ms, refused, first, count = await self._run(
            self._throttle_then_remember,
            [
                *(self._key(Namespace.RATE, limit_key) for limit_key, _, _ in checked),
                self._key(Namespace.ONCE, key),
                self._key(Namespace.COUNTER, counter),
            ],
            [secrets.token_hex(8), *limits, milliseconds(ttl), milliseconds(window)],
        )
        return _rate_decision(allowed, remaining, retry_ms, refused), bool(first), int(count)

    async def increment(self, key: str, *, window: float) -> int:
        check_name("key", key)
        check_seconds("window", window)
        count = await self._run(
            self._increment, [self._key(Namespace.COUNTER, key)], [milliseconds(window)]
        )
        return int(count)

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
        pairs = [part for name, value in copied.items() for part in (name, value)]
        created = await self._run(
            self._create_session,
            [self._key(Namespace.SESSION, digest), self._key(Namespace.OWNER_SESSIONS, owner_id)],
            [
                owner_id,
                milliseconds(idle_ttl),
                milliseconds(absolute_ttl),
                digest,
                self._key(Namespace.SESSION, ""),
                *pairs,
            ],
        )
        if not created:
            raise ValueError("session id already in use")

    async def get_session(self, session_id: str, *, touch: bool = True) -> Session | None:
        digest = session_digest(session_id)
        reply = await self._run(
            self._get_session, [self._key(Namespace.SESSION, digest)], ["1" if touch else "0"]
        )
        if not reply:
            return None
        fields = {
            bytes(reply[i]).decode(): bytes(reply[i + 1]).decode() for i in range(0, len(reply), 2)
        }
        data = {
            name.removeprefix("data:"): value
            for name, value in fields.items()
            if name.startswith("data:")
        }
        return Session(
            owner_id=fields["owner"],
            data=MappingProxyType(data),
            expires_in=int(fields["remaining"]) / 1000,
        )

    async def delete_session(self, session_id: str) -> bool:
        digest = session_digest(session_id)
        deleted = await self._run(
            self._delete_session,
            [self._key(Namespace.SESSION, digest)],
            [self._key(Namespace.OWNER_SESSIONS, ""), digest],
        )
        return bool(deleted)

    async def delete_owner_sessions(self, owner_id: str) -> int:
        check_name("owner_id", owner_id)
        ended = await self._run(
            self._delete_owner_sessions,
            [self._key(Namespace.OWNER_SESSIONS, owner_id)],
            [self._key(Namespace.SESSION, "")],
        )
        return int(ended)

    # ------------------------------------------------------------------ publish / subscribe

    async def publish(self, channel: str, data: bytes) -> None:
        check_message(channel, data)
        await self._call(lambda: self._client.publish(self._key(Namespace.CHANNEL, channel), data))

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        for channel, data in messages:
            check_message(channel, data)
        if not messages:
            return
        # Without MULTI/EXEC: they would only add two commands, since subscribers see each
        # message as it is published either way; one round trip is the point.
        pipeline = self._client.pipeline(transaction=False)
        for channel, data in messages:
            pipeline.publish(self._key(Namespace.CHANNEL, channel), data)
        await self._call(pipeline.execute)

    def subscribe(self, *channels: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._subscription(channels)

    @contextlib.asynccontextmanager
    async def _subscription(self, channels: Iterable[str]) -> AsyncIterator[Subscription]:
        names = [check_name("channel", channel) for channel in channels]
        if not names:
            raise ValueError("subscribe to at least one channel")
        self._check_open()
        subscription = await self._line.join(names)
        try:
            yield subscription
        finally:
            await self._line.leave(subscription)

    # ------------------------------------------------------------------ timers

    def _timer_keys(self, queue: str) -> list[str]:
        check_name("queue", queue)
        return [self._key(Namespace.TIMERS, queue), self._key(Namespace.TIMER_PAYLOADS, queue)]

    async def schedule(self, queue: str, job_id: str, *, due_at: float, payload: bytes) -> None:
        check_name("job_id", job_id)
        check_instant("due_at", due_at)
        if not isinstance(payload, bytes):
            raise TypeError("a job payload must be bytes")
        await self._run(
            self._schedule, self._timer_keys(queue), [repr(float(due_at)), job_id, payload]
        )

    async def cancel(self, queue: str, job_id: str) -> bool:
        check_name("job_id", job_id)
        removed = await self._run(self._cancel, self._timer_keys(queue), [job_id])
        return bool(removed)

    async def claim_due(
        self,
        queue: str,
        *,
        now: float,
        limit: int = 100,
        redeliver_after: float | None = None,
    ) -> list[DueJob]:
        check_instant("now", now)
        check_limit("limit", limit)
        redeliver_at = ""
        if redeliver_after is not None:
            redeliver_at = repr(float(now) + check_seconds("redeliver_after", redeliver_after))
        reply = await self._run(
            self._claim_due, self._timer_keys(queue), [repr(float(now)), limit, redeliver_at]
        )
        return [
            DueJob(
                job_id=bytes(reply[i]).decode(),
                due_at=float(reply[i + 1]),
                payload=bytes(reply[i + 2]),
            )
            for i in range(0, len(reply), 3)
        ]

    # ------------------------------------------------------------------ locks

    async def acquire_lock(self, name: str, *, ttl: float) -> Lease | None:
        check_name("lock name", name)
        check_seconds("ttl", ttl)
        token = secrets.token_hex(16)
        taken = await self._call(
            lambda: self._client.set(
                self._key(Namespace.LOCK, name), token, nx=True, px=milliseconds(ttl)
            )
        )
        return Lease(name=name, token=token) if taken else None

    async def extend_lock(self, lease: Lease, *, ttl: float) -> bool:
        check_seconds("ttl", ttl)
        extended = await self._run(
            self._extend_lock,
            [self._key(Namespace.LOCK, lease.name)],
            [lease.token, milliseconds(ttl)],
        )
        return bool(extended)

    async def release_lock(self, lease: Lease) -> bool:
        # Compare-and-delete: a holder whose lease expired must not free the next holder's lock.
        released = await self._run(
            self._release_lock, [self._key(Namespace.LOCK, lease.name)], [lease.token]
        )
        return bool(released)

    # ------------------------------------------------------------------ retention

    async def delete_prefix(self, key_prefix: str) -> int:
        check_name("key_prefix", key_prefix)
        self._check_open()
        wanted = tuple(self._key(namespace, key_prefix) for namespace in PURGEABLE)
        # One pass over our own keys; the glob narrows it on the server, the exact
        # startswith check below is what decides.
        pattern = _glob_escape(self._prefix) + "*:" + _glob_escape(key_prefix) + "*"
        deleted = 0
        with _translated_errors():
            batch: list[bytes] = []
            async for raw in self._client.scan_iter(match=pattern, count=_SCAN_BATCH):
                if bytes(raw).decode(errors="replace").startswith(wanted):
                    batch.append(bytes(raw))
                if len(batch) >= _SCAN_BATCH:
                    deleted += int(await self._client.unlink(*batch))
                    batch.clear()
            if batch:
                deleted += int(await self._client.unlink(*batch))
        return deleted


class _PubSubLine:
    """The process's one pub/sub connection to Redis, shared by all its subscribers.

    A subscription is confirmed by Redis before `join` returns, so nothing published
    afterwards is missed. If the connection breaks or stops answering pings, every
    subscriber gets `BrokerUnavailable` rather than a silent gap, and the next `join`
    opens a fresh connection.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        channel_prefix: str,
        reply_timeout: float,
        keepalive: float,
        max_pending: int,
    ) -> None:
        self._client = client
        self._channel_prefix = channel_prefix
        self._reply_timeout = reply_timeout
        self._keepalive = keepalive
        self._max_pending = max_pending
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._fanout = Fanout()
        # Serialises SUBSCRIBE/UNSUBSCRIBE bookkeeping, so at most one join awaits its
        # confirmation at a time; delivery never waits for the lock.
        self._lock = asyncio.Lock()
        self._unconfirmed: set[bytes] = set()
        self._confirmed: asyncio.Future[None] | None = None

    def _wire(self, channel: str) -> bytes:
        return (self._channel_prefix + channel).encode()

    async def join(self, channels: list[str]) -> QueueSubscription:
        subscription = QueueSubscription(channels, max_pending=self._max_pending)
        async with self._lock:
            fresh = self._fanout.add(subscription)
            if not fresh:
                return subscription
            wires = [self._wire(channel) for channel in fresh]
            confirmed = self._confirmed = asyncio.get_running_loop().create_future()
            self._unconfirmed = set(wires)
            try:
                pubsub = await self._connected()
                with _translated_errors():
                    await pubsub.subscribe(*wires)
                async with asyncio.timeout(self._reply_timeout):
                    await confirmed
            except BaseException as exc:
                self._fanout.remove(subscription)
                subscription.discard()
                self._confirmed = None
                if not confirmed.cancel() and not confirmed.cancelled():
                    confirmed.exception()  # retrieved: it is `exc` or superseded by it
                if not isinstance(exc, asyncio.CancelledError):
                    await self._break(exc)
                if isinstance(exc, TimeoutError):
                    raise BrokerUnavailable("Redis did not confirm a subscription in time") from exc
                raise
            finally:
                self._confirmed = None
                self._unconfirmed = set()
        return subscription

    async def leave(self, subscription: QueueSubscription) -> None:
        # Bookkeeping first, without awaiting, so a cancelled leaver still stops receiving.
        vacated = self._fanout.remove(subscription)
        subscription.discard()
        if not vacated:
            return
        async with self._lock:
            pubsub = self._pubsub
            still_vacant = [c for c in vacated if c not in self._fanout.channels()]
            if pubsub is None or not still_vacant:
                return
            try:
                with _translated_errors():
                    await pubsub.unsubscribe(*(self._wire(c) for c in still_vacant))
            except BrokerError as exc:
                # Leaving must not fail; a broken line is torn down for the others.
                await self._break(exc)

    async def _connected(self) -> PubSub:
        if self._pubsub is None:
            pubsub = self._client.pubsub()
            try:
                with _translated_errors():
                    await pubsub.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            except BrokerError:
                with contextlib.suppress(*_UNAVAILABLE, redis.exceptions.RedisError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                raise
            self._pubsub = pubsub
            self._reader = asyncio.create_task(self._read(pubsub), name="broker-pubsub-reader")
        return self._pubsub

    async def _read(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        ping_sent: float | None = None
        poll = min(self._keepalive, self._reply_timeout)
        try:
            while True:
                with _translated_errors():
                    message = await pubsub.get_message(timeout=poll)
                now = loop.time()
                if message is not None:
                    last_heard, ping_sent = now, None
                    self._dispatch(message)
                elif ping_sent is not None:
                    if now - ping_sent >= self._reply_timeout:
                        raise BrokerUnavailable("Redis stopped answering on the pub/sub connection")
                elif now - last_heard >= self._keepalive:
                    # A silently dropped connection never errors on read; an unanswered
                    # ping is how we notice.
                    with _translated_errors():
                        await pubsub.ping()
                    ping_sent = now
        except BrokerError as exc:
            log_event(logger, "broker_pubsub_lost", logging.WARNING, error=type(exc).__name__)
            await self._break(exc, pubsub)
        except Exception as exc:
            # A bug here must not leave subscribers waiting forever on a dead reader.
            logger.exception("broker_pubsub_reader_failed")
            await self._break(exc, pubsub)

    def _dispatch(self, message: Mapping[str, Any]) -> None:
        kind = message.get("type")
        channel = message.get("channel")
        if not isinstance(channel, bytes):
            return
        if kind == "message":
            name = channel.decode(errors="replace").removeprefix(self._channel_prefix)
            self._fanout.deliver(name, bytes(message["data"]))
        elif kind == "subscribe":
            self._unconfirmed.discard(channel)
            if not self._unconfirmed and self._confirmed is not None and not self._confirmed.done():
                self._confirmed.set_result(None)

    async def _break(self, cause: BaseException, pubsub: PubSub | None = None) -> None:
        """Tear down the connection and end every subscription with `BrokerUnavailable`."""
        if pubsub is not None and pubsub is not self._pubsub:
            return
        current, self._pubsub = self._pubsub, None
        reader, self._reader = self._reader, None

        def lost() -> BaseException:
            error = BrokerUnavailable(
                "lost the pub/sub connection to Redis; messages may be missed"
            )
            error.__cause__ = cause
            return error

        if self._confirmed is not None and not self._confirmed.done():
            self._confirmed.set_exception(lost())
        self._fanout.end_all(lost)
        await self._shut(current, reader)

    async def _shut(self, pubsub: PubSub | None, reader: asyncio.Task[None] | None) -> None:
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if pubsub is not None:
            with contextlib.suppress(*_UNAVAILABLE, redis.exceptions.RedisError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    async def close(self) -> None:
        current, self._pubsub = self._pubsub, None
        reader, self._reader = self._reader, None
        if self._confirmed is not None and not self._confirmed.done():
            self._confirmed.set_exception(BrokerUnavailable("the broker is closed"))
        self._fanout.end_all()
        await self._shut(current, reader)


def _rate_decision(allowed: Any, remaining: Any, retry_ms: Any, refused: Any) -> RateDecision:
    """A rate decision from the throttle script's four numbers (its limits counted from 1)."""
    return RateDecision(
        allowed=bool(allowed),
        remaining=int(remaining),
        retry_after=int(retry_ms) / 1000,
        refused_by=int(refused) - 1 if refused else None,
    )
