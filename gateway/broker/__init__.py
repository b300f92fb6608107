"""The broker: rate limits, single-use tokens, sessions, publish/subscribe, timers and locks.

`open_broker` picks the implementation: Redis when a URL is configured (several
processes), otherwise the in-process broker (the embedded single-process default).
This package is the only place in the gateway that speaks Redis.
"""

from __future__ import annotations

from gateway.broker.interface import (
    Broker,
    BrokerError,
    BrokerUnavailable,
    DueJob,
    Lease,
    Message,
    RateDecision,
    Session,
    Subscription,
    SubscriptionOverflow,
)
from gateway.broker.memory import MemoryBroker
from gateway.broker.redis import RedisBroker, check_key_prefix

__all__ = [
    "Broker",
    "BrokerError",
    "BrokerUnavailable",
    "DueJob",
    "Lease",
    "MemoryBroker",
    "Message",
    "RateDecision",
    "RedisBroker",
    "Session",
    "Subscription",
    "SubscriptionOverflow",
    "open_broker",
]


def open_broker(
    redis_url: str | None,
    *,
    key_prefix: str,
    socket_timeout: float = 2.0,
    connect_timeout: float = 2.0,
    max_connections: int = 64,
    subscriber_max_pending: int = 1000,
    client_name: str | None = "tipline-gateway",
) -> Broker:
    """A Redis broker for `redis_url`, or the in-process broker when it is None.

    Nothing connects yet; call `ping()` to find out whether Redis answers. The key
    prefix is checked in both cases so that a bad configuration fails the same way
    before and after Redis is added.
    """
    check_key_prefix(key_prefix)
    if redis_url is None:
        return MemoryBroker(subscriber_max_pending=subscriber_max_pending)
    return RedisBroker.from_url(
        redis_url,
        key_prefix=key_prefix,
        socket_timeout=socket_timeout,
        connect_timeout=connect_timeout,
        max_connections=max_connections,
        subscriber_max_pending=subscriber_max_pending,
        client_name=client_name,
    )
