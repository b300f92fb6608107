"""Limits against abuse that need shared state: rate limits on anonymous requests
(gateway-wide, per network identity, per locator) and a cap on live-event sockets per session.

What each does when the broker (Redis) is down: all fail **closed**, each for its reason.

- Anonymous rate limits: 503. Every request they guard spends a proof of work, which
  needs the broker anyway; letting requests past the limits would let a flood reach the
  database exactly while the gateway is degraded.
- Proof-of-work pricing (`domain/load.py`): 503. A challenge that cannot be priced could
  not be spent either.
- Sockets per session: 503. A socket lives on a broker subscription; without the broker it
  could deliver nothing.
- Login throttle (`domain/login.py`): 503. Guessing passphrases must stay slow.

Body sizes and read deadlines (gateway/web/limits.py) need no shared state and hold
whatever the broker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gateway.broker import Broker, BrokerUnavailable, Lease, RateDecision
from gateway.crypto.encoding import b64encode
from gateway.crypto.hashing import blake2b
from gateway.crypto.pickup import Locator
from gateway.domain.clock import Clock
from gateway.domain.errors import GatewayError, RateLimited
from gateway.domain.keys import derive_subkey
from gateway.domain.network_identity import NetworkIdentity, network_identity

logger = logging.getLogger("gateway.domain.limits")

# Gateway-wide counters are kept per kind of anonymous endpoint, so a flood of logins does
# not use up the reporters' share (and the reverse).
REPORTERS: Final = "reporters"
ACCOUNTS: Final = "accounts"
SCOPES: Final = frozenset({REPORTERS, ACCOUNTS})

MINUTE: Final = 60.0
HOUR: Final = 3600.0


class TooManySockets(RateLimited):
    code = "too_many_sockets"
    default_message = (
        "This session has as many live connections open as it may; close one (another tab "
        "or window) and try again."
    )


class BodyTooSlow(GatewayError):
    code = "request_timeout"
    status = 408
    default_message = "The request body arrived too slowly; send it again."


class EncodedBodyRefused(GatewayError):
    code = "unsupported_media_type"
    status = 415
    default_message = (
        "Request bodies are accepted only as they are (no Content-Encoding): envelopes and "
        "attachments are ciphertext, which does not compress."
    )


@dataclass(frozen=True, slots=True)
class AbusePolicy:
    """How much anonymous traffic the gateway takes (see config/gateway.example.toml)."""

    anonymous_per_minute: int = 1200
    network_per_minute: int = 300
    locator_per_hour: int = 120
    sockets_per_session: int = 4
    # A socket's slot is a broker lock renewed every third of this; a crashed process's
    # slots free themselves after it.
    socket_lease_seconds: float = 60.0


class AnonymousLimits:
    """Rate limits for requests nobody is logged in for, through the broker's sliding log.

    Keys hold only keyed digests: the day's hash of the network address, a keyed hash of
    the locator (not the stored locator hash, so broker keys and database rows cannot be
    joined). All limits are counted in one broker step, and a request any of them refuses
    is counted by none (the broker's rule): hammering does not extend a lock-out beyond one
    window, and a request refused for its pickup code does not use up its network's allowance.
    """

    def __init__(self, broker: Broker, *, pepper: bytes, clock: Clock, policy: AbusePolicy):
        self._broker = broker
        self._pepper = pepper
        self._clock = clock
        self._locator_key = derive_subkey(pepper, "rate/locator")
        self.policy = policy

    def identity(self, address: str | None) -> NetworkIdentity:
        return network_identity(address, pepper=self._pepper, day=self._clock.now().date())

    async def admit(
        self, address: str | None, *, scope: str = REPORTERS, locator: Locator | None = None
    ) -> None:
        """Count one request against every limit at once (one broker round trip).

        `RateLimited` (with the refusing limit's Retry-After) when any limit is reached;
        the request is then counted by none.

        Fails closed: `BrokerUnavailable` propagates (503), see the module docstring.
        """
        checks = self.checks(address, scope=scope, locator=locator)
        self.judge(await self._broker.throttle_all(checks), checks, scope=scope)

    def checks(
        self, address: str | None, *, scope: str = REPORTERS, locator: Locator | None = None
    ) -> list[tuple[str, int, float]]:
        """The broker's (key, limit, window) for each limit a request is counted against."""
        if scope not in SCOPES:
            raise ValueError(f"unknown rate-limit scope {scope!r}")
        policy = self.policy
        checks = [
            (f"limit:network:{self.identity(address).digest}", policy.network_per_minute, MINUTE)
        ]
        if locator is not None:
            checks.append((self._locator_limit_key(locator), policy.locator_per_hour, HOUR))
        checks.append((f"limit:all:{scope}", policy.anonymous_per_minute, MINUTE))
        return checks

    @staticmethod
    def judge(
        decision: RateDecision, checks: Sequence[tuple[str, int, float]], *, scope: str
    ) -> None:
        """Raise `RateLimited` for a refusal of `checks`; nothing for an allowance."""
        if decision.allowed:
            return
        # Which limit (network, locator or all), never its key: that holds a digest.
        index = decision.refused_by
        refused = "unknown" if index is None else checks[index][0].split(":")[1]
        logger.info("rate_limited", extra={"limit": refused, "scope": scope})
        raise RateLimited(
            "Too many requests; try again later.", retry_after=decision.retry_after_header
        )

    def _locator_limit_key(self, locator: Locator) -> str:
        return f"limit:locator:{b64encode(blake2b(locator.value, size=16, key=self._locator_key))}"


class SocketSlot:
    """One claimed place for a live socket; renewed in the background until released."""

    def __init__(self, broker: Broker, lease: Lease, lease_seconds: float) -> None:
        self._broker = broker
        self._lease = lease
        self._lease_seconds = lease_seconds
        self._keeper = asyncio.create_task(self._keep(), name="socket-slot-keeper")

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            try:
                if not await self._broker.extend_lock(self._lease, ttl=self._lease_seconds):
                    return
            except BrokerUnavailable:
                # The slot lapses; the socket itself ends with its subscription.
                logger.warning("socket_slot_lapsed")
                return

    async def release(self) -> None:
        self._keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._keeper
        try:
            await self._broker.release_lock(self._lease)
        except BrokerUnavailable:
            logger.warning("socket_slot_release_failed")  # it expires with its lease


class SocketSlots:
    """At most `sockets_per_session` live-event sockets per session, across every process.

    Each socket holds one of the session's numbered slots (a broker lock with a short
    lease, renewed while the socket is open); when every slot is taken the upgrade is
    refused. Fails closed (`BrokerUnavailable` propagates): see the module docstring.
    """

    def __init__(self, broker: Broker, *, pepper: bytes, policy: AbusePolicy) -> None:
        self._broker = broker
        self._key = derive_subkey(pepper, "socket-slots")
        self.policy = policy

    async def claim(self, session_token: str) -> SocketSlot:
        # A keyed digest of the token: the broker must not hold a usable session secret.
        session = b64encode(blake2b(session_token.encode("utf-8"), size=16, key=self._key))
        lease_seconds = self.policy.socket_lease_seconds
        for index in range(self.policy.sockets_per_session):
            lease = await self._broker.acquire_lock(f"sockets:{session}:{index}", ttl=lease_seconds)
            if lease is not None:
                return SocketSlot(self._broker, lease, lease_seconds)
        raise TooManySockets(retry_after=lease_seconds / 3)


@dataclass(frozen=True, slots=True)
class AbuseLimits:
    """The limiters the web layer calls, bundled in the Hotline."""

    anonymous: AnonymousLimits
    sockets: SocketSlots

    @classmethod
    def build(
        cls, broker: Broker, *, pepper: bytes, clock: Clock, policy: AbusePolicy
    ) -> AbuseLimits:
        return cls(
            anonymous=AnonymousLimits(broker, pepper=pepper, clock=clock, policy=policy),
            sockets=SocketSlots(broker, pepper=pepper, policy=policy),
        )
