"""Limits the web layer enforces: which anonymous requests are admitted (through the domain's
rate limits), how long a body may take to arrive, and which request bodies are read at all.

Slow clients: aiohttp gives a connection `idle_connection_seconds` (its keep-alive timer,
set in the app factory) to complete a request's headers after connecting or after its
previous answer, then closes it. A header that trickles in for that long still ties up a
connection, which is why the reverse proxy in front (deploy/nginx: client_header_timeout
15 s) is the real defence against slowloris; the gateway's own job
is to bound what it reads: JSON bodies must be complete within `body_read_seconds`, and an
attachment stream may pause for at most `upload_idle_seconds` and must average at least
`upload_min_bytes_per_second` once that long has passed. A refusal is `408 request_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

from aiohttp import hdrs, web

from gateway.broker import Broker
from gateway.config import Settings
from gateway.crypto.errors import BadProofOfWork
from gateway.crypto.pickup import Locator
from gateway.domain import admission
from gateway.domain.admission import Paid
from gateway.domain.clock import Clock
from gateway.domain.limits import (
    REPORTERS,
    AbuseLimits,
    AbusePolicy,
    BodyTooSlow,
    EncodedBodyRefused,
)
from gateway.domain.load import DifficultyCurve, LoadPricing
from gateway.web.keys import HOTLINE, SETTINGS
from gateway.web.reporter_headers import proof_from_header

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_IDENTITY_ENCODINGS: Final = frozenset({"", "identity"})


def server_options(settings: Settings) -> dict[str, Any]:
    """aiohttp's connection handler settings (`web.Application(handler_args=...)`)."""
    return {
        # Closes a connection that has not completed a request's headers this long after
        # connecting or after its previous answer (and idle keep-alive connections).
        "keepalive_timeout": float(settings.idle_connection_seconds),
        # Never inflate a request body: see `limits_middleware`.
        "auto_decompress": False,
    }


def pow_pricing(settings: Settings, broker: Broker, clock: Clock) -> LoadPricing:
    curve = DifficultyCurve(
        base=settings.pow_difficulty,
        ceiling=settings.pow_max_difficulty,
        threshold=settings.pow_load_threshold,
    )
    return LoadPricing(broker, curve, clock)


def abuse_limits(settings: Settings, broker: Broker, *, pepper: bytes, clock: Clock) -> AbuseLimits:
    policy = AbusePolicy(
        anonymous_per_minute=settings.anonymous_per_minute,
        network_per_minute=settings.network_per_minute,
        locator_per_hour=settings.locator_per_hour,
        sockets_per_session=settings.sockets_per_session,
    )
    return AbuseLimits.build(broker, pepper=pepper, clock=clock, policy=policy)


def peer_address(request: web.Request) -> str | None:
    """The address of the TCP peer — the proxy, behind one — and never a forwarded-for header.

    Any header naming "the client" is set by whoever sends the request, so it identifies
    nothing; the recommended proxy strips them anyway. The address goes straight into the
    day's keyed hash (domain/network_identity.py) and is kept nowhere.
    """
    return request.remote


async def admit_paying(
    request: web.Request, *, purpose: str, locator: Locator | None = None
) -> Paid:
    """`admit_anonymous` for a request that pays with the proof of work in its
    `X-Tipline-Proof` header: the limits and the proof in one broker step
    (domain/admission.py, which also gives the order of 429 and 403)."""
    try:
        proof = proof_from_header(request)
    except BadProofOfWork:
        await admit_anonymous(request, locator=locator)  # counted, as any bad proof is
        raise
    return await admission.admit_paying(
        request.app[HOTLINE],
        peer_address(request),
        proof=proof,
        purpose=purpose,
        locator=locator,
    )


async def admit_anonymous(
    request: web.Request, *, scope: str = REPORTERS, locator: Locator | None = None
) -> None:
    """Count an anonymous request against the gateway-wide, per-identity (and per-locator)
    limits; 429 with Retry-After when one is reached, 503 when the broker is down."""
    limits = request.app[HOTLINE].abuse.anonymous
    await limits.admit(peer_address(request), scope=scope, locator=locator)


@contextlib.asynccontextmanager
async def body_deadline(request: web.Request) -> AsyncIterator[None]:
    """The JSON body must be read completely within `body_read_seconds`."""
    seconds = request.app[SETTINGS].body_read_seconds
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise BodyTooSlow(f"The request body did not arrive within {seconds} seconds.") from None


async def paced_chunks(request: web.Request, chunk_bytes: int) -> AsyncIterator[bytes]:
    """The body as it streams in, refused (408) when it stalls or crawls.

    A pause longer than `upload_idle_seconds` ends it, and so does an average below
    `upload_min_bytes_per_second` once `upload_idle_seconds` have passed: a client that
    sends one byte just before each timeout cannot hold a connection for days.
    """
    settings = request.app[SETTINGS]
    idle = settings.upload_idle_seconds
    min_rate = settings.upload_min_bytes_per_second
    loop = asyncio.get_running_loop()
    started = loop.time()
    received = 0
    while True:
        try:
            async with asyncio.timeout(idle):
                chunk = await request.content.read(chunk_bytes)
        except TimeoutError:
            raise BodyTooSlow(f"The upload paused for more than {idle} seconds.") from None
        if not chunk:
            return
        received += len(chunk)
        elapsed = loop.time() - started
        if min_rate and elapsed > idle and received < min_rate * elapsed:
            raise BodyTooSlow(
                f"The upload arrives slower than {min_rate} bytes per second on average."
            )
        yield chunk


@web.middleware
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse compressed request bodies before any handler reads them.

    The gateway never decompresses a request (the app turns aiohttp's auto-decompression
    off), so a "zip bomb" costs nothing but is still answered clearly: envelopes and
    attachments are ciphertext and do not compress, and a size limit must mean the bytes
    that arrive.
    """
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if encoding not in _IDENTITY_ENCODINGS:
        raise EncodedBodyRefused
    return await handler(request)
